//! The hook into rsipstack: a UDP socket wrapper that runs [`check_datagram_with`]
//! on every datagram before the stack's receive loop sees it.
//!
//! rsipstack's `MessageInspector` and `TransportEventInspector` only ever see
//! messages that its parser has already accepted; what it rejects is dropped
//! inside `UdpConnection::serve_loop`, before either hook. The one place that
//! sees raw bytes first is the socket itself: `UdpConnection::from_socket`
//! takes any `Arc<dyn rsipstack::platform::net::UdpSocket>`, and its
//! `recv_from` is what the receive loop calls. So:
//!
//! ```no_run
//! # async fn wire() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use bb_sip::inbound::GuardedUdpSocket;
//! use rsipstack::platform::CancellationToken;
//! use rsipstack::transport::{TransportLayer, udp::UdpConnection};
//!
//! let cancel = CancellationToken::new();
//! let socket = tokio::net::UdpSocket::bind("0.0.0.0:5060").await?;
//! let guarded = GuardedUdpSocket::new(Arc::new(socket))
//!     .with_observer(Arc::new(|from, verdict| eprintln!("{from}: {verdict:?}")));
//! let conn = UdpConnection::from_socket(Arc::new(guarded), None, Some(cancel.child_token())).await?;
//! let transport_layer = TransportLayer::new(cancel.child_token());
//! transport_layer.add_transport(conn.into());
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use super::digest_spelling::{Way, respell};

use rsipstack::platform::net::UdpSocket;

use super::{Policy, Verdict, check_datagram_with};

/// The receive buffer [`bind_udp`] asks for: 4 MiB, room for a few thousand
/// INVITEs, so a burst of simultaneous calls is queued by the kernel instead of
/// being dropped while the receive loop is busy (the Linux default of about
/// 200 KiB holds a few hundred).
pub const RECV_BUFFER: usize = 4 << 20;

/// Binds a non-blocking UDP socket on `addr` with a receive buffer of
/// `recv_buffer` octets (the kernel may grant less: Linux caps it at
/// `net.core.rmem_max` unless the process may override it). Returns the
/// socket, ready for `tokio::net::UdpSocket::from_std`, and the size the
/// kernel reports.
///
/// A refused buffer size is not an error (the socket works, only with the
/// default buffer); a failed bind is.
pub fn bind_udp(
    addr: SocketAddr,
    recv_buffer: usize,
) -> std::io::Result<(std::net::UdpSocket, usize)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(recv_buffer);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let granted = socket.recv_buffer_size().unwrap_or(0);
    Ok((socket.into(), granted))
}

/// Called with the source address and the verdict for every datagram that is
/// not [`Verdict::Pass`], so the driver can log it its own way.
pub type VerdictObserver = Arc<dyn Fn(SocketAddr, &Verdict) + Send + Sync>;

/// Called with every datagram the stack sent, right after the inner socket
/// took it (the bytes as the stack wrote them), so the driver can tell when a
/// response is on the wire (see [`ringing_call_id`]). It runs on the sending
/// task: keep it short.
pub type SentObserver = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// The Call-ID of an outgoing `180 Ringing` response, `None` for any other
/// datagram. Costs a prefix comparison for everything but a 180; for a 180 it
/// reads header lines up to the Call-ID (full or compact `i:` form).
pub fn ringing_call_id(datagram: &[u8]) -> Option<&str> {
    let rest = datagram.strip_prefix(b"SIP/2.0 180 ")?;
    let head_end = rest
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(rest.len());
    let head = std::str::from_utf8(rest.get(..head_end)?).ok()?;
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (super::scan::Header::from_name(name.trim().as_bytes())
            == Some(super::scan::Header::CallId))
        .then(|| value.trim())
        .filter(|v| !v.is_empty())
    })
}

