//! Test certificates made with rcgen, written as PEM files into a scratch directory.
//!
//! [`Pki::new`] makes one fixed set, enough for every TLS test of the workspace: a CA
//! ([`CA_NAME`]), server certificates (valid, for another name, expired, signed by an
//! unrelated CA), a client certificate, and the unrelated CA itself.

use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

use crate::TempDir;

/// The common name (the whole subject) of the CA that signs the certificates of a [`Pki`].
pub const CA_NAME: &str = "MQTT Test CA";

/// A certificate and its private key, in PEM files.
#[derive(Debug, Clone)]
pub struct CertKey {
    /// The certificate.
    pub cert: PathBuf,
    /// Its private key (PKCS#8).
    pub key: PathBuf,
}

/// Certificates and keys in PEM files (`<name>.pem`, `<name>.key`) in a scratch directory,
/// removed when the `Pki` is dropped.
#[derive(Debug)]
pub struct Pki {
    dir: TempDir,
    /// The CA certificate ([`CA_NAME`]), `ca.pem`.
    pub ca: PathBuf,
    /// The CA certificate's PEM text (to put in CA directories).
    pub ca_pem: String,
    /// A CA (`Unrelated CA`) that signed only `untrusted`, `other-ca.pem`.
    pub other_ca: PathBuf,
    /// Server certificate for `localhost` and 127.0.0.1 (CN `localhost`), signed by `ca`.
    pub server: CertKey,
    /// Server certificate for `elsewhere.invalid` only, signed by `ca`.
    pub elsewhere: CertKey,
    /// Server certificate for `localhost` and 127.0.0.1, signed by `ca`, expired in 2001.
    pub expired: CertKey,
    /// Server certificate for `localhost` and 127.0.0.1, signed by `other_ca`.
    pub untrusted: CertKey,
    /// Client certificate, subject `O=Test Org, CN=alice`, signed by `ca`.
    pub client: CertKey,
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).expect("CA certificate parameters");
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert.pem(), Issuer::new(params, key))
}

/// A certificate signed by `issuer` for `subject` and `alt_names`, and its key, in PEM.
fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    subject: &[(DnType, &str)],
    alt_names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    expired: bool,
) -> (String, String) {
    let names: Vec<String> = alt_names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("certificate parameters");
    params.distinguished_name = DistinguishedName::new();
    for (t, v) in subject {
        params.distinguished_name.push(t.clone(), *v);
    }
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    if expired {
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("certificate");
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    /// Makes the certificates and writes them into a fresh scratch directory whose name
    /// contains `label`.
    pub fn new(label: &str) -> Pki {
        let dir = TempDir::new(label);
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            path
        };
        let pair = |name: &str, (cert, key): (String, String)| CertKey {
            cert: write(&format!("{name}.pem"), &cert),
            key: write(&format!("{name}.key"), &key),
        };
        let (ca_pem, issuer) = ca(CA_NAME);
        let (other_pem, other_issuer) = ca("Unrelated CA");
        let server_auth = || ExtendedKeyUsagePurpose::ServerAuth;
        let cn = |n| [(DnType::CommonName, n)];
        let localhost = ["localhost", "127.0.0.1"];
        let server = pair(
            "server",
            leaf(&issuer, &cn("localhost"), &localhost, server_auth(), false),
        );
        let elsewhere = pair(
            "elsewhere",
            leaf(
                &issuer,
                &cn("elsewhere.invalid"),
                &["elsewhere.invalid"],
                server_auth(),
                false,
            ),
        );
        let expired = pair(
            "expired",
            leaf(&issuer, &cn("localhost"), &localhost, server_auth(), true),
        );
        let untrusted = pair(
            "untrusted",
            leaf(
                &other_issuer,
                &cn("localhost"),
                &localhost,
                server_auth(),
                false,
            ),
        );
        let client = pair(
            "client",
            leaf(
                &issuer,
                &[
                    (DnType::OrganizationName, "Test Org"),
                    (DnType::CommonName, "alice"),
                ],
                &[],
                ExtendedKeyUsagePurpose::ClientAuth,
                false,
            ),
        );
        Pki {
            ca: write("ca.pem", &ca_pem),
            ca_pem,
            other_ca: write("other-ca.pem", &other_pem),
            server,
            elsewhere,
            expired,
            untrusted,
            client,
            dir,
        }
    }

    /// The directory holding the files, also a scratch directory for the test.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
