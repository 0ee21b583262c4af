//! The softphone's SIP driver: one rsipstack endpoint, the registration loop,
//! and one dialog per call leg. It turns wire events into
//! [`phone::Input`](crate::phone::Input)s and carries out the phone's
//! [`Action`](crate::phone::Action)s; it decides nothing itself.
//!
//! Each leg has its own dialog-state channel, so every event arrives already
//! tagged with the leg's [`CallKey`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bb_media::codec::Role;
use bb_sip::headers::{addr_user, first_value, make, uri_user};
use bb_sip::sdes::Refusal;
use bb_sip::sdp::{AudioSdp, Direction};
use bb_sip::session_timer::{self, SessionExpires, UasAnswer};
use rsipstack::EndpointBuilder;
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::dialog::registration::{Registration, backoff_interval, refresh_interval};
use rsipstack::sip::{Auth, HostWithPort, Method, Param, Scheme, StatusCode, Uri};
use rsipstack::transaction::endpoint::{EndpointInner, EndpointOption};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::connection::SipConnection;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::{SipAddr, TransportLayer, udp::UdpConnection};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::Transport;
use crate::media::{self, AudioSettings, MediaNotice, MediaSession, MediaStats, RtpPair};
use crate::phone::{CallKey, EndCause, IncomingFacts, Input};

/// Registration state, as `status` and the event stream show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegState {
    /// Not yet tried.
    Unregistered,
    /// Registered for this many seconds.
    Registered {
        /// Granted expiry, seconds.
        expires: u32,
    },
    /// The last attempt failed; retrying after `retry_in`.
    Failed {
        /// Why (status line or transport error).
        reason: String,
        /// Seconds until the next try.
        retry_in: u64,
    },
}

/// What the driver reports to the application loop.
#[derive(Debug)]
pub enum SipEvent {
    /// A call-model input.
    Call(Input),
    /// Registration changed.
    Registration(RegState),
    /// A request was turned away by the policy (`[sip] accept_calls_from`,
    /// `accept_refer`); reported at most once a minute per source and method.
    Refused(crate::admission::Refused),
    /// A REFER inside a call was refused (policy or target).
    ReferRefused {
        /// The call it came on.
        key: CallKey,
        /// The target as written (network text: escape before printing).
        target: String,
        /// Why (ours).
        why: String,
    },
}

mod leg_media;
use leg_media::LegMedia;

/// The session timer agreed for a call (RFC 4028), when the peer offered one.
#[derive(Debug, Clone, Copy)]
struct SessionPlan {
    /// The interval and refresher, as sent in our 2xx or read from the peer's.
    se: SessionExpires,
    /// We send the refreshes (else we expect them).
    we_refresh: bool,
    /// Our 2xx says `Require: timer` (the peer supports timers).
    require_timer: bool,
    /// Refresh with UPDATE (the peer allows it), else with re-INVITE.
    use_update: bool,
}

impl SessionPlan {
    /// The headers of a 2xx or a refresh that state the session timer.
    fn headers(&self) -> Vec<rsipstack::sip::Header> {
        let mut h = vec![make("Session-Expires", self.se.to_string())];
        if self.require_timer {
            h.push(make("Require", "timer"));
        }
        h
    }
}

/// A `Warning` header (RFC 3261 20.43, code 399) giving an SRTP refusal's
/// reason to the peer (the text is ours; it never holds a key).
fn srtp_warning(why: &Refusal) -> rsipstack::sip::Header {
    let text: String = why
        .to_string()
        .chars()
        .map(|c| if c == '"' || c == '\\' { '\'' } else { c })
        .collect();
    make("Warning", format!("399 bbclient \"{text}\""))
}

/// Whether any `Supported` header lists `timer`.
fn supports_timer(headers: &rsipstack::sip::Headers) -> bool {
    headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("Supported"))
        .any(|h| session_timer::lists_timer(h.value()))
}

/// Whether the `Allow` header lists UPDATE.
fn allows_update(headers: &rsipstack::sip::Headers) -> bool {
    headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("Allow"))
        .any(|h| {
            h.value()
                .split(',')
                .any(|m| m.trim().eq_ignore_ascii_case("UPDATE"))
        })
}

struct Leg {
    dialog: InviteDialog,
    media: LegMedia,
    /// The session timer, once agreed.
    session: Option<SessionPlan>,
    /// When the session was last refreshed (answered, or a re-INVITE or
    /// UPDATE either way).
    refreshed: Arc<Mutex<Instant>>,
    /// The initial SDP answer (incoming legs).
    answer: Option<Vec<u8>>,
    /// We hold the peer (our last offer was sendonly).
    holding: bool,
}

/// What the inbound guard did with datagrams the stack never saw whole.
#[derive(Debug, Default)]
pub struct InboundCounts {
    /// Requests answered by us (400, 501, 505, …).
    pub answered: AtomicU64,
    /// Datagrams handed to the stack repaired.
    pub repaired: AtomicU64,
    /// Datagrams dropped without an answer.
    pub dropped: AtomicU64,
}

impl InboundCounts {
    fn observer(self: Arc<Self>) -> bb_sip::inbound::VerdictObserver {
        Arc::new(move |from, verdict| {
            use bb_sip::inbound::Verdict;
            match verdict {
                Verdict::Pass => {}
                Verdict::Rewrite(r) => {
                    let n = self.repaired.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::debug!(%from, repaired = n, "sip: repaired a datagram: {}", r.why);
                }
                Verdict::Reply(r) => {
                    let n = self.answered.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::info!(
                        %from,
                        answered = n,
                        "sip: answered a malformed request {}: {}",
                        r.status,
                        r.defect
                    );
                }
                Verdict::Drop(why) => {
                    let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::info!(%from, dropped = n, "sip: dropped a datagram: {why}");
                }
            }
        })
    }

    /// (answered, repaired, dropped) so far.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.answered.load(Ordering::Relaxed),
            self.repaired.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }
}

/// The account the driver registers and calls with. Saved settings may
/// replace it while the softphone runs ([`SipUa::set_account`]); no
/// `Debug`, it holds the password.
#[derive(Clone)]
pub struct SipAccount {
    /// The SIP server.
    pub server: SocketAddr,
    /// Where requests are sent: the outbound proxy, else the server.
    pub next_hop: SocketAddr,
    /// The extension.
    pub user: String,
    /// The digest credential.
    pub credential: Credential,
    /// The registration expiry asked for, seconds.
    pub expires: u32,
}

impl SipAccount {
    /// The account of validated settings.
    pub fn from_settings(settings: &crate::config::Settings) -> SipAccount {
        SipAccount {
            server: settings.server,
            next_hop: settings.outbound_proxy.unwrap_or(settings.server),
            user: settings.raw.account.user.clone(),
            credential: Credential {
                username: settings.raw.account.user.clone(),
                password: settings.raw.account.password.clone(),
                realm: None,
                auth_username: None,
            },
            expires: settings.raw.account.expires,
        }
    }
}

/// The running SIP side of the softphone.
#[derive(Clone)]
pub struct SipUa {
    endpoint: Arc<EndpointInner>,
    dialog_layer: Arc<DialogLayer>,
    /// Our SIP address for the chosen transport (what Contact names on a
    /// flat network).
    local: SocketAddr,
    /// Where the server sees us when a NAT is in the way: learned from the
    /// `received`/`rport` of the REGISTER's response (RFC 3581). Contact
    /// and the SDP's address name it then.
    public: Arc<Mutex<Option<SocketAddr>>>,
    transport: Transport,
    /// Over TLS: our client and the live connection to the next hop.
    tls: Option<Arc<TlsLink>>,
    /// `[sip] stun_server`: asked where each call's RTP socket is seen.
    stun: Option<SocketAddr>,
    /// The account in force (new calls and the registration use it).
    account: Arc<Mutex<SipAccount>>,
    /// Woken when `account` was replaced: the registration loop
    /// unregisters the old binding and registers the new one.
    account_changed: Arc<tokio::sync::Notify>,
    legs: Arc<Mutex<HashMap<CallKey, Leg>>>,
    next_key: Arc<Mutex<CallKey>>,
    events: mpsc::UnboundedSender<SipEvent>,
    /// The validated `[audio]` settings (codecs, devices).
    audio: Arc<AudioSettings>,
    /// DTMF received and media figures, for whoever subscribes.
    notices: broadcast::Sender<MediaNotice>,
    /// The softphone's shutdown; media sessions stop with it.
    cancel: CancellationToken,
    /// What the inbound guard answered or dropped.
    inbound: Arc<InboundCounts>,
    /// Incoming calls over UDP whose 180 has not gone out yet, by Call-ID:
    /// each token is cancelled once the socket has taken the call's 180
    /// (see [`SipUa::ring_sent`]).
    ring_sent: RingWaiters,
    /// Who may ring the phone and move a call (read by the SIP socket).
    admission: Arc<std::sync::RwLock<crate::admission::Admission>>,
    /// RTP/RTCP pairs bound ahead of the calls that will use them.
    rtp_spares: Arc<Mutex<Vec<RtpPair>>>,
    /// Whether a task is binding spares now.
    rtp_topping_up: Arc<AtomicBool>,
}

