//! A minimal SIP user agent over raw UDP, for sending the softphone INVITEs
//! byte for byte as a step writes them (the internal-call features' calls
//! from a peer that is not registered) and for timing the softphone
//! (`cti-latency`). Hostile caller IDs go through the simulator instead
//! (`POST /api/calls` with an `identity`), as a real PBX would deliver them.
//!
//! It writes every byte of its requests itself, so a test controls exactly
//! what the softphone receives: user parts are percent-escaped
//! ([`escape_user`]) and display names quoted ([`quote_display`]) as RFC 3261
//! requires, whatever the caller ID holds. It keeps just enough state for a
//! call: INVITE retransmission until a response, ACK for final responses,
//! CANCEL, BYE, and `200 OK` to any request the softphone sends in the
//! dialog (its BYE). In registrar mode it also answers REGISTER with
//! `200 OK` and remembers the contact, so a softphone can run without a PBX.
//!
//! Every message carries the [`Instant`] it was received, for latency
//! measurements: the kernel's receive time where Linux gives it
//! (`SIOCGSTAMP`), else the time right after the socket read.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

/// One SIP message as received.
#[derive(Debug, Clone)]
pub struct SipMessage {
    /// The start line (`SIP/2.0 180 Ringing`, `BYE sip:… SIP/2.0`).
    pub start: String,
    /// Header name and value pairs, in order, names as written.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When it was read from the socket.
    pub at: Instant,
    /// Who sent it.
    pub source: SocketAddr,
}

fn full_name(name: &str) -> &str {
    match name {
        "i" | "I" => "Call-ID",
        "f" | "F" => "From",
        "t" | "T" => "To",
        "v" | "V" => "Via",
        "m" | "M" => "Contact",
        "l" | "L" => "Content-Length",
        "c" | "C" => "Content-Type",
        other => other,
    }
}

impl SipMessage {
    /// Parses a datagram; `None` when it is not a SIP message.
    pub fn parse(bytes: &[u8], source: SocketAddr, at: Instant) -> Option<SipMessage> {
        let split = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&bytes[..split]).ok()?;
        let body = bytes[split + 4..].to_vec();
        let mut lines = head.split("\r\n");
        let start = lines.next()?.to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
                continue;
            }
            let (name, value) = line.split_once(':')?;
            headers.push((full_name(name.trim()).to_string(), value.trim().to_string()));
        }
        Some(SipMessage {
            start,
            headers,
            body,
            at,
            source,
        })
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        let rest = self.start.strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&str> {
        if self.start.starts_with("SIP/2.0") {
            return None;
        }
        self.start.split(' ').next()
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header called `name`, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The method named in the CSeq header.
    pub fn cseq_method(&self) -> Option<&str> {
        self.header("CSeq")?.split_whitespace().nth(1)
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }
}

