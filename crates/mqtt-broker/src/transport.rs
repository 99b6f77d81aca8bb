//! What a listener puts between its socket and MQTT: TLS (rustls, `certfile` / `keyfile`), a
//! WebSocket (`protocol websockets`), both, or nothing. The connection driver
//! (`connection::serve`) takes any `AsyncRead + AsyncWrite` and never knows which.

use std::path::Path;
use std::sync::Arc;

use mqtt_codec::ReasonCode;
use mqtt_websocket::WsByteStream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer,
};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{version, RootCertStore, ServerConfig, SupportedProtocolVersion};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tracing::warn;

use crate::config::{Tls, TlsVersion};

/// Any byte stream a connection can be served over.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The WebSocket subprotocols accepted, in order of preference: `mqtt` (MQTT 3.1.1 and 5.0)
/// and `mqttv3.1`, as Mosquitto accepts them.
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// Builds the TLS acceptor of a listener from its files. Reads every file now: called at start
/// and again after a configuration reload (SIGHUP), so renewed certificates are picked up.
///
/// Options rustls cannot honour (`ciphers`, `ciphers_tls1.3`, `tls_version tlsv1.1`) are
/// logged as warnings once per build.
pub(crate) fn tls_acceptor(tls: &Tls, port: u16) -> Result<TlsAcceptor, String> {
    let provider = Arc::new(ring::default_provider());
    if let Some(ciphers) = &tls.ciphers {
        warn!(
            "Warning: listener on port {port}: \"ciphers {ciphers}\" is ignored: the TLS library \
             (rustls) uses its own list of safe cipher suites (TLS 1.2: ECDHE with AES-GCM or \
             ChaCha20-Poly1305)."
        );
    }
    if let Some(ciphers) = &tls.ciphers_tls13 {
        warn!(
            "Warning: listener on port {port}: \"ciphers_tls1.3 {ciphers}\" is ignored: rustls \
             offers TLS_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256 and \
             TLS_CHACHA20_POLY1305_SHA256."
        );
    }
    static BOTH: [&SupportedProtocolVersion; 2] = [&version::TLS13, &version::TLS12];
    static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&version::TLS13];
    let versions: &[&SupportedProtocolVersion] = match tls.tls_version {
        Some(TlsVersion::Tls1_3) => &TLS13_ONLY,
        Some(TlsVersion::Tls1_1) => {
            warn!(
                "Warning: listener on port {port}: TLS 1.1 is not supported; clients need TLS \
                 1.2 or 1.3."
            );
            &BOTH
        }
        Some(TlsVersion::Tls1_2) | None => &BOTH,
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS versions: {e}"))?;

    let mut roots = RootCertStore::empty();
    if let Some(cafile) = &tls.cafile {
        let certs = load_certificates(cafile, "cafile")?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!(
                "Unable to load CA certificates from {}: no usable certificate",
                cafile.display()
            ));
        }
    }
    if let Some(capath) = &tls.capath {
        let entries = std::fs::read_dir(capath)
            .map_err(|e| format!("Unable to read capath {}: {e}", capath.display()))?;
        for entry in entries.flatten() {
            if let Ok(iter) = CertificateDer::pem_file_iter(entry.path()) {
                roots.add_parsable_certificates(iter.flatten());
            }
        }
    }
    let verifier = if roots.is_empty() {
        if tls.require_certificate {
            return Err(
                "require_certificate is true but no cafile or capath is given \
                 (or they hold no certificate)"
                    .to_owned(),
            );
        }
        None
    } else {
        let mut verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
        if let Some(crlfile) = &tls.crlfile {
            let crls: Vec<CertificateRevocationListDer<'static>> =
                CertificateRevocationListDer::pem_file_iter(crlfile)
                    .and_then(|it| it.collect::<Result<_, _>>())
                    .map_err(|e| format!("Unable to load crlfile {}: {e}", crlfile.display()))?;
            verifier = verifier.with_crls(crls);
        }
        if !tls.require_certificate {
            // A certificate is asked for and checked when given, but not required.
            verifier = verifier.allow_unauthenticated();
        }
        Some(
            verifier
                .build()
                .map_err(|e| format!("client certificate verifier: {e}"))?,
        )
    };
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let certs = load_certificates(&tls.certfile, "certfile")?;
    let key = PrivateKeyDer::from_pem_file(&tls.keyfile).map_err(|e| {
        format!(
            "Unable to load server key file \"{}\": {e}",
            tls.keyfile.display()
        )
    })?;
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("server certificate and key: {e}"))?;
    // TLS-level session resumption and ALPN are not used by MQTT clients in general.
    config.alpn_protocols = Vec::new();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn load_certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("Unable to load {what} \"{}\": {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "Unable to load {what} \"{}\": no certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// The username a client certificate gives with `use_identity_as_username` (its subject's CN)
/// or `use_subject_as_username` (its whole subject, RFC 2253 form as Mosquitto prints it); the
/// refusal Mosquitto sends otherwise: no certificate → bad user name or password (3.1.1 code
/// 4), no CN → not authorised (code 5).
pub(crate) fn certificate_username(
    cert: Option<&CertificateDer<'_>>,
    whole_subject: bool,
) -> Result<String, ReasonCode> {
    let cert = cert.ok_or(ReasonCode::BadUserNameOrPassword)?;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert).map_err(|_| ReasonCode::NotAuthorized)?;
    let subject = parsed.subject();
    if whole_subject {
        return Ok(rfc2253(subject));
    }
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    cn.ok_or(ReasonCode::NotAuthorized)
}