/// The TLS connection to the next hop: dialled by us (see
/// [`crate::sip_tls`]), then served by rsipstack, which carries every
/// request and response of ours on it and the server's requests to us.
struct TlsLink {
    client: crate::sip_tls::TlsClient,
    /// The live connection's token (rsipstack cancels it when the
    /// connection closes).
    live: Mutex<Option<CancellationToken>>,
    /// The bytes the live connection received (the pong check), where the
    /// system tells; dropped with the connection.
    watch: Mutex<Option<Arc<crate::platform::InboundWatch>>>,
    /// `[sip] keepalive_s`, also the TCP keep-alive's idle time (0: off).
    keepalive: Duration,
}

/// How long a keep-alive ping waits for its pong on a connection before
/// the connection counts as dead (RFC 5626 section 4.4.1's 10 s).
const PONG_WAIT: Duration = Duration::from_secs(10);

/// RFC 5626 section 4.4.1's keep-alive ping.
const KEEPALIVE: &[u8] = b"\r\n\r\n";

/// How many RTP/RTCP pairs are kept bound ahead of need.
const RTP_SPARES: usize = 4;

/// Tokens for "this call's 180 is on the wire", by Call-ID.
type RingWaiters = Arc<Mutex<HashMap<String, CancellationToken>>>;

/// Fires the waiter of the call whose 180 Ringing `datagram` is (called by
/// the SIP socket after each send; everything but a 180 costs a prefix
/// comparison).
fn note_sent(waiters: &RingWaiters, datagram: &[u8]) {
    if let Some(call_id) = bb_sip::inbound::ringing_call_id(datagram)
        && let Some(token) = lock(waiters).remove(call_id)
    {
        token.cancel();
    }
}

/// The peer of a request that came over TCP (over UDP the socket knows it).
fn tcp_peer(tx: &Transaction) -> Option<SocketAddr> {
    match tx.connection.as_ref()? {
        rsipstack::transport::SipConnection::Tcp(c) => {
            use rsipstack::transport::stream::StreamConnection as _;
            c.get_remote_addr().get_socketaddr().ok()
        }
        rsipstack::transport::SipConnection::Tls(c) => {
            use rsipstack::transport::stream::StreamConnection as _;
            c.get_remote_addr().get_socketaddr().ok()
        }
        _ => None,
    }
}

/// Asks the STUN server `server` from `socket` where a NAT maps it: two
/// tries, 150 ms apart; `None` without an answer. Other datagrams that
/// arrive meanwhile (none yet: the call has no media) are dropped.
async fn stun_mapping(socket: &tokio::net::UdpSocket, server: SocketAddr) -> Option<SocketAddr> {
    let txid: bb_sip::stun::TransactionId = rand::random();
    let request = bb_sip::stun::binding_request(&txid);
    let mut buf = [0u8; 512];
    for _ in 0..2 {
        socket.send_to(&request, server).await.ok()?;
        let wait = tokio::time::sleep(Duration::from_millis(150));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                r = socket.recv_from(&mut buf) => {
                    let Ok((n, from)) = r else { break };
                    if from == server
                        && let Some(mapped) = buf.get(..n).and_then(|d| bb_sip::stun::mapped_address(d, &txid))
                    {
                        return Some(mapped);
                    }
                }
            }
        }
    }
    None
}

/// How long the REGISTER with Expires: 0 at exit may take (the app loop
/// waits 3 s for the driver's `Unregistered`).
const UNREGISTER_LIMIT: Duration = Duration::from_secs(2);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn uri(user: Option<&str>, at: SocketAddr) -> Uri {
    Uri {
        scheme: Some(Scheme::Sip),
        auth: user.map(|u| Auth {
            user: u.to_string(),
            password: None,
        }),
        host_with_port: HostWithPort::from(at),
        params: vec![],
        headers: vec![],
    }
}

/// The local address that routes to `server` (no packet is sent).
pub fn route_to(server: SocketAddr) -> std::io::Result<std::net::IpAddr> {
    let any: std::net::IpAddr = if server.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let probe = std::net::UdpSocket::bind(SocketAddr::new(any, 0))?;
    probe.connect(server)?;
    Ok(probe.local_addr()?.ip())
}

/// Whether a request inside a known dialog carries a lower CSeq than the last
/// request seen from the peer (ACK and CANCEL reuse the INVITE's number).
fn is_stale(dialog: &rsipstack::dialog::dialog::Dialog, tx: &Transaction) -> bool {
    use rsipstack::sip::prelude::HeadersExt as _;
    if matches!(tx.original.method, Method::Ack | Method::Cancel) {
        return false;
    }
    let rsipstack::dialog::dialog::Dialog::Invite(d) = dialog else {
        return false;
    };
    let last = d.snapshot().remote_cseq;
    let Ok(cseq) = tx.original.cseq_header().and_then(|c| c.seq()) else {
        return false;
    };
    last > 0 && cseq < last
}

/// Whether the request's To header carries a tag (it claims a dialog).
fn has_to_tag(tx: &Transaction) -> bool {
    first_value(&tx.original.headers, "To").is_some_and(|to| {
        to.split(';')
            .skip(1)
            .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="))
    })
}

