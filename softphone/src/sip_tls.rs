//! SIP over TLS, the client side: the handshake is ours (rustls through
//! tokio-rustls), the connection then belongs to rsipstack.
//!
//! Why not rsipstack's own dialling: it trusts only a PEM list it is given
//! (no system store), cannot pin a certificate, and its failures reach the
//! registration as "no answer". Here the server's certificate is checked
//! against the system's trust store plus `[tls] ca_file`, or against
//! `[tls] pin_sha256` alone; the name checked (and sent as SNI) is
//! `[tls] server_name` or the server's host as written; and a refusal says
//! why in words (expired, wrong host, unknown CA, pin mismatch).

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::transport::SipAddr;
use rsipstack::transport::tls::TlsConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_util::sync::CancellationToken;

use crate::config::TlsSettings;

/// How long the TCP connect and the handshake may take together.
const HANDSHAKE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Dials the server over TLS with the settings' trust.
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    /// What the settings said, for messages.
    name_text: String,
    pinned: bool,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl TlsClient {
    /// Builds the client: the system's trust store (read once, here) plus
    /// the settings' CA file, or the pin.
    pub fn new(settings: &TlsSettings) -> Result<TlsClient, String> {
        let name = ServerName::try_from(settings.server_name.clone()).map_err(|_| {
            format!(
                "'{}' is not a name a certificate can carry",
                settings.server_name
            )
        })?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("the TLS library refused its own defaults: {e}"))?;
        let config = match settings.pin_sha256 {
            Some(pin) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinVerifier {
                    pin,
                    provider: provider(),
                }))
                .with_no_client_auth(),
            None => {
                let mut roots = RootCertStore::empty();
                let native = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(native.certs);
                for e in native.errors {
                    tracing::debug!("tls: a system CA certificate could not be read: {e}");
                }
                for cert in &settings.extra_roots {
                    roots.add(cert.clone()).map_err(|e| {
                        format!("the CA certificate of [tls] ca_file cannot be used: {e}")
                    })?;
                }
                tracing::debug!(
                    system = added,
                    ca_file = settings.extra_roots.len(),
                    "tls: trusted CA certificates"
                );
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        Ok(TlsClient {
            config: Arc::new(config),
            name: name.to_owned(),
            name_text: settings.server_name.clone(),
            pinned: settings.pin_sha256.is_some(),
        })
    }

    /// Connects to `server` and completes the handshake; the connection
    /// is named `remote` for rsipstack and ends with `cancel` (which
    /// rsipstack also cancels when the connection closes). With `idle`,
    /// the kernel's TCP keep-alive probes a connection quiet that long
    /// (a dead peer then ends it). Also returns a watch on the bytes the
    /// connection receives, where the system tells (the keep-alive's pong
    /// check).
    pub async fn connect(
        &self,
        server: SocketAddr,
        remote: SipAddr,
        cancel: CancellationToken,
        idle: Option<std::time::Duration>,
    ) -> Result<(TlsConnection, Option<crate::platform::InboundWatch>), String> {
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let mut watch = None;
        let dial = async {
            let tcp = tokio::net::TcpStream::connect(server)
                .await
                .map_err(|e| format!("cannot connect to {server} over TCP: {e}"))?;
            if let Some(idle) = idle {
                let probes = socket2::TcpKeepalive::new()
                    .with_time(idle)
                    .with_interval(std::time::Duration::from_secs(5));
                if let Err(e) = socket2::SockRef::from(&tcp).set_tcp_keepalive(&probes) {
                    tracing::debug!("sip: no TCP keep-alive on the TLS connection: {e}");
                }
            }
            watch = crate::platform::InboundWatch::new(&tcp);
            connector
                .connect(self.name.clone(), tcp)
                .await
                .map_err(|e| self.explain(server, &e))
        };
        let stream = tokio::time::timeout(HANDSHAKE_LIMIT, dial)
            .await
            .map_err(|_| {
                format!(
                    "the TLS handshake with {server} did not finish within {} s",
                    HANDSHAKE_LIMIT.as_secs()
                )
            })??;
        let conn = TlsConnection::from_client_stream(stream, remote, Some(cancel))
            .await
            .map_err(|e| format!("the TLS connection to {server} cannot be used: {e}"))?;
        Ok((conn, watch))
    }

    /// A handshake failure in words: what is wrong and what to do.
    fn explain(&self, server: SocketAddr, e: &std::io::Error) -> String {
        let name = &self.name_text;
        let tls = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let why = match tls {
            Some(rustls::Error::InvalidCertificate(c)) => match c {
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "its certificate has expired (the server must renew it)".to_string()
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "its certificate is not valid yet (check this computer's clock)".to_string()
                }
                CertificateError::NotValidForName => format!(
                    "its certificate is not valid for {name} (wrong host?); set [tls] server_name \
                     to a name it carries"
                ),
                CertificateError::NotValidForNameContext { presented, .. } => format!(
                    "its certificate is not valid for {name} (wrong host? it names {}); set \
                     [tls] server_name to one of those",
                    presented
                        .iter()
                        .map(|p| presented_name(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                CertificateError::UnknownIssuer => {
                    "its certificate is signed by a CA this computer does not trust (unknown CA); \
                     for a private PBX set [tls] ca_file to its CA certificate (PEM), or \
                     [tls] pin_sha256 to its certificate's SHA-256"
                        .to_string()
                }
                CertificateError::Revoked => "its certificate has been revoked".to_string(),
                CertificateError::ApplicationVerificationFailure if self.pinned => {
                    "its certificate is not the pinned one ([tls] pin_sha256)".to_string()
                }
                other => format!("its certificate was refused: {other:?}"),
            },
            Some(rustls::Error::AlertReceived(alert)) => {
                format!("the server ended the handshake ({alert:?})")
            }
            Some(other) => format!("the handshake failed: {other}"),
            None => format!("the handshake failed: {e}"),
        };
        format!("TLS to {server} ({name}): {why}")
    }
}

/// `DnsName("pbx.example")` → `pbx.example` (rustls's debug form of a
/// certificate's names).
fn presented_name(p: &str) -> &str {
    match (p.find('('), p.rfind(')')) {
        (Some(a), Some(b)) if a < b => p[a + 1..b].trim_matches('"'),
        _ => p,
    }
}

/// Accepts exactly one server certificate: the pinned one.
#[derive(Debug)]
struct PinVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use sha2::Digest as _;
        let got: [u8; 32] = sha2::Sha256::digest(end_entity.as_ref()).into();
        // Not secret, but compared whole anyway.
        if got
            .iter()
            .zip(self.pin.iter())
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            == 0
        {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