/// `X509_NAME_print_ex(..., XN_FLAG_RFC2253)`: the last RDN first, `,` between RDNs, `+`
/// between the attributes of one RDN, short attribute names.
fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> String {
    use x509_parser::objects::{oid2abbrev, oid_registry};
    let registry = oid_registry();
    let mut rdns = Vec::new();
    for rdn in name.iter() {
        let attributes: Vec<String> = rdn
            .iter()
            .map(|attr| {
                let key = oid2abbrev(attr.attr_type(), registry)
                    .map(str::to_owned)
                    .unwrap_or_else(|_| attr.attr_type().to_id_string());
                let value = attr.as_str().map(escape_rfc2253).unwrap_or_else(|_| {
                    let hex: String = attr
                        .attr_value()
                        .data
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    format!("#{hex}")
                });
                format!("{key}={value}")
            })
            .collect();
        rdns.push(attributes.join("+"));
    }
    rdns.reverse();
    rdns.join(",")
}

fn escape_rfc2253(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Completes the WebSocket upgrade of a new connection, as a server: the client must offer
/// the `mqtt` (or `mqttv3.1`) subprotocol when it offers any; a request offering none is
/// served as `mqtt`, as libwebsockets does for Mosquitto.
// The callback type is tungstenite's (`ErrorResponse` is an HTTP response).
#[allow(clippy::result_large_err)]
/// `max_message`: the largest WebSocket message (and frame) accepted; `None` keeps
/// tungstenite's default (64 MiB messages, 16 MiB frames).
pub(crate) async fn websocket_accept<S>(
    stream: S,
    max_message: Option<usize>,
) -> Result<WsByteStream<S>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let callback = |request: &Request, mut response: Response| {
        let offered: Vec<String> = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        if offered.is_empty() {
            return Ok(response);
        }
        match SUBPROTOCOLS
            .iter()
            .find(|p| offered.iter().any(|o| o.eq_ignore_ascii_case(p)))
        {
            Some(chosen) => {
                response
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(chosen));
                Ok(response)
            }
            None => {
                let mut refusal = ErrorResponse::new(Some(format!(
                    "unsupported WebSocket subprotocol(s) {}: use mqtt",
                    offered.join(", ")
                )));
                *refusal.status_mut() = StatusCode::BAD_REQUEST;
                Err(refusal)
            }
        }
    };
    let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
    if let Some(max) = max_message {
        // Room for the WebSocket framing of a packet of the largest size.
        let max = max.saturating_add(16);
        config = config.max_message_size(Some(max)).max_frame_size(Some(max));
    }
    let ws = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config))
        .await
        .map_err(|e| format!("WebSocket handshake failed: {e}"))?;
    Ok(WsByteStream::server(ws))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn websocket_messages_above_the_limit_are_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let (client_end, server_end) = tokio::io::duplex(1 << 20);
        let server = tokio::spawn(async move {
            let mut stream = websocket_accept(server_end, Some(1000)).await?;
            let mut received = Vec::new();
            let mut buf = vec![0u8; 4096];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) => return Ok(received),
                    Ok(n) => received.extend_from_slice(buf.get(..n).unwrap_or_default()),
                    Err(e) => return Err(format!("{e} after {} bytes", received.len())),
                }
            }
        });
        let mut request = "ws://localhost/mqtt".into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        let (ws, _) = tokio_tungstenite::client_async(request, client_end)
            .await
            .unwrap();
        let mut client = WsByteStream::client(ws);
        client.write_all(&[1u8; 500]).await.unwrap();
        // Each write is one WebSocket message: this one is over the limit.
        let _ = client.write_all(&[2u8; 5000]).await;
        let _ = client.flush().await;
        let outcome = server.await.unwrap();
        let error = outcome.expect_err("a 5000-byte message was accepted");
        assert!(error.ends_with("after 500 bytes"), "{error}");
    }

    #[test]
    fn rfc2253_values_are_escaped() {
        assert_eq!(escape_rfc2253("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape_rfc2253(" x "), "\\ x\\ ");
        assert_eq!(escape_rfc2253("#1"), "\\#1");
        assert_eq!(escape_rfc2253("plain"), "plain");
    }

    #[test]
    fn no_certificate_means_bad_username() {
        assert_eq!(
            certificate_username(None, false),
            Err(ReasonCode::BadUserNameOrPassword)
        );
    }
}