/// Percent-encodes a Replaces value for use inside a Refer-To URI header.
fn escape_uri_header(value: &str) -> String {
    let mut s = String::with_capacity(value.len() * 2);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The status code of a `message/sipfrag` body (`SIP/2.0 200 OK`).
fn sipfrag_code(body: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next()?;
    let mut parts = line.split_whitespace();
    (parts.next()? == "SIP/2.0").then_some(())?;
    parts.next()?.parse().ok()
}

impl SipUa {
    /// Binds, starts the endpoint and the registration loop.
    pub async fn start(
        settings: &crate::config::Settings,
        events: mpsc::UnboundedSender<SipEvent>,
        cancel: CancellationToken,
    ) -> anyhow::Result<SipUa> {
        // A missing sound device: refuse to start (fallback = "error") or
        // say once that calls will be silent there.
        let audio = settings.audio.clone();
        let warnings = tokio::task::spawn_blocking({
            let audio = audio.clone();
            move || media::check_devices(&audio)
        })
        .await
        .map_err(|e| anyhow::anyhow!("the audio device check failed: {e}"))?
        .map_err(|reason| anyhow::anyhow!("{reason}"))?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        let bind = match settings.local_addr {
            Some(a) => a,
            None => SocketAddr::new(
                route_to(settings.server).with_context(|| {
                    format!(
                        "no local address routes to the SIP server {}",
                        settings.server
                    )
                })?,
                0,
            ),
        };
        // The stack (endpoint and transports) has its own token, cancelled
        // only after the registration loop has unregistered: cancelling it
        // with the softphone would close the socket before the REGISTER with
        // Expires: 0 (and its digest challenge) could be answered.
        let stack = CancellationToken::new();
        {
            let (cancel, stack) = (cancel.clone(), stack.clone());
            tokio::spawn(async move {
                cancel.cancelled().await;
                // A backstop: the registration loop's unregister is bounded
                // by UNREGISTER_LIMIT and cancels the stack itself.
                tokio::time::sleep(UNREGISTER_LIMIT + Duration::from_secs(1)).await;
                stack.cancel();
            });
        }
        let transport_layer = TransportLayer::new(stack.child_token());
        // Every datagram goes through our inbound guard before rsipstack
        // reads it: malformed requests whose Via, From, To, Call-ID and CSeq
        // are readable get our 400 (or 501/505/416/420/415/406), the rest are
        // dropped and counted (rsipstack alone would drop them all silently).
        let (std_sock, granted) = bb_sip::inbound::bind_udp(bind, bb_sip::inbound::RECV_BUFFER)
            .with_context(|| format!("cannot bind the SIP socket on {bind}"))?;
        if granted < bb_sip::inbound::RECV_BUFFER {
            tracing::debug!(
                granted,
                "the SIP socket's receive buffer is smaller than asked for (net.core.rmem_max)"
            );
        }
        let sock = tokio::net::UdpSocket::from_std(std_sock)
            .with_context(|| format!("cannot use the SIP socket on {bind}"))?;
        let inbound = Arc::new(InboundCounts::default());
        let ring_sent: RingWaiters = Arc::default();
        let waiters = ring_sent.clone();
        let guarded = bb_sip::inbound::GuardedUdpSocket::new(Arc::new(sock))
            .with_observer(inbound.clone().observer())
            .with_sent_observer(Arc::new(move |datagram: &[u8]| {
                note_sent(&waiters, datagram)
            }));
        // Then the policy: who may ring the phone and move a call.
        let admission = Arc::new(std::sync::RwLock::new(settings.admission.clone()));
        let refused_to = events.clone();
        let admitting = crate::admission::AdmittingSocket::new(
            Arc::new(guarded),
            admission.clone(),
            Arc::new(move |r| {
                let _ = refused_to.send(SipEvent::Refused(r));
            }),
        );
        let conn = UdpConnection::from_socket(Arc::new(admitting), None, Some(stack.child_token()))
            .await
            .with_context(|| format!("cannot bind the SIP socket on {bind}"))?;
        let mut local = conn
            .get_addr()
            .get_socketaddr()
            .context("bound SIP address")?;
        transport_layer.add_transport(conn.into());
        if settings.transport == Transport::Tcp {
            // A free TCP port of our own (the listener binds it when served).
            let port = std::net::TcpListener::bind(SocketAddr::new(local.ip(), 0))
                .and_then(|l| l.local_addr())
                .with_context(|| format!("cannot find a free TCP port on {}", local.ip()))?
                .port();
            local = SocketAddr::new(local.ip(), port);
            let listener = TcpListenerConnection::new(local, None)
                .await
                .with_context(|| format!("cannot listen for SIP over TCP on {local}"))?;
            transport_layer.inner.add_listener(listener.into());
        }
        let tls = match &settings.tls {
            Some(t) => Some(Arc::new(TlsLink {
                client: crate::sip_tls::TlsClient::new(t).map_err(|e| anyhow::anyhow!("{e}"))?,
                live: Mutex::new(None),
                watch: Mutex::new(None),
                keepalive: Duration::from_secs(settings.raw.sip.keepalive_s),
            })),
            None => None,
        };
        let t1 = settings.raw.sip.t1_ms;
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(stack.clone())
            .with_transport_layer(transport_layer)
            .with_user_agent(concat!("bbclient/", env!("CARGO_PKG_VERSION")))
            .with_option(EndpointOption {
                callid_suffix: Some("bbclient".to_string()),
                t1: Duration::from_millis(t1),
                t1x64: Duration::from_millis(t1 * 64),
                ..Default::default()
            })
            .build();
        let mut incoming = endpoint
            .incoming_transactions()
            .context("incoming transactions")?;
        let inner = endpoint.inner.clone();
        let dialog_layer = Arc::new(DialogLayer::new(inner.clone()));
        tokio::spawn(async move { endpoint.serve().await });
        let ua = SipUa {
            endpoint: inner,
            dialog_layer,
            local,
            public: Arc::default(),
            transport: settings.transport,
            tls,
            stun: settings.stun_server,
            account: Arc::new(Mutex::new(SipAccount::from_settings(settings))),
            account_changed: Arc::default(),
            legs: Arc::new(Mutex::new(HashMap::new())),
            next_key: Arc::new(Mutex::new(0)),
            events,
            audio: Arc::new(audio),
            notices: broadcast::channel(64).0,
            cancel: cancel.clone(),
            inbound,
            ring_sent,
            admission,
            rtp_spares: Arc::default(),
            rtp_topping_up: Arc::default(),
        };
        ua.top_up_rtp_spares();
        let me = ua.clone();
        tokio::spawn(async move {
            while let Some(tx) = incoming.recv().await {
                let me = me.clone();
                tokio::spawn(async move { me.handle(tx).await });
            }
        });
        let keepalive = settings.raw.sip.keepalive_s;
        if keepalive > 0 {
            tokio::spawn(
                ua.clone()
                    .keepalive_loop(Duration::from_secs(keepalive), stack.clone()),
            );
        }
        tokio::spawn(ua.clone().registration_loop(cancel, stack));
        Ok(ua)
    }

    /// The account in force.
    fn account(&self) -> SipAccount {
        lock(&self.account).clone()
    }

    /// Replaces the account (saved settings, WEB-7): calls placed from now
    /// on use it, and the registration loop unregisters the old binding
    /// and registers the new one at once. Calls in progress keep their
    /// dialogs.
    pub fn set_account(&self, account: SipAccount) {
        *lock(&self.account) = account;
        self.account_changed.notify_one();
    }

    /// Replaces who may ring the phone and move a call (saved settings).
    pub fn set_admission(&self, admission: crate::admission::Admission) {
        if let Ok(mut a) = self.admission.write() {
            *a = admission;
        }
    }

    /// Whether our bound SIP socket reaches `server` (the address the
    /// system would send from is ours). A new server that does not is
    /// only reached after a restart (see [`crate::reload`]).
    pub fn reaches(&self, server: SocketAddr) -> bool {
        self.local.ip().is_unspecified() || route_to(server).is_ok_and(|ip| ip == self.local.ip())
    }

    /// A token that is cancelled once the 180 Ringing of the incoming call
    /// `call_id` has been handed to the SIP socket, or once no 180 will come
    /// (the call ended or was refused first). The hooks wait for it, so the
    /// 180 is on the wire before any CRM request or command starts.
    /// `None` when there is nothing to wait for: the 180 is out already, the
    /// INVITE did not come over UDP (only the UDP socket reports what it
    /// sent), or the call is unknown.
    pub fn ring_sent(&self, call_id: &str) -> Option<CancellationToken> {
        lock(&self.ring_sent).get(call_id).cloned()
    }

    /// The call ended or was refused before its 180 went out: whoever waits
    /// for the 180 need not wait any longer.
    fn no_ring_coming(&self, call_id: &str) {
        if let Some(token) = lock(&self.ring_sent).remove(call_id) {
            token.cancel();
        }
    }

    /// The bound SIP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The address Contact names: the public one the registrar saw, when
    /// a NAT is in the way, else the bound one.
    pub fn contact_addr(&self) -> SocketAddr {
        lock(&self.public).unwrap_or(self.local)
    }

    /// The address the SDP names for a call's RTP bound at `rtp`: the
    /// public IP when a NAT is in the way (its port is a guess the far end's
    /// symmetric RTP corrects), else the bound one.
    fn media_addr(&self, rtp: SocketAddr) -> SocketAddr {
        match *lock(&self.public) {
            Some(public) => SocketAddr::new(public.ip(), rtp.port()),
            None => rtp,
        }
    }

    /// Takes in the address the registrar saw the REGISTER come from
    /// (`received`/`rport` of its response). Over UDP any difference from
    /// the bound address is a NAT; over TCP the port is the connection's
    /// own, so only another IP is. Returns the address Contact must name.
    fn learn_public(&self, seen: Option<SocketAddr>) -> SocketAddr {
        let public = seen.filter(|seen| match self.transport {
            Transport::Udp => *seen != self.local,
            Transport::Tcp => seen.ip() != self.local.ip(),
            // No listener: Contact names the connection, as the server sees it.
            Transport::Tls => true,
        });
        let mut cur = lock(&self.public);
        if *cur != public {
            match public {
                // Over TLS Contact always names the connection; only
                // another IP than ours says a NAT is in the way.
                Some(p) if self.transport == Transport::Tls && p.ip() == self.local.ip() => {
                    tracing::info!(
                        "sip: the server sees our TLS connection at {p}; Contact names it (no NAT)"
                    )
                }
                Some(p) => tracing::info!(
                    "sip: the server sees us at {p} (a NAT is in the way); Contact and SDP name it"
                ),
                None => tracing::info!(
                    "sip: the server sees us at our own address {}; no NAT",
                    self.local
                ),
            }
            *cur = public;
        }
        public.unwrap_or(self.local)
    }

    /// Sends a keep-alive (RFC 5626 section 4.4.1's double CRLF; the
    /// server answers a single CRLF) to the next hop every `every`, on the
    /// SIP socket over UDP and on the connection over TCP, so that a NAT
    /// keeps our binding and the server's requests still reach us.
    async fn keepalive_loop(self, every: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let dest = self.destination(&self.account());
            if let Some(link) = &self.tls
                && lock(&link.live).as_ref().is_none_or(|t| t.is_cancelled())
            {
                continue; // no connection: the registration loop dials again
            }
            // Over TLS, what the connection has received before the ping:
            // unchanged after PONG_WAIT, the pong never came.
            let watched = self.tls.as_ref().and_then(|link| {
                let w = lock(&link.watch).clone()?;
                let token = lock(&link.live).clone()?;
                let before = w.bytes_received()?;
                Some((w, token, before))
            });
            let sent = match self.endpoint.transport_layer.lookup(&dest, None).await {
                Ok((SipConnection::Udp(c), _)) => c.send_raw(KEEPALIVE, &dest).await,
                Ok((SipConnection::Tcp(c), _)) => {
                    use rsipstack::transport::stream::StreamConnection as _;
                    c.send_raw(KEEPALIVE).await
                }
                Ok((SipConnection::Tls(c), _)) => {
                    use rsipstack::transport::stream::StreamConnection as _;
                    c.send_raw(KEEPALIVE).await
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => tracing::trace!(to = %dest, "sip: keep-alive sent"),
                Err(e) => tracing::debug!(to = %dest, error = %e, "sip: keep-alive not sent"),
            }
            if let Some((watch, token, before)) = watched {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = token.cancelled() => continue,
                    _ = tokio::time::sleep(PONG_WAIT) => {}
                }
                if watch.bytes_received() == Some(before) {
                    tracing::warn!(
                        "sip: no answer to the keep-alive on the TLS connection to {} within {} s; \
                         the connection is dead, dialling again",
                        dest.addr,
                        PONG_WAIT.as_secs()
                    );
                    // rsipstack closes it; the registration loop dials again.
                    token.cancel();
                }
            }
        }
    }

    /// What the inbound guard answered, repaired or dropped so far.
    pub fn inbound_counts(&self) -> &InboundCounts {
        &self.inbound
    }

    /// DTMF digits received on any call, and each call's media figures when
    /// it ends.
    pub fn media_notices(&self) -> broadcast::Receiver<MediaNotice> {
        self.notices.subscribe()
    }

    /// The media figures of every call whose media runs.
    pub fn media_stats(&self) -> Vec<(CallKey, MediaStats)> {
        let legs = lock(&self.legs);
        let mut v: Vec<_> = legs
            .iter()
            .filter_map(|(k, l)| l.media.session.as_ref().map(|s| (*k, s.stats())))
            .collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    /// Sends DTMF `digits` on call `key` as RFC 4733 events. Whether they
    /// went out is logged: the peer may not have negotiated telephone-events.
    pub fn send_dtmf(&self, key: CallKey, digits: &str) {
        match lock(&self.legs).get(&key).map(|l| l.media.session.as_ref()) {
            Some(Some(session)) => session.send_dtmf(digits),
            Some(None) => {
                tracing::warn!("media: DTMF '{digits}' not sent: the call has no media yet")
            }
            None => tracing::warn!("media: DTMF '{digits}' not sent: no such call"),
        }
    }

    /// Mutes or unmutes the microphone of call `key`.
    pub fn mute(&self, key: CallKey, muted: bool) {
        match lock(&self.legs).get(&key).map(|l| l.media.session.as_ref()) {
            Some(Some(session)) => session.set_muted(muted),
            Some(None) => tracing::warn!("media: (un)mute not applied: the call has no media yet"),
            None => tracing::warn!("media: (un)mute not applied: no such call"),
        }
    }

    /// Mixes a tone into what the operator hears on call `key` (call
    /// waiting), or stops it.
    pub fn set_tone(&self, key: CallKey, tone: Option<bb_media::cadence::Cadence>) {
        if let Some(Some(session)) = lock(&self.legs).get(&key).map(|l| l.media.session.as_ref()) {
            session.set_tone(tone);
        }
    }

    /// The packetisation time we ask for, in ms.
    fn ptime(&self) -> u32 {
        self.audio.ptime.millis()
    }

    /// Starts the leg's media, or updates it after an SDP change.
    fn media_changed(&self, key: CallKey, leg: &mut Leg) {
        let Some(params) = leg.media.params(&self.audio, leg.holding) else {
            return;
        };
        match &leg.media.session {
            Some(session) => session.update(params),
            None => {
                let pair = leg.media.pair.clone();
                // No Call-ID or number in media logs: the leg's own key.
                let label = crate::phone::call_label(key);
                let call = media::CallRef {
                    key,
                    call_id: leg.dialog.id().call_id.clone(),
                    label,
                };
                leg.media.session = Some(MediaSession::start(
                    call,
                    pair,
                    params,
                    (*self.audio).clone(),
                    Some(self.notices.clone()),
                    self.cancel.child_token(),
                ));
            }
        }
    }

    /// A `sip:` URI on our transport (adds `;transport=tcp` or `tls`).
    fn uri_on_transport(&self, user: Option<&str>, at: SocketAddr) -> Uri {
        let mut u = uri(user, at);
        match self.transport {
            Transport::Udp => {}
            Transport::Tcp => u
                .params
                .push(Param::Transport(rsipstack::sip::Transport::Tcp)),
            Transport::Tls => u
                .params
                .push(Param::Transport(rsipstack::sip::Transport::Tls)),
        }
        u
    }

    /// Over TLS, a live connection to the next hop: the one we have, or a
    /// new one (dialled, checked, handed to rsipstack). `Ok(true)` when it
    /// is new. Errors say why in words. Nothing to do on UDP and TCP.
    async fn ensure_connected(&self, account: &SipAccount) -> Result<bool, String> {
        let Some(link) = &self.tls else {
            return Ok(false);
        };
        if lock(&link.live).as_ref().is_some_and(|t| !t.is_cancelled()) {
            return Ok(false);
        }
        let remote = self.destination(account);
        let token = self.cancel.child_token();
        let started = Instant::now();
        let idle = (!link.keepalive.is_zero()).then(|| link.keepalive.max(PONG_WAIT));
        let (conn, watch) = link
            .client
            .connect(account.next_hop, remote, token.clone(), idle)
            .await?;
        // The watch holds a duplicate of the socket: it goes when the
        // connection goes, so the socket closes with it.
        let watch = watch.map(Arc::new);
        *lock(&link.watch) = watch.clone();
        if let Some(w) = watch {
            let (link, ended) = (link.clone(), token.clone());
            tokio::spawn(async move {
                ended.cancelled().await;
                let mut slot = lock(&link.watch);
                if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &w)) {
                    *slot = None;
                }
            });
        }
        tracing::info!(
            "sip: TLS connection to {} established in {} ms",
            account.next_hop,
            started.elapsed().as_millis()
        );
        self.endpoint
            .transport_layer
            .add_connection(SipConnection::Tls(conn));
        *lock(&link.live) = Some(token);
        Ok(true)
    }

    /// Resolves when the TLS connection closes (never without one).
    async fn connection_lost(&self) {
        let token = self.tls.as_ref().and_then(|l| lock(&l.live).clone());
        match token {
            Some(t) => t.cancelled().await,
            None => std::future::pending().await,
        }
    }

    /// Where to send a request.
    fn destination(&self, account: &SipAccount) -> SipAddr {
        let mut d = SipAddr::from(account.next_hop);
        d.r#type = Some(match self.transport {
            Transport::Udp => rsipstack::sip::Transport::Udp,
            Transport::Tcp => rsipstack::sip::Transport::Tcp,
            Transport::Tls => rsipstack::sip::Transport::Tls,
        });
        d
    }

    fn send(&self, input: Input) {
        let _ = self.events.send(SipEvent::Call(input));
    }

    /// A fresh registration (new Call-ID) for `account`.
    fn new_registration(&self, account: &SipAccount) -> Registration {
        let mut reg = Registration::new(self.endpoint.clone(), Some(account.credential.clone()));
        if account.next_hop != account.server {
            reg.outbound_proxy = Some(account.next_hop);
        }
        reg.contact = Some(self.registered_contact(account));
        reg
    }

    /// The Contact a REGISTER names (the public address once known).
    fn registered_contact(&self, account: &SipAccount) -> rsipstack::sip::typed::Contact {
        rsipstack::sip::typed::Contact {
            display_name: None,
            uri: self.uri_on_transport(Some(&account.user), self.contact_addr()),
            params: vec![],
        }
    }

    /// After a 200 to a REGISTER: learns where the server saw it come from
    /// and says whether the binding just made names another address (then
    /// the caller registers again at once, with the right Contact).
    fn contact_moved(&self, reg: &mut Registration, account: &SipAccount) -> bool {
        let seen = reg
            .discovered_public_address()
            .and_then(|h| SocketAddr::try_from(h).ok());
        let want = self.learn_public(seen);
        let sent = reg
            .contact
            .as_ref()
            .and_then(|c| SocketAddr::try_from(c.uri.host_with_port.clone()).ok());
        let moved = match (sent, self.transport) {
            (Some(sent), Transport::Udp | Transport::Tls) => sent != want,
            // rsipstack names the connection's port after a challenge.
            (Some(sent), Transport::Tcp) => sent.ip() != want.ip(),
            (None, _) => true,
        };
        if moved {
            reg.contact = Some(self.registered_contact(account));
        }
        moved
    }

    /// Removes `account`'s binding (REGISTER with Expires: 0), bounded by
    /// [`UNREGISTER_LIMIT`]; `why` names the occasion in warnings.
    async fn unregister(&self, reg: &mut Registration, account: &SipAccount, why: &str) {
        let server_uri = self.uri_on_transport(None, account.server);
        match tokio::time::timeout(UNREGISTER_LIMIT, reg.register(server_uri, Some(0))).await {
            Ok(Ok(resp)) if resp.status_code == StatusCode::OK => {}
            Ok(Ok(resp)) => tracing::warn!(
                "unregistering {why}: server answered {} {}",
                u16::from(resp.status_code.clone()),
                bb_cti::redact::log_safe(resp.reason_phrase().unwrap_or_default())
            ),
            Ok(Err(e)) => tracing::warn!("unregistering {why} failed: {e}"),
            Err(_) => tracing::warn!(
                "unregistering {why}: no answer from {} within {} s",
                account.server,
                UNREGISTER_LIMIT.as_secs()
            ),
        }
    }

    async fn registration_loop(self, cancel: CancellationToken, stack: CancellationToken) {
        let mut account = self.account();
        let mut reg = self.new_registration(&account);
        let mut failures = 0u32;
        let mut registered = false;
        // Registrations repeated at once because the public address moved.
        let mut moves = 0u32;
        loop {
            let server = account.server;
            let server_uri = self.uri_on_transport(None, server);
            let attempt = match self.ensure_connected(&account).await {
                Ok(_) => Ok(reg.register(server_uri, Some(account.expires)).await),
                Err(why) => Err(why),
            };
            let wait = match attempt {
                Ok(Ok(resp)) if resp.status_code == StatusCode::OK => {
                    failures = 0;
                    registered = true;
                    let granted = reg.expires();
                    let _ = self
                        .events
                        .send(SipEvent::Registration(RegState::Registered {
                            expires: granted,
                        }));
                    // The NAT's address (or port) is not the one we
                    // registered: register again at once, or the server's
                    // INVITEs go where no one listens. Bounded, in case the
                    // address flaps.
                    if self.contact_moved(&mut reg, &account) && moves < 3 {
                        moves += 1;
                        tracing::info!(
                            "sip: registering again at once with Contact {}",
                            self.contact_addr()
                        );
                        continue;
                    }
                    moves = 0;
                    refresh_interval(granted)
                }
                outcome => {
                    let reason = match outcome {
                        Err(why) => why,
                        Ok(Ok(resp)) => format!(
                            "server answered {} {}",
                            u16::from(resp.status_code.clone()),
                            bb_cti::redact::log_safe(resp.reason_phrase().unwrap_or_default())
                        ),
                        Ok(Err(e)) => format!("no answer from {server}: {e}"),
                    };
                    let wait = backoff_interval(failures);
                    failures += 1;
                    let _ = self.events.send(SipEvent::Registration(RegState::Failed {
                        reason,
                        retry_in: wait.as_secs(),
                    }));
                    // A new registration (new Call-ID) after a failure: the
                    // server may have restarted and forgotten us.
                    reg = self.new_registration(&account);
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.account_changed.notified() => {
                    // Saved settings changed the account: the old binding
                    // goes first, then the new account registers at once.
                    if registered {
                        self.unregister(&mut reg, &account, "the old account").await;
                        registered = false;
                        let _ = self
                            .events
                            .send(SipEvent::Registration(RegState::Unregistered));
                    }
                    account = self.account();
                    reg = self.new_registration(&account);
                    failures = 0;
                }
                _ = self.connection_lost(), if registered => {
                    // The server's requests came on that connection: a
                    // new one, and a registration on it, at once (with
                    // backoff if dialling fails).
                    tracing::warn!("sip: the TLS connection to {} closed; connecting again", account.next_hop);
                    let _ = self.events.send(SipEvent::Registration(RegState::Failed {
                        reason: "the TLS connection to the server closed".into(),
                        retry_in: 0,
                    }));
                    reg = self.new_registration(&account);
                }
                _ = cancel.cancelled() => break,
            }
        }
        // Unregister on exit if we ever registered (a server that never
        // answered would only make shutdown wait); bounded so that shutdown
        // never hangs. The stack stops afterwards.
        if registered {
            self.unregister(&mut reg, &account, "at exit").await;
        }
        stack.cancel();
        let _ = self
            .events
            .send(SipEvent::Registration(RegState::Unregistered));
    }

    async fn handle(&self, mut tx: Transaction) {
        let method = tx.original.method;
        // Over UDP the socket applied the policy already; over TCP the
        // connection names the peer.
        if let Some(source) = tcp_peer(&tx) {
            let refusal =
                self.admission.read().ok().and_then(|a| {
                    a.judge_request(&method.to_string(), has_to_tag(&tx), source.ip())
                });
            if let Some(refusal) = refusal {
                let _ = tx.reply(StatusCode::Forbidden).await;
                let _ = self
                    .events
                    .send(SipEvent::Refused(crate::admission::Refused {
                        source,
                        refusal,
                    }));
                return;
            }
        }
        let result = match method {
            Method::Options => tx.reply(StatusCode::OK).await,
            Method::Ack => Ok(()),
            _ => {
                if let Some(mut dialog) = self.dialog_layer.match_dialog(&tx) {
                    if is_stale(&dialog, &tx) {
                        // RFC 3261 12.2.2: a lower CSeq than the last one seen is
                        // out of order and gets 500 (rsipstack drops it silently).
                        tx.reply(StatusCode::ServerInternalError).await
                    } else {
                        dialog.handle(&mut tx).await
                    }
                } else if has_to_tag(&tx) {
                    // In-dialog request for a dialog we do not know.
                    tx.reply(StatusCode::CallTransactionDoesNotExist).await
                } else if method == Method::Invite {
                    self.incoming_invite(tx).await;
                    Ok(())
                } else if method == Method::Cancel {
                    // A CANCEL whose INVITE we never saw (the stack answers the others).
                    tx.reply(StatusCode::CallTransactionDoesNotExist).await
                } else {
                    tx.reply(StatusCode::MethodNotAllowed).await
                }
            }
        };
        if let Err(e) = result {
            tracing::warn!(%method, error = %e, "answering a request failed");
        }
    }

    fn new_driver_key(&self) -> CallKey {
        let mut n = lock(&self.next_key);
        *n += 1;
        *n
    }

    /// An RTP/RTCP pair for a new call: a spare one bound beforehand if
    /// there is one (binding takes several socket calls, on the way to the
    /// 180 of an incoming call), else bound now; either way the spares are
    /// topped up again in the background.
    async fn rtp_socket(&self) -> std::io::Result<(RtpPair, SocketAddr)> {
        let spare = lock(&self.rtp_spares).pop();
        let pair = match spare {
            Some(p) => p,
            None => RtpPair::bind(self.local.ip()).await?,
        };
        self.top_up_rtp_spares();
        let local = pair.local()?;
        let advertised = match self.stun {
            Some(server) => match stun_mapping(&pair.rtp, server).await {
                Some(mapped) => {
                    tracing::info!(
                        "media: STUN: RTP {local} is seen at {mapped}; the SDP names it"
                    );
                    mapped
                }
                None => {
                    tracing::info!(
                        "media: no STUN answer from {server} for RTP {local}; the SDP names {}",
                        self.media_addr(local)
                    );
                    self.media_addr(local)
                }
            },
            None => self.media_addr(local),
        };
        Ok((pair, advertised))
    }

    /// Binds spare RTP pairs until there are [`RTP_SPARES`] (one task at a
    /// time; a failure is left to the next call, which binds its own).
    fn top_up_rtp_spares(&self) {
        if self.rtp_topping_up.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            while lock(&me.rtp_spares).len() < RTP_SPARES && !me.cancel.is_cancelled() {
                match RtpPair::bind(me.local.ip()).await {
                    Ok(p) => lock(&me.rtp_spares).push(p),
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot bind a spare RTP pair");
                        break;
                    }
                }
            }
            me.rtp_topping_up.store(false, Ordering::Release);
        });
    }

    /// Finds our leg for a Replaces value `call-id;to-tag=A;from-tag=B`:
    /// `to-tag` is our local tag, `from-tag` the peer's (RFC 3891 section 3).
    fn leg_for_replaces(&self, value: &str) -> Option<CallKey> {
        let mut parts = value.split(';');
        let call_id = parts.next()?.trim();
        let (mut to_tag, mut from_tag) = (None, None);
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "to-tag" => to_tag = Some(v.trim()),
                    "from-tag" => from_tag = Some(v.trim()),
                    _ => {}
                }
            }
        }
        let (to_tag, from_tag) = (to_tag?, from_tag?);
        lock(&self.legs).iter().find_map(|(k, leg)| {
            let id = leg.dialog.id();
            (id.call_id == call_id && id.local_tag == to_tag && id.remote_tag == from_tag)
                .then_some(*k)
        })
    }

    async fn incoming_invite(&self, mut tx: Transaction) {
        // RFC 4028: answer a session timer the caller offers.
        let session = match first_value(&tx.original.headers, "Session-Expires")
            .and_then(SessionExpires::parse)
        {
            None => None,
            Some(offered) => {
                let headers = &tx.original.headers;
                match session_timer::answer_as_uas(
                    offered,
                    supports_timer(headers),
                    session_timer::MIN_SE,
                ) {
                    UasAnswer::TooSmall { min_se } => {
                        let _ = tx
                            .reply_with(
                                StatusCode::SessionIntervalTooSmall,
                                vec![make("Min-SE", min_se.to_string())],
                                None,
                            )
                            .await;
                        return;
                    }
                    answer @ UasAnswer::Accept {
                        session_expires,
                        require_timer,
                    } => Some(SessionPlan {
                        se: session_expires,
                        we_refresh: answer.we_refresh(),
                        require_timer,
                        use_update: allows_update(headers),
                    }),
                }
            }
        };
        // An RFC 2543 client may omit Contact (RFC 4475 inv2543); its From
        // URI is then the remote target. rsipstack refuses a dialog without one.
        if first_value(&tx.original.headers, "Contact").is_none()
            && let Some(target) = first_value(&tx.original.headers, "From")
                .and_then(bb_sip::headers::addr_uri)
                .map(|u| format!("<{u}>"))
        {
            tx.original.headers.push(make("Contact", target));
        }
        let req = &tx.original;
        let offer = match AudioSdp::parse(&req.body) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "refusing an INVITE whose SDP we cannot use");
                let _ = tx.reply(StatusCode::NotAcceptableHere).await;
                return;
            }
        };
        let negotiated = match media::sdp::negotiate(&self.audio, &offer, Role::Answerer) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("refusing an INVITE: {e}");
                let _ = tx.reply(StatusCode::NotAcceptableHere).await;
                return;
            }
        };
        let formats = media::sdp::answer_formats(&self.audio, &negotiated);
        let (pair, rtp_addr) = match self.rtp_socket().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "no RTP port for an incoming call");
                let _ = tx.reply(StatusCode::ServerInternalError).await;
                return;
            }
        };
        let mut media = LegMedia::new(pair, rtp_addr, formats);
        if let Err(why) = media.answer_keys(self.audio.srtp, &offer) {
            tracing::warn!("refusing an INVITE: {why}");
            let _ = tx
                .reply_with(
                    StatusCode::NotAcceptableHere,
                    vec![srtp_warning(&why)],
                    None,
                )
                .await;
            return;
        }
        media.remote = Some(offer.clone());
        media.negotiated = Some(negotiated);
        let answer = media.sdp(offer.direction.answer_to(), self.ptime());

        let headers = &req.headers;
        let facts = IncomingFacts {
            call_id: first_value(headers, "Call-ID")
                .unwrap_or_default()
                .trim()
                .to_string(),
            from_user: first_value(headers, "From").and_then(addr_user),
            pai_user: first_value(headers, "P-Asserted-Identity").and_then(addr_user),
            called_party_user: first_value(headers, "P-Called-Party-ID").and_then(addr_user),
            to_user: first_value(headers, "To").and_then(addr_user),
            request_uri_user: uri_user(&req.uri.to_string()),
            answer_after_ms: bb_sip::headers::auto_answer_ms(headers),
        };
        let replaces = first_value(headers, "Replaces").map(str::to_string);
        let replaced = match &replaces {
            Some(r) => match self.leg_for_replaces(r) {
                Some(k) => Some(k),
                None => {
                    // RFC 3891 section 3: no matching dialog → 481.
                    let _ = tx.reply(StatusCode::CallTransactionDoesNotExist).await;
                    return;
                }
            },
            None => None,
        };
        let (sender, receiver) = self.dialog_layer.new_dialog_state_channel();
        let contact = self.uri_on_transport(Some(&self.account().user), self.contact_addr());
        let dialog =
            match self
                .dialog_layer
                .get_or_create_server_invite(&tx, sender, None, Some(contact))
            {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot create a dialog for an INVITE");
                    let _ = tx.reply(StatusCode::ServerInternalError).await;
                    return;
                }
            };
        let key = self.new_driver_key();
        if matches!(tx.connection, Some(SipConnection::Udp(_))) {
            // Cancelled by the socket when it has sent this call's 180.
            lock(&self.ring_sent).insert(facts.call_id.clone(), CancellationToken::new());
        }
        lock(&self.legs).insert(
            key,
            Leg {
                dialog: dialog.clone(),
                media,
                session,
                refreshed: Arc::new(Mutex::new(Instant::now())),
                answer: Some(answer),
                holding: false,
            },
        );
        let mut handler = dialog.clone();
        tokio::spawn(async move {
            if let Err(e) = handler.handle(&mut tx).await {
                tracing::debug!(error = %e, "INVITE transaction ended with an error");
            }
        });
        tokio::spawn(
            self.clone()
                .watch(key, receiver, Arc::new(AtomicBool::new(true))),
        );
        self.send(Input::Incoming {
            key,
            facts,
            replaces: replaced,
        });
    }

    /// Follows one leg's dialog states until it ends.
    async fn watch(
        self,
        key: CallKey,
        mut receiver: DialogStateReceiver,
        incoming: Arc<AtomicBool>,
    ) {
        let answered = AtomicBool::new(false);
        while let Some(state) = receiver.recv().await {
            match state {
                DialogState::Early(_, resp) => {
                    if !incoming.load(Ordering::Relaxed) {
                        // Early media: a 183 (or 180) with SDP starts the
                        // media, so the network's announcement or ringback
                        // is heard before the answer.
                        let early_media = match AudioSdp::parse(&resp.body) {
                            // Refused keys: no early media; the answer decides.
                            Ok(sdp) => self.set_remote(key, sdp, true).is_ok(),
                            Err(_) => false,
                        };
                        self.send(Input::Progress {
                            key,
                            code: u16::from(resp.status_code.clone()),
                            early_media,
                        });
                    }
                }
                DialogState::Confirmed(id, resp) => {
                    if answered.swap(true, Ordering::Relaxed) {
                        continue;
                    }
                    if incoming.load(Ordering::Relaxed) {
                        self.send(Input::Confirmed { key });
                    } else {
                        if let Ok(sdp) = AudioSdp::parse(&resp.body)
                            && self.set_remote(key, sdp, true).is_err()
                        {
                            // Answered without the SRTP `[audio] srtp`
                            // requires: hang up at once, as a failed call.
                            self.bye(key);
                            self.send(Input::Failed { key, code: 488 });
                            continue;
                        }
                        if let Some(se) = first_value(&resp.headers, "Session-Expires")
                            .and_then(SessionExpires::parse)
                        {
                            let plan = SessionPlan {
                                se,
                                we_refresh: session_timer::uac_refreshes(se),
                                require_timer: false,
                                use_update: allows_update(&resp.headers),
                            };
                            if let Some(leg) = lock(&self.legs).get_mut(&key) {
                                leg.session = Some(plan);
                                *lock(&leg.refreshed) = Instant::now();
                            }
                            self.start_session_timer(key, plan);
                        }
                        self.send(Input::Answered {
                            key,
                            call_id: id.call_id.clone(),
                        });
                    }
                }
                DialogState::Updated(_, req, handle) => {
                    let (code, headers, body) = self.remote_update(key, &req);
                    let _ = handle.respond(code, headers, body).await;
                }
                DialogState::Refer(_, req, handle) => {
                    let target = first_value(&req.headers, "Refer-To")
                        .map(rsipstack::sip::event_packages::parse_refer_to);
                    let number = target.as_ref().and_then(|t| uri_user(&t.uri));
                    // Who may send a REFER was judged before the dialog
                    // saw it (`admission`); here only its target.
                    match (target, number) {
                        (Some(t), Some(number)) => {
                            // The same rules as a number the operator dials.
                            match bb_verbs::number::normalize_number(&number) {
                                Ok(n) => {
                                    let _ = handle.reply(StatusCode::Accepted).await;
                                    self.send(Input::ReferRequest {
                                        key,
                                        number: n.as_str().to_string(),
                                        replaces: t.replaces,
                                    });
                                }
                                Err(e) => {
                                    let _ = handle.reply(StatusCode::Forbidden).await;
                                    let _ = self.events.send(SipEvent::ReferRefused {
                                        key,
                                        target: number,
                                        why: format!(
                                            "the transfer target is not a number to dial: {e}"
                                        ),
                                    });
                                }
                            }
                        }
                        _ => {
                            let _ = handle.reply(StatusCode::BadRequest).await;
                        }
                    }
                }
                DialogState::Notify(_, req, handle) => {
                    let _ = handle.reply(StatusCode::OK).await;
                    let is_refer = first_value(&req.headers, "Event")
                        .is_some_and(|e| e.trim().to_ascii_lowercase().starts_with("refer"));
                    if let (true, Some(code)) = (is_refer, sipfrag_code(&req.body)) {
                        let last =
                            first_value(&req.headers, "Subscription-State").is_some_and(|s| {
                                s.trim().to_ascii_lowercase().starts_with("terminated")
                            });
                        self.send(Input::ReferStatus { key, code, last });
                    }
                }
                DialogState::Info(_, _, handle) | DialogState::Options(_, _, handle) => {
                    let _ = handle.reply(StatusCode::OK).await;
                }
                DialogState::Message(_, _, handle) | DialogState::Publish(_, _, handle) => {
                    let _ = handle.reply(StatusCode::MethodNotAllowed).await;
                }
                DialogState::Terminated(id, reason) => {
                    let was_answered = answered.load(Ordering::Relaxed);
                    let input = if !incoming.load(Ordering::Relaxed) && !was_answered {
                        let code = match reason {
                            TerminatedReason::UasBusy => 486,
                            TerminatedReason::UasDecline => 603,
                            TerminatedReason::UasOther(c) | TerminatedReason::ProxyError(c) => {
                                u16::from(c)
                            }
                            TerminatedReason::Timeout => 408,
                            TerminatedReason::ProxyAuthRequired => 407,
                            TerminatedReason::UacCancel => 487,
                            _ => 0,
                        };
                        Input::Failed { key, code }
                    } else {
                        let cause = match reason {
                            TerminatedReason::UacCancel
                            | TerminatedReason::UacBye
                            | TerminatedReason::UasBye => EndCause::RemoteHangup,
                            TerminatedReason::UasBusy | TerminatedReason::UasDecline => {
                                EndCause::Rejected
                            }
                            _ => EndCause::Failed,
                        };
                        Input::Ended { key, cause }
                    };
                    self.send(input);
                    self.no_ring_coming(&id.call_id);
                    self.dialog_layer.remove_dialog(&id);
                    lock(&self.legs).remove(&key);
                    break;
                }
                DialogState::Calling(_) | DialogState::Trying(_) | DialogState::WaitAck(_, _) => {}
            }
        }
    }

    /// Records the peer's answer to our offer and starts or updates the
    /// media when `start` (the call is answered) or already running.
    /// Refuses (and changes nothing) when its SRTP keys do not do
    /// (`[audio] srtp`): the reason, for the log.
    fn set_remote(&self, key: CallKey, sdp: AudioSdp, start: bool) -> Result<(), Refusal> {
        let mut legs = lock(&self.legs);
        let Some(leg) = legs.get_mut(&key) else {
            return Ok(());
        };
        if let Err(why) = leg.media.take_answer(self.audio.srtp, &sdp) {
            tracing::warn!("media: the peer's answer is refused: {why}");
            return Err(why);
        }
        match media::sdp::negotiate(&self.audio, &sdp, Role::Offerer) {
            Ok(n) => {
                // Later offers of ours keep to the agreed codec.
                leg.media.formats = media::sdp::narrow(&leg.media.formats, &n);
                leg.media.negotiated = Some(n);
            }
            Err(e) => tracing::warn!("media: the peer's answer is unusable: {e}"),
        }
        leg.media.remote = Some(sdp);
        if start || leg.media.session.is_some() {
            self.media_changed(key, leg);
        }
        Ok(())
    }

    /// Answers a re-INVITE or UPDATE from the peer: a hold or resume offer, or
    /// an offerless re-INVITE (we offer).
    fn remote_update(
        &self,
        key: CallKey,
        req: &rsipstack::sip::Request,
    ) -> (
        StatusCode,
        Option<Vec<rsipstack::sip::Header>>,
        Option<Vec<u8>>,
    ) {
        let mut legs = lock(&self.legs);
        let Some(leg) = legs.get_mut(&key) else {
            return (StatusCode::CallTransactionDoesNotExist, None, None);
        };
        // Any re-INVITE or UPDATE refreshes the session (RFC 4028 section 10).
        *lock(&leg.refreshed) = Instant::now();
        let timer = leg.session.map(|p| p.headers()).unwrap_or_default();
        let mut ct = vec![make("Content-Type", "application/sdp")];
        ct.extend(timer.iter().cloned());
        let ct = Some(ct);
        if req.body.is_empty() {
            if req.method == Method::Update {
                return (StatusCode::OK, (!timer.is_empty()).then_some(timer), None);
            }
            let dir = if leg.holding {
                Direction::SendOnly
            } else {
                Direction::SendRecv
            };
            let ptime = self.ptime();
            return (StatusCode::OK, ct, Some(leg.media.sdp(dir, ptime)));
        }
        let offer = match AudioSdp::parse(&req.body) {
            Ok(o) => o,
            Err(_) => return (StatusCode::NotAcceptableHere, None, None),
        };
        let negotiated = match media::sdp::negotiate(&self.audio, &offer, Role::Answerer) {
            Ok(n) => n,
            Err(e) => {
                // RFC 3261 14.2: the session stays as it was.
                tracing::warn!("refusing a re-INVITE: {e}");
                return (StatusCode::NotAcceptableHere, None, None);
            }
        };
        // New keys are taken (re-keying); no keys on an encrypted call, or
        // none where `[audio] srtp` requires them, is refused.
        if let Err(why) = leg.media.answer_keys(self.audio.srtp, &offer) {
            tracing::warn!("refusing a re-INVITE: {why}");
            return (
                StatusCode::NotAcceptableHere,
                Some(vec![srtp_warning(&why)]),
                None,
            );
        }
        // RFC 3264 section 8.4: a peer that holds us offers sendonly (music
        // on hold) or inactive; either way it no longer receives.
        let held = !offer.direction.receives() || offer.addr.is_unspecified();
        let mut dir = offer.direction.answer_to();
        if leg.holding && dir == Direction::SendRecv {
            dir = Direction::SendOnly;
        } else if leg.holding && dir == Direction::RecvOnly {
            dir = Direction::Inactive;
        }
        leg.media.formats = media::sdp::answer_formats(&self.audio, &negotiated);
        leg.media.negotiated = Some(negotiated);
        leg.media.remote = Some(offer);
        let body = leg.media.sdp(dir, self.ptime());
        if leg.media.session.is_some() {
            self.media_changed(key, leg);
        }
        drop(legs);
        self.send(Input::RemoteHold { key, held });
        (StatusCode::OK, ct, Some(body))
    }

    /// Sends 180 Ringing.
    pub fn ring(&self, key: CallKey) {
        if let Some(leg) = lock(&self.legs).get(&key)
            && let Err(e) = leg.dialog.ringing(None, None)
        {
            tracing::warn!(error = %e, "cannot send 180");
        }
    }

    /// Sends 200 OK with the SDP answer, and starts the call's media.
    pub fn accept(&self, key: CallKey) {
        if let Some(leg) = lock(&self.legs).get_mut(&key) {
            let mut headers = vec![make("Content-Type", "application/sdp")];
            if let Some(plan) = &leg.session {
                headers.extend(plan.headers());
            }
            if let Err(e) = leg.dialog.accept(Some(headers), leg.answer.clone()) {
                tracing::warn!(error = %e, "cannot send 200");
                return;
            }
            *lock(&leg.refreshed) = Instant::now();
            if let Some(plan) = leg.session {
                self.start_session_timer(key, plan);
            }
            self.media_changed(key, leg);
        }
    }

    /// Rejects a ringing call.
    pub fn reject(&self, key: CallKey, code: u16) {
        if let Some(leg) = lock(&self.legs).remove(&key) {
            self.no_ring_coming(&leg.dialog.id().call_id);
            if let Err(e) = leg.dialog.reject(Some(StatusCode::from(code)), None) {
                tracing::warn!(error = %e, "cannot reject");
            }
        }
    }

    /// Sends BYE.
    pub fn bye(&self, key: CallKey) {
        if let Some(leg) = lock(&self.legs).remove(&key) {
            tokio::spawn(async move {
                if let Err(e) = leg.dialog.bye().await {
                    tracing::warn!(error = %e, "BYE failed");
                }
            });
        }
    }

    /// CANCELs our INVITE.
    pub fn cancel(&self, key: CallKey) {
        if let Some(leg) = lock(&self.legs).remove(&key) {
            tokio::spawn(async move {
                if let Err(e) = leg.dialog.cancel().await {
                    tracing::warn!(error = %e, "CANCEL failed");
                }
            });
        }
    }

    /// Sends an INVITE for a call the phone placed.
    /// Places a call to `number` with `call_id` as its INVITE's Call-ID.
    pub fn invite(&self, key: CallKey, number: String, replaces: Option<String>, call_id: String) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(reason) = me.try_invite(key, &number, replaces, call_id).await {
                tracing::warn!(%reason, "cannot place the call");
                me.send(Input::Failed { key, code: 0 });
            }
        });
    }

    async fn try_invite(
        &self,
        key: CallKey,
        number: &str,
        replaces: Option<String>,
        call_id: String,
    ) -> Result<(), String> {
        let (pair, rtp_addr) = self
            .rtp_socket()
            .await
            .map_err(|e| format!("no RTP port: {e}"))?;
        let account = self.account();
        let mut media = LegMedia::offering(
            pair,
            rtp_addr,
            media::sdp::offer_formats(&self.audio),
            self.audio.srtp,
        );
        let offer = media.sdp(Direction::SendRecv, self.ptime());
        // We answer session timers (RFC 4028) but do not ask for them.
        let mut headers = vec![make("Supported", "timer")];
        if let Some(r) = replaces {
            headers.push(make("Replaces", r));
        }
        let opt = InviteOption {
            caller: uri(Some(&account.user), account.server),
            callee: self.uri_on_transport(Some(number), account.server),
            destination: Some(self.destination(&account)),
            content_type: Some("application/sdp".to_string()),
            offer: Some(offer),
            contact: self.uri_on_transport(Some(&account.user), self.contact_addr()),
            credential: Some(account.credential.clone()),
            headers: Some(headers),
            call_id: Some(call_id),
            ..Default::default()
        };
        let (sender, receiver) = self.dialog_layer.new_dialog_state_channel();
        let (dialog, join) = self
            .dialog_layer
            .do_invite_async(opt, sender)
            .map_err(|e| e.to_string())?;
        lock(&self.legs).insert(
            key,
            Leg {
                dialog,
                media,
                session: None,
                refreshed: Arc::new(Mutex::new(Instant::now())),
                answer: None,
                holding: false,
            },
        );
        tokio::spawn(
            self.clone()
                .watch(key, receiver, Arc::new(AtomicBool::new(false))),
        );
        let me = self.clone();
        tokio::spawn(async move {
            match join.await {
                Ok(Ok((_, Some(resp)))) => {
                    let code = u16::from(resp.status_code.clone());
                    if code >= 300 {
                        me.send(Input::Failed { key, code });
                    }
                }
                Ok(Ok((_, None))) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "INVITE failed");
                    me.send(Input::Failed { key, code: 0 });
                }
                Err(_) => me.send(Input::Failed { key, code: 0 }),
            }
        });
        Ok(())
    }

    fn start_session_timer(&self, key: CallKey, plan: SessionPlan) {
        tokio::spawn(self.clone().session_timer(key, plan));
    }

    /// Refreshes the session at half the interval when we are the
    /// refresher; ends the call when we are not and no refresh came in time
    /// (RFC 4028 section 10). Stops when the leg is gone.
    async fn session_timer(self, key: CallKey, plan: SessionPlan) {
        let wait = if plan.we_refresh {
            session_timer::refresh_after(plan.se.interval)
        } else {
            session_timer::expire_after(plan.se.interval)
        };
        loop {
            let Some(refreshed) = lock(&self.legs).get(&key).map(|l| l.refreshed.clone()) else {
                return;
            };
            let due = *lock(&refreshed) + wait;
            tokio::select! {
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {}
                _ = self.cancel.cancelled() => return,
            }
            if *lock(&refreshed) + wait > Instant::now() {
                continue; // refreshed meanwhile
            }
            let prepared = {
                let mut legs = lock(&self.legs);
                let Some(leg) = legs.get_mut(&key) else {
                    return;
                };
                let sdp = (!plan.use_update && plan.we_refresh).then(|| {
                    let dir = leg.media.local_dir;
                    leg.media.sdp(dir, self.ptime())
                });
                (leg.dialog.clone(), sdp)
            };
            if !plan.we_refresh {
                tracing::warn!(
                    "no session refresh from the peer within {} s: ending the call (RFC 4028)",
                    wait.as_secs()
                );
                self.send(Input::Ended {
                    key,
                    cause: EndCause::Failed,
                });
                self.bye(key);
                return;
            }
            let (dialog, sdp) = prepared;
            let mut headers = vec![
                make(
                    "Session-Expires",
                    session_timer::refresh_request(plan.se.interval).to_string(),
                ),
                make("Supported", "timer"),
            ];
            let result = match sdp {
                None => dialog.update(Some(headers), None).await,
                Some(sdp) => {
                    headers.push(make("Content-Type", "application/sdp"));
                    dialog.reinvite(Some(headers), Some(sdp)).await
                }
            };
            let code = match result {
                Ok(Some(resp)) => u16::from(resp.status_code.clone()),
                Ok(None) => 481,
                Err(e) => {
                    tracing::warn!(error = %e, "session refresh failed");
                    408
                }
            };
            if (200..300).contains(&code) {
                *lock(&refreshed) = Instant::now();
            } else if code == 408 || code == 481 {
                // RFC 4028 section 10: the session is gone.
                tracing::warn!("session refresh answered {code}: ending the call");
                self.send(Input::Ended {
                    key,
                    cause: EndCause::Failed,
                });
                self.bye(key);
                return;
            } else {
                // Other failures leave the session as it was; try again at
                // the next half interval.
                tracing::warn!("session refresh answered {code}; retrying later");
                *lock(&refreshed) = Instant::now();
            }
        }
    }

    /// Sends a hold (`sendonly`) or resume (`sendrecv`) re-INVITE.
    pub fn hold(&self, key: CallKey, hold: bool) {
        let prepared = {
            let mut legs = lock(&self.legs);
            legs.get_mut(&key).map(|leg| {
                leg.holding = hold;
                let dir = if hold {
                    Direction::SendOnly
                } else {
                    Direction::SendRecv
                };
                (leg.dialog.clone(), leg.media.sdp(dir, self.ptime()))
            })
        };
        let Some((dialog, sdp)) = prepared else {
            self.send(Input::HoldResult { key, ok: false });
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let headers = vec![make("Content-Type", "application/sdp")];
            let ok = match dialog.reinvite(Some(headers), Some(sdp)).await {
                Ok(Some(resp)) => {
                    let code = u16::from(resp.status_code.clone());
                    let refused = match AudioSdp::parse(&resp.body) {
                        Ok(sdp) => me.set_remote(key, sdp, false).is_err(),
                        Err(_) => false,
                    };
                    (200..300).contains(&code) && !refused
                }
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "re-INVITE failed");
                    false
                }
            };
            if !ok && let Some(leg) = lock(&me.legs).get_mut(&key) {
                leg.holding = !hold;
                // The refused offer's direction never took effect.
                leg.media.local_dir = if hold {
                    Direction::SendRecv
                } else {
                    Direction::SendOnly
                };
            }
            me.send(Input::HoldResult { key, ok });
        });
    }

    /// Sends REFER to `number`, with Replaces naming the `replaces` leg's dialog.
    pub fn refer(&self, key: CallKey, number: String, replaces: Option<CallKey>) {
        let (dialog, replaces_value) = {
            let legs = lock(&self.legs);
            let dialog = legs.get(&key).map(|l| l.dialog.clone());
            let replaces_value = replaces.and_then(|r| legs.get(&r)).map(|l| {
                let id = l.dialog.id();
                // The target's local tag is our remote tag (RFC 3891).
                format!(
                    "{};to-tag={};from-tag={}",
                    id.call_id, id.remote_tag, id.local_tag
                )
            });
            (dialog, replaces_value)
        };
        let Some(dialog) = dialog else {
            self.send(Input::ReferStatus {
                key,
                code: 481,
                last: true,
            });
            return;
        };
        let account = self.account();
        let target = match replaces_value {
            Some(r) => format!(
                "<sip:{number}@{}?Replaces={}>",
                account.server,
                escape_uri_header(&r)
            ),
            None => format!("<sip:{number}@{}>", account.server),
        };
        let me = self.clone();
        tokio::spawn(async move {
            let headers = vec![
                make("Refer-To", target),
                make(
                    "Referred-By",
                    format!("<sip:{}@{}>", account.user, account.server),
                ),
            ];
            let code = match dialog.request(Method::Refer, Some(headers), None).await {
                Ok(Some(resp)) => u16::from(resp.status_code.clone()),
                Ok(None) => 481,
                Err(e) => {
                    tracing::warn!(error = %e, "REFER failed");
                    408
                }
            };
            me.send(Input::ReferStatus {
                key,
                code,
                last: code >= 300,
            });
        });
    }

    /// Reports transfer progress to the transferor (NOTIFY, RFC 3515).
    pub fn notify_refer(&self, key: CallKey, code: u16, last: bool) {
        let Some(dialog) = lock(&self.legs).get(&key).map(|l| l.dialog.clone()) else {
            return;
        };
        let reason = match code {
            100 => "Trying",
            180 => "Ringing",
            200 => "OK",
            486 => "Busy Here",
            _ => "Service Unavailable",
        };
        tokio::spawn(async move {
            let state = if last {
                "terminated;reason=noresource"
            } else {
                "active;expires=60"
            };
            let headers = vec![
                make("Event", "refer"),
                make("Subscription-State", state),
                make("Content-Type", "message/sipfrag;version=2.0"),
            ];
            let body = format!("SIP/2.0 {code} {reason}\r\n").into_bytes();
            if let Err(e) = dialog.notify(Some(headers), Some(body)).await {
                tracing::warn!(error = %e, "NOTIFY failed");
            }
        });
    }
}