/// A UDP socket for rsipstack that answers, repairs or drops datagrams before
/// the stack reads them.
///
/// `recv_from` returns only datagrams that got [`Verdict::Pass`] (unchanged) or
/// [`Verdict::Rewrite`] (the repaired bytes, when they fit the stack's buffer;
/// otherwise the datagram is dropped). For [`Verdict::Reply`] it sends the
/// response to the source address through the inner socket and reads on; for
/// [`Verdict::Drop`] it just reads on. Both ways it respells the SHA-256
/// digest token between RFC 7616 and rsipstack ([`super::digest_spelling`]);
/// otherwise `send_to` and `local_addr` go straight to the inner socket.
pub struct GuardedUdpSocket {
    inner: Arc<dyn UdpSocket>,
    policy: Policy,
    observer: Option<VerdictObserver>,
    sent: Option<SentObserver>,
    /// Answer STUN Binding requests (a server: the simulator).
    stun: bool,
}

impl GuardedUdpSocket {
    /// Wraps a socket (for example an `Arc<tokio::net::UdpSocket>`) with
    /// [`Policy::default`] and no observer.
    pub fn new(inner: Arc<dyn UdpSocket>) -> Self {
        GuardedUdpSocket {
            inner,
            policy: Policy::default(),
            observer: None,
            sent: None,
            stun: false,
        }
    }

    /// Uses `policy` instead of the default.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Reports every verdict other than [`Verdict::Pass`] to `observer`.
    pub fn with_observer(mut self, observer: VerdictObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Shows `observer` every datagram the stack sent, after the inner
    /// socket took it (not our own answers to malformed requests).
    pub fn with_sent_observer(mut self, observer: SentObserver) -> Self {
        self.sent = Some(observer);
        self
    }

    /// Answers STUN Binding requests (RFC 5389) on this socket itself, with
    /// the address they came from: a server that phones may ask where
    /// they are seen from. The stack never sees them.
    pub fn answering_stun(mut self) -> Self {
        self.stun = true;
        self
    }
}

#[async_trait::async_trait]
impl UdpSocket for GuardedUdpSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (len, from) = self.inner.recv_from(buf).await?;
            if self.stun
                && let Some(answer) = buf
                    .get(..len)
                    .and_then(|d| crate::stun::binding_response(d, from))
            {
                let _ = self.inner.send_to(&answer, from).await;
                continue;
            }
            let verdict = check_datagram_with(buf.get(..len).unwrap_or_default(), &self.policy);
            if let (Some(observe), false) = (&self.observer, verdict == Verdict::Pass) {
                observe(from, &verdict);
            }
            match verdict {
                Verdict::Pass => {
                    let respelled = buf
                        .get(..len)
                        .and_then(|d| respell(d, Way::ToStack))
                        .filter(|b| b.len() <= buf.len());
                    if let Some(bytes) = respelled
                        && let Some(dest) = buf.get_mut(..bytes.len())
                    {
                        dest.copy_from_slice(&bytes);
                        return Ok((bytes.len(), from));
                    }
                    return Ok((len, from));
                }
                Verdict::Rewrite(rewrite) => {
                    if let Some(dest) = buf.get_mut(..rewrite.bytes.len()) {
                        dest.copy_from_slice(&rewrite.bytes);
                        return Ok((rewrite.bytes.len(), from));
                    }
                }
                Verdict::Reply(reply) => {
                    // A failed send is like a lost datagram: the client
                    // retransmits and gets the same answer.
                    let _ = self.inner.send_to(&reply.bytes, from).await;
                }
                Verdict::Drop(_) => {}
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        let sent = match respell(buf, Way::ToWire) {
            // The stack is told its own bytes went out.
            Some(bytes) => self.inner.send_to(&bytes, addr).await.map(|_| buf.len()),
            None => self.inner.send_to(buf, addr).await,
        };
        if let (Ok(_), Some(observe)) = (&sent, &self.sent) {
            observe(buf);
        }
        sent
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        self.inner.local_addr()
    }
}