/// Percent-escapes a SIP URI user part: ASCII letters, digits and
/// `- _ . ! ~ * ' ( ) +` stay, every other byte of the UTF-8 becomes `%XX`.
/// (RFC 3261 allows more unescaped; escaping more is always valid.)
pub fn escape_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len() * 3);
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()+".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A display name as an RFC 3261 quoted string: `"` and `\` are escaped
/// with `\`; control characters, which a quoted string cannot hold, become
/// spaces.
pub fn quote_display(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What an INVITE carries. User parts are given unescaped (they are escaped
/// when the message is built); `None` leaves a header out.
#[derive(Debug, Clone, Default)]
pub struct InviteSpec {
    /// User part of the Request-URI (the extension called).
    pub request_user: String,
    /// Display name in `From`.
    pub from_display: Option<String>,
    /// User part of the `From` URI.
    pub from_user: String,
    /// User part of `P-Asserted-Identity`.
    pub pai_user: Option<String>,
    /// User part of the `To` URI.
    pub to_user: String,
    /// User part of `P-Called-Party-ID`.
    pub called_party_user: Option<String>,
    /// The Call-ID; a fresh one when `None`.
    pub call_id: Option<String>,
}

struct Inner {
    sock: UdpSocket,
    local: SocketAddr,
    rtp_port: u16,
    calls: Mutex<HashMap<String, mpsc::UnboundedSender<SipMessage>>>,
    registrations: Mutex<HashMap<String, SocketAddr>>,
    registered: Notify,
    seq: AtomicU64,
    tag: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn branch(&self) -> String {
        format!("z9hG4bK-uac-{:x}-{}", self.tag, self.next())
    }

    async fn send(&self, to: SocketAddr, bytes: &[u8]) -> std::io::Result<()> {
        self.sock.send_to(bytes, to).await.map(|_| ())
    }
}

/// The user agent: one UDP socket, any number of calls.
pub struct Uac {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Uac {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Copies the headers a response must echo (RFC 3261 section 8.2.6.2).
fn response_to(req: &SipMessage, code: u16, reason: &str, extra: &str) -> String {
    let mut s = format!("SIP/2.0 {code} {reason}\r\n");
    for v in req.headers_named("Via") {
        let _ = write!(s, "Via: {v}\r\n");
    }
    for name in ["From", "To", "Call-ID", "CSeq"] {
        if let Some(v) = req.header(name) {
            let v = if name == "To" && !v.contains(";tag=") && code != 100 {
                format!("{v};tag=uas{}", code)
            } else {
                v.to_string()
            };
            let _ = write!(s, "{name}: {v}\r\n");
        }
    }
    s.push_str(extra);
    s.push_str("Content-Length: 0\r\n\r\n");
    s
}

/// The `host:port` of a contact URI value (`<sip:1910@127.0.0.1:5062;ob>`).
pub fn contact_addr(contact: &str) -> Option<SocketAddr> {
    let uri = contact.trim();
    let uri = match (uri.find('<'), uri.find('>')) {
        (Some(a), Some(b)) if a < b => &uri[a + 1..b],
        _ => uri,
    };
    let rest = uri.split_once(':')?.1;
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = hostport.split([';', '?']).next()?;
    hostport.parse().ok()
}

/// When the kernel took in the datagram last read from `sock` (Linux:
/// `SIOCGSTAMP`, microseconds), as an [`Instant`]. A latency measured to
/// this point is the softphone's alone: it does not grow when this process
/// waits for a CPU before it reads the datagram (the measuring process also
/// serves the CRM requests, on the same two cores). `None` where unsupported
/// and for the first datagram (the first call switches stamping on).
fn kernel_receive_time(sock: &UdpSocket) -> Option<Instant> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::fd::AsRawFd as _;
        use std::time::{SystemTime, UNIX_EPOCH};
        // asm-generic/sockios.h: SIOCGSTAMP_OLD, a `struct timeval`.
        const SIOCGSTAMP: libc::Ioctl = 0x8906;
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: the fd is a live UDP socket owned by `sock`; the kernel
        // writes one `struct timeval` to the pointer, which outlives the call.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGSTAMP, &mut tv) };
        if rc != 0 {
            return None;
        }
        let (now_wall, now) = (SystemTime::now(), Instant::now());
        let wall = UNIX_EPOCH
            + Duration::new(
                u64::try_from(tv.tv_sec).ok()?,
                u32::try_from(tv.tv_usec).ok()?.checked_mul(1000)?,
            );
        let age = now_wall.duration_since(wall).unwrap_or_default();
        now.checked_sub(age)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = sock;
        None
    }
}

async fn receive(inner: Arc<Inner>, registrar: bool) {
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, source)) = inner.sock.recv_from(&mut buf).await else {
            continue;
        };
        let at = kernel_receive_time(&inner.sock).unwrap_or_else(Instant::now);
        let Some(msg) = SipMessage::parse(&buf[..n], source, at) else {
            continue;
        };
        match msg.method() {
            Some("REGISTER") if registrar => {
                let contact = msg.header("Contact").unwrap_or("").to_string();
                let expires = msg
                    .header("Expires")
                    .and_then(|e| e.trim().parse::<u32>().ok())
                    .unwrap_or(300);
                let user = msg
                    .header("To")
                    .and_then(|t| {
                        let t = t.split_once("sip:")?.1;
                        Some(t.split(['@', '>', ';']).next()?.to_string())
                    })
                    .unwrap_or_default();
                let extra = if expires == 0 || contact.is_empty() {
                    String::new()
                } else {
                    format!("Contact: {contact};expires={expires}\r\nExpires: {expires}\r\n")
                };
                let resp = response_to(&msg, 200, "OK", &extra);
                let _ = inner.send(source, resp.as_bytes()).await;
                if expires > 0 {
                    let addr = contact_addr(&contact).unwrap_or(source);
                    lock(&inner.registrations).insert(user, addr);
                    inner.registered.notify_waiters();
                }
            }
            Some("ACK") => {}
            Some("INVITE") => {
                // The softphone never calls us; refuse.
                let resp = response_to(&msg, 488, "Not Acceptable Here", "");
                let _ = inner.send(source, resp.as_bytes()).await;
            }
            Some(_) => {
                let known = msg
                    .call_id()
                    .is_some_and(|c| lock(&inner.calls).contains_key(c));
                let resp = if known || msg.method() == Some("OPTIONS") {
                    response_to(&msg, 200, "OK", "")
                } else {
                    response_to(&msg, 481, "Call/Transaction Does Not Exist", "")
                };
                let _ = inner.send(source, resp.as_bytes()).await;
                forward(&inner, msg);
            }
            None => forward(&inner, msg),
        }
    }
}

/// Receive buffer asked for: a burst of a hundred calls' responses must fit
/// while this process waits for a CPU (the kernel caps it at `rmem_max`).
const RECV_BUFFER: usize = 4 << 20;

/// A UDP socket with a large receive buffer, bound to `addr`.
fn udp_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer only makes losses (and retransmissions)
    // more likely.
    let _ = sock.set_recv_buffer_size(RECV_BUFFER);
    sock.bind(&addr.into())?;
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock.into())
}

fn forward(inner: &Inner, msg: SipMessage) {
    let Some(call_id) = msg.call_id() else {
        return;
    };
    let tx = lock(&inner.calls).get(call_id).cloned();
    if let Some(tx) = tx {
        let _ = tx.send(msg);
    }
}

impl Uac {
    /// A user agent on `ip`, a free port. With `registrar`, it also answers
    /// REGISTER (see [`Uac::wait_registration`]).
    pub async fn bind(ip: IpAddr, registrar: bool) -> std::io::Result<Uac> {
        let sock = udp_socket(SocketAddr::new(ip, 0))?;
        let local = sock.local_addr()?;
        let rtp = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let rtp_port = rtp.local_addr()?.port();
        let inner = Arc::new(Inner {
            sock,
            local,
            rtp_port,
            calls: Mutex::new(HashMap::new()),
            registrations: Mutex::new(HashMap::new()),
            registered: Notify::new(),
            seq: AtomicU64::new(1),
            tag: u64::from(std::process::id()) << 16 | u64::from(local.port()),
        });
        let rx = tokio::spawn(receive(inner.clone(), registrar));
        let drain = tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while rtp.recv_from(&mut buf).await.is_ok() {}
        });
        Ok(Uac {
            inner,
            tasks: vec![rx, drain],
        })
    }

    /// The SIP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// In registrar mode: waits until `user` registered; returns its contact.
    pub async fn wait_registration(&self, user: &str, limit: Duration) -> Option<SocketAddr> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.inner.registered.notified();
            if let Some(a) = lock(&self.inner.registrations).get(user) {
                return Some(*a);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Builds and sends an INVITE to `target`; the returned call follows it.
    pub async fn invite(&self, target: SocketAddr, spec: &InviteSpec) -> std::io::Result<Call> {
        let inner = &self.inner;
        let n = inner.next();
        let local = inner.local;
        let call_id = spec
            .call_id
            .clone()
            .unwrap_or_else(|| format!("uac-{:x}-{n}@{}", inner.tag, local.ip()));
        let host = local.to_string();
        let request_uri = format!("sip:{}@{target}", escape_user(&spec.request_user));
        let from_uri = format!("sip:{}@{host}", escape_user(&spec.from_user));
        let from = match &spec.from_display {
            Some(d) => format!("{} <{from_uri}>;tag=f{n}", quote_display(d)),
            None => format!("<{from_uri}>;tag=f{n}"),
        };
        let to = format!("<sip:{}@{host}>", escape_user(&spec.to_user));
        let branch = inner.branch();
        let sdp = format!(
            "v=0\r\no=- {n} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
            ip = local.ip(),
            port = inner.rtp_port
        );
        let mut msg = format!(
            "INVITE {request_uri} SIP/2.0\r\nVia: SIP/2.0/UDP {host};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:uac@{host}>\r\n"
        );
        if let Some(p) = &spec.pai_user {
            let _ = write!(
                msg,
                "P-Asserted-Identity: <sip:{}@{host}>\r\n",
                escape_user(p)
            );
        }
        if let Some(p) = &spec.called_party_user {
            let _ = write!(
                msg,
                "P-Called-Party-ID: <sip:{}@{host}>\r\n",
                escape_user(p)
            );
        }
        let _ = write!(
            msg,
            "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&inner.calls).insert(call_id.clone(), tx);
        let sent_at = Instant::now();
        inner.send(target, msg.as_bytes()).await?;
        Ok(Call {
            inner: inner.clone(),
            call_id,
            target,
            request_uri,
            from,
            to,
            branch,
            invite: msg.into_bytes(),
            rx,
            sent_at,
            next_retransmit: sent_at + Duration::from_millis(500),
            retransmissions: 0,
            interval: Duration::from_millis(500),
            answered: false,
            responses: Vec::new(),
            final_status: None,
            to_with_tag: None,
            remote_target: None,
            requests: Vec::new(),
            cseq: 1,
        })
    }
}

/// One call placed by the [`Uac`].
pub struct Call {
    inner: Arc<Inner>,
    /// The Call-ID.
    pub call_id: String,
    target: SocketAddr,
    request_uri: String,
    from: String,
    to: String,
    branch: String,
    invite: Vec<u8>,
    rx: mpsc::UnboundedReceiver<SipMessage>,
    /// When the INVITE was handed to the socket.
    pub sent_at: Instant,
    next_retransmit: Instant,
    /// How many times the INVITE was sent again for want of a response.
    pub retransmissions: u32,
    interval: Duration,
    answered: bool,
    /// Every response received, in order.
    pub responses: Vec<SipMessage>,
    final_status: Option<u16>,
    to_with_tag: Option<String>,
    remote_target: Option<String>,
    /// Every request the softphone sent in this call (already answered).
    pub requests: Vec<SipMessage>,
    cseq: u32,
}

impl Drop for Call {
    fn drop(&mut self) {
        lock(&self.inner.calls).remove(&self.call_id);
    }
}

impl Call {
    /// The final status of the INVITE, once received.
    pub fn final_status(&self) -> Option<u16> {
        self.final_status
    }

    /// The first response with `code` received so far.
    pub fn response(&self, code: u16) -> Option<&SipMessage> {
        self.responses.iter().find(|r| r.status() == Some(code))
    }

    async fn handle(&mut self, msg: SipMessage) {
        if msg.method().is_some() {
            self.requests.push(msg);
            return;
        }
        let Some(code) = msg.status() else { return };
        if msg.cseq_method() == Some("INVITE") {
            self.answered = true;
            if code >= 200 {
                if self.to_with_tag.is_none() {
                    self.to_with_tag = msg.header("To").map(str::to_string);
                }
                if code < 300 && self.remote_target.is_none() {
                    self.remote_target = msg.header("Contact").map(|c| {
                        let c = c.trim();
                        match (c.find('<'), c.find('>')) {
                            (Some(a), Some(b)) if a < b => c[a + 1..b].to_string(),
                            _ => c.to_string(),
                        }
                    });
                }
                if self.final_status.is_none() {
                    self.final_status = Some(code);
                }
                self.send_ack(code, &msg).await;
            }
        }
        self.responses.push(msg);
    }

    async fn send_ack(&self, code: u16, resp: &SipMessage) {
        let to = resp.header("To").unwrap_or(&self.to);
        let host = self.inner.local;
        let msg = if code < 300 {
            let uri = self
                .remote_target
                .clone()
                .unwrap_or_else(|| self.request_uri.clone());
            format!(
                "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {host};branch={};rport\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
                self.inner.branch(),
                self.from,
                self.call_id
            )
        } else {
            format!(
                "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {host};branch={};rport\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
                self.request_uri, self.branch, self.from, self.call_id
            )
        };
        let _ = self.inner.send(self.target, msg.as_bytes()).await;
    }

    /// Reads what arrives until `done` holds or `limit` passes; retransmits
    /// the INVITE (T1 = 500 ms, doubling) until the first response.
    async fn pump(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Call) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if done(self) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "call {}: nothing matching within {} ms; responses so far: [{}]",
                    self.call_id,
                    limit.as_millis(),
                    self.responses
                        .iter()
                        .map(|r| r.start.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let wake = if self.answered {
                deadline
            } else {
                deadline.min(self.next_retransmit)
            };
            match tokio::time::timeout_at(tokio::time::Instant::from_std(wake), self.rx.recv())
                .await
            {
                Ok(Some(msg)) => self.handle(msg).await,
                Ok(None) => return Err("the user agent stopped".into()),
                Err(_) => {
                    if !self.answered && Instant::now() >= self.next_retransmit {
                        let _ = self.inner.send(self.target, &self.invite).await;
                        self.retransmissions += 1;
                        self.interval = (self.interval * 2).min(Duration::from_secs(4));
                        self.next_retransmit = Instant::now() + self.interval;
                    }
                }
            }
        }
    }

    /// Waits for a response to the INVITE with `code`.
    pub async fn wait_status(&mut self, code: u16, limit: Duration) -> Result<SipMessage, String> {
        self.pump(limit, |c| c.response(code).is_some()).await?;
        self.response(code)
            .cloned()
            .ok_or_else(|| "no response".to_string())
    }

    /// Waits for the final response to the INVITE; returns its code.
    pub async fn wait_final(&mut self, limit: Duration) -> Result<u16, String> {
        self.pump(limit, |c| c.final_status.is_some()).await?;
        self.final_status.ok_or_else(|| "no final response".into())
    }

    /// Waits for a request from the softphone (it has been answered `200 OK`).
    pub async fn wait_request(
        &mut self,
        method: &str,
        limit: Duration,
    ) -> Result<SipMessage, String> {
        let m = method.to_string();
        self.pump(limit, |c| c.requests.iter().any(|r| r.method() == Some(&m)))
            .await?;
        self.requests
            .iter()
            .find(|r| r.method() == Some(method))
            .cloned()
            .ok_or_else(|| format!("no {method}"))
    }

    /// Cancels the ringing call and waits for the INVITE's final response
    /// (487, acknowledged).
    pub async fn cancel(&mut self, limit: Duration) -> Result<u16, String> {
        let host = self.inner.local;
        let msg = format!(
            "CANCEL {} SIP/2.0\r\nVia: SIP/2.0/UDP {host};branch={};rport\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
            self.request_uri, self.branch, self.from, self.to, self.call_id
        );
        self.inner
            .send(self.target, msg.as_bytes())
            .await
            .map_err(|e| format!("cannot send CANCEL: {e}"))?;
        // CANCEL is a non-INVITE transaction: retransmit at T1, doubling,
        // until it is answered.
        let answered = |c: &Call| {
            c.final_status.is_some()
                || c.responses
                    .iter()
                    .any(|r| r.cseq_method() == Some("CANCEL"))
        };
        let deadline = Instant::now() + limit;
        let mut interval = Duration::from_millis(500);
        loop {
            let step = (Instant::now() + interval).min(deadline);
            let _ = self
                .pump(step.saturating_duration_since(Instant::now()), answered)
                .await;
            if answered(self) || Instant::now() >= deadline {
                break;
            }
            let _ = self.inner.send(self.target, msg.as_bytes()).await;
            interval = (interval * 2).min(Duration::from_secs(4));
        }
        self.wait_final(deadline.saturating_duration_since(Instant::now()))
            .await
    }

    /// Hangs up an answered call with BYE and waits for its `200 OK`.
    pub async fn bye(&mut self, limit: Duration) -> Result<(), String> {
        let to = self
            .to_with_tag
            .clone()
            .ok_or("the call was never answered")?;
        let uri = self
            .remote_target
            .clone()
            .unwrap_or_else(|| self.request_uri.clone());
        self.cseq += 1;
        let host = self.inner.local;
        let msg = format!(
            "BYE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {host};branch={};rport\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} BYE\r\nContent-Length: 0\r\n\r\n",
            self.inner.branch(),
            self.from,
            self.call_id,
            self.cseq
        );
        self.inner
            .send(self.target, msg.as_bytes())
            .await
            .map_err(|e| format!("cannot send BYE: {e}"))?;
        self.pump(limit, |c| {
            c.responses
                .iter()
                .any(|r| r.cseq_method() == Some("BYE") && r.status().is_some_and(|s| s >= 200))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_user_parts() {
        assert_eq!(escape_user("+81312345678"), "+81312345678");
        assert_eq!(escape_user("a b;c"), "a%20b%3Bc");
        assert_eq!(escape_user("$(x)"), "%24(x)");
        assert_eq!(escape_user("田"), "%E7%94%B0");
        assert_eq!(escape_user("a\r\nb"), "a%0D%0Ab");
    }

    #[test]
    fn quotes_display_names() {
        assert_eq!(quote_display(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote_display("x\r\ny"), "\"x  y\"");
    }

    #[test]
    fn parses_a_response() {
        let raw = b"SIP/2.0 180 Ringing\r\nv: SIP/2.0/UDP h;branch=z\r\ni: abc\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n";
        let m = SipMessage::parse(raw, "127.0.0.1:1".parse().unwrap(), Instant::now()).unwrap();
        assert_eq!(m.status(), Some(180));
        assert_eq!(m.call_id(), Some("abc"));
        assert_eq!(m.cseq_method(), Some("INVITE"));
        assert_eq!(m.method(), None);
    }

    #[test]
    fn contact_addresses() {
        assert_eq!(
            contact_addr("<sip:1910@127.0.0.1:5062;ob>"),
            Some("127.0.0.1:5062".parse().unwrap())
        );
        assert_eq!(
            contact_addr("sip:1910@127.0.0.1:5070"),
            Some("127.0.0.1:5070".parse().unwrap())
        );
    }
}
