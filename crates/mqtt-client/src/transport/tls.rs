//! TLS with rustls: the configuration [`TlsOptions`] describes, Mosquitto's `--insecure`, and
//! the handshake.

use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    SupportedProtocolVersion,
};
use tokio_rustls::TlsConnector;

use crate::error::ClientError;
use crate::options::{TlsOptions, TlsVersion};

impl TlsOptions {
    /// The rustls configuration these options describe (or [`TlsOptions::config`] when set),
    /// loading the CA, certificate and key files now.
    ///
    /// [`crate::connect`] calls this each time it opens a connection; call it yourself to
    /// check the files early, or to load them once and reuse the result with
    /// [`TlsOptions::from_config`].
    ///
    /// # Errors
    ///
    /// [`ClientError::Tls`] when a file cannot be read or holds no usable certificate or key,
    /// when no CA is trusted at all, or when the key does not match the certificate.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, ClientError> {
        if let Some(config) = &self.config {
            return Ok(Arc::clone(config));
        }
        let provider = Arc::new(ring::default_provider());
        let roots = Arc::new(self.trusted_roots()?);
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(|e| tls_error(format!("cannot set up certificate verification: {e}")))?;
        let versions: Vec<&'static SupportedProtocolVersion> = if self.versions.is_empty() {
            rustls::DEFAULT_VERSIONS.to_vec()
        } else {
            self.versions
                .iter()
                .map(|v| match v {
                    TlsVersion::Tls12 => &rustls::version::TLS12,
                    TlsVersion::Tls13 => &rustls::version::TLS13,
                })
                .collect()
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| tls_error(format!("unusable TLS versions: {e}")))?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(SkipNameCheck(verifier)))
        } else {
            builder.with_webpki_verifier(verifier)
        };
        let mut config = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let chain = load_certificates(cert, "client certificate")?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    tls_error(format!(
                        "cannot load the private key {}: {e}",
                        key.display()
                    ))
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| tls_error(format!("unusable client certificate or key: {e}")))?
            }
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) => return Err(tls_error("a client certificate needs its key")),
            (None, Some(_)) => return Err(tls_error("a client key needs its certificate")),
        };
        config.alpn_protocols = self.alpn.clone();
        Ok(Arc::new(config))
    }

    /// The CA certificates to trust.
    fn trusted_roots(&self) -> Result<RootCertStore, ClientError> {
        let mut roots = RootCertStore::empty();
        if let Some(file) = &self.ca_file {
            for cert in load_certificates(file, "CA file")? {
                roots.add(cert).map_err(|e| {
                    tls_error(format!("invalid CA certificate in {}: {e}", file.display()))
                })?;
            }
        }
        if let Some(dir) = &self.ca_dir {
            let entries = std::fs::read_dir(dir).map_err(|e| {
                tls_error(format!(
                    "cannot read the CA directory {}: {e}",
                    dir.display()
                ))
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                // Follows symbolic links, such as OpenSSL's hashed names.
                if !path.is_file() {
                    continue;
                }
                // Keys, CRLs and other files hold no certificate: skip them.
                if let Ok(certs) = CertificateDer::pem_file_iter(&path) {
                    roots.add_parsable_certificates(certs.flatten());
                }
            }
        }
        if self.use_os_certs {
            let native = rustls_native_certs::load_native_certs();
            if native.certs.is_empty() {
                if let Some(e) = native.errors.first() {
                    tracing::warn!("cannot load the operating system's certificates: {e}");
                }
            }
            roots.add_parsable_certificates(native.certs);
        }
        if roots.is_empty() {
            return Err(tls_error(
                match (&self.ca_file, &self.ca_dir, self.use_os_certs) {
                    (None, Some(dir), false) => {
                        format!("no CA certificate found in {}", dir.display())
                    }
                    (None, None, true) => {
                        "no CA certificate found in the operating system".to_owned()
                    }
                    _ => "no trusted CA certificate: set a CA file, a CA directory or use the \
                      operating system's certificates"
                        .to_owned(),
                },
            ));
        }
        Ok(roots)
    }
}

/// Every certificate of a PEM file; at least one.
fn load_certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error(format!("cannot load the {what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(tls_error(format!(
            "no PEM certificate in the {what} {}",
            path.display()
        )));
    }
    Ok(certs)
}

fn tls_error(message: impl Into<String>) -> ClientError {
    ClientError::Tls(message.into())
}

/// Runs the handshake over `stream`, checking the server's certificate against `host` unless
/// the options name another server.
pub(super) async fn connect<S>(
    options: &TlsOptions,
    host: &str,
    stream: S,
) -> Result<TlsStream<S>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = options.client_config()?;
    let name = options.server_name.as_deref().unwrap_or(host);
    let server_name = ServerName::try_from(name.to_owned())
        .map_err(|_| tls_error(format!("{name:?} is not a valid server name")))?;
    TlsConnector::from(config)
        .connect(server_name, stream)
        .await
        .map_err(|e| match rustls_error(&e) {
            Some(inner) => tls_error(format!("handshake with {name} failed: {inner}")),
            None if e.kind() == io::ErrorKind::UnexpectedEof => {
                tls_error(format!("{name} closed the connection during the handshake"))
            }
            None => tls_error(format!("handshake with {name} failed: {e}")),
        })
}

/// The rustls error an I/O error of the TLS stream carries, if any.
fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Rewords a TLS failure after the handshake (such as the server's alert refusing a missing
/// client certificate) as a lost connection that says why; other errors pass unchanged.
pub(super) fn describe_io_error(e: io::Error) -> io::Error {
    match rustls_error(&e) {
        Some(inner) => io::Error::new(io::ErrorKind::ConnectionAborted, format!("TLS: {inner}")),
        None => e,
    }
}

/// Mosquitto's `--insecure`: the usual WebPKI verification that tolerates a certificate that
/// does not name the server, and nothing else (the chain must still lead to a trusted CA).
#[derive(Debug)]
struct SkipNameCheck(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for SkipNameCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // WebPKI checks the name last, after the chain, validity period and revocation.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
