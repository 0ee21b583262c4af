//! SIP over TLS for the simulator: a test CA made at start (rcgen), a
//! server certificate it signs for the names the simulator answers to, and
//! the PEM files a phone needs to trust it.
//!
//! Nothing here is a real secret: the CA lives as long as the process (its
//! key is never written), so a certificate it signed is trusted only by a
//! phone told to trust this run's CA file.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// How the simulator serves SIP over TLS.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Where to listen (port 0 picks a free one).
    pub bind: SocketAddr,
    /// The names the server certificate is valid for, besides `localhost`
    /// and the listening address.
    pub names: Vec<String>,
    /// Where to write the test CA's certificate (PEM); a file in the
    /// temporary directory when `None`.
    pub ca_out: Option<PathBuf>,
    /// Serve a certificate that expired (2020), to test that phones refuse
    /// it and say so.
    pub expired: bool,
}

/// A test CA's certificate and the server certificate and key it signed,
/// as PEM.
pub struct TestPki {
    /// The CA's certificate: what a phone trusts (`tls_ca_file`).
    pub ca_pem: String,
    /// The server's certificate.
    pub cert_pem: String,
    /// The server's private key (PKCS#8).
    pub key_pem: String,
    /// The SHA-256 of the server certificate's DER, hex: what a phone pins
    /// (`tls_pin_sha256`).
    pub cert_sha256: String,
}

/// Makes a CA and a server certificate valid for `names` (DNS names or IP
/// addresses), with rcgen's default validity, or one that expired at the
/// end of 2020 when `expired`.
pub fn make_pki(names: &[String], expired: bool) -> anyhow::Result<TestPki> {
    use sha2::Digest as _;
    let mut ca = CertificateParams::new(Vec::<String>::new()).context("test CA parameters")?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "bluebean-sim test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().context("test CA key")?;
    let issuer = CertifiedIssuer::self_signed(ca, ca_key).context("test CA certificate")?;
    let mut server = CertificateParams::new(names.to_vec())
        .with_context(|| format!("server certificate names {names:?}"))?;
    server
        .distinguished_name
        .push(DnType::CommonName, "bluebean-sim");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    if expired {
        server.not_before = rcgen::date_time_ymd(2020, 1, 1);
        server.not_after = rcgen::date_time_ymd(2020, 12, 31);
    }
    let key = KeyPair::generate().context("server key")?;
    let cert = server
        .signed_by(&key, &issuer)
        .context("server certificate")?;
    Ok(TestPki {
        ca_pem: issuer.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_sha256: sha2::Sha256::digest(cert.der())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    })
}