/// A fresh Call-ID for an outgoing INVITE: 128 random bits, and the host
/// part of the address the phone sends from (RFC 3261 8.1.1.4).
pub fn new_call_id(local: std::net::SocketAddr) -> String {
    format!("{:032x}@{}", rand::random::<u128>(), local.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bb_sip::sdp::Format;

    #[test]
    fn sipfrag_status() {
        assert_eq!(sipfrag_code(b"SIP/2.0 200 OK\r\n"), Some(200));
        assert_eq!(sipfrag_code(b"SIP/2.0 100 Trying"), Some(100));
        assert_eq!(sipfrag_code(b"HTTP/1.1 200 OK"), None);
        assert_eq!(sipfrag_code(b""), None);
    }

    #[test]
    fn replaces_is_escaped_inside_refer_to() {
        assert_eq!(
            escape_uri_header("abc@h;to-tag=1;from-tag=2"),
            "abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2"
        );
    }

    #[test]
    fn answer_picks_our_first_shared_codec_and_telephone_event() {
        let offer = AudioSdp {
            addr: "127.0.0.1".parse().expect("literal"),
            port: 4000,
            formats: vec![
                Format::new(9, "G722", 8000, None, None),
                Format::new(8, "PCMA", 8000, None, None),
                Format::new(0, "PCMU", 8000, None, None),
                Format::new(96, "telephone-event", 8000, None, Some("0-15")),
            ],
            direction: Direction::SendRecv,
            ptime: None,
            secure: false,
            crypto: vec![],
        };
        // The default order is opus, PCMU, PCMA: PCMU wins over the offer's order.
        let audio = AudioSettings::default();
        let n = media::sdp::negotiate(&audio, &offer, Role::Answerer).expect("shared codec");
        let a = media::sdp::answer_formats(&audio, &n);
        assert_eq!(a[0].name, "PCMU");
        assert_eq!(a[1].pt, 96);
        let none = AudioSdp {
            formats: vec![Format::new(9, "G722", 8000, None, None)],
            ..offer
        };
        assert!(media::sdp::negotiate(&audio, &none, Role::Answerer).is_err());
    }
}
