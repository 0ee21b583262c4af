//! Who may ring the phone and who may move a call (`[sip] accept_calls_from`,
//! `[sip] accept_refer`).
//!
//! A softphone on an office LAN or behind a NAT facing the internet is
//! probed by SIP scanners. By default it takes requests that start
//! something (an INVITE or any other request outside a dialog) only from
//! its server — the registrar, or the outbound proxy when one is set, by the
//! addresses they resolve to — and a REFER only from the server too. The
//! check is on the socket's source address, before the SIP stack sees the
//! datagram: a refused request costs one parse and one 403, never a
//! transaction, an RTP port or a hook. [`AdmittingSocket`] applies it to
//! UDP; the user agent applies [`Admission::judge`] to TCP requests itself.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rsipstack::platform::net::UdpSocket;

/// `[sip] accept_calls_from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptFrom {
    /// The registrar and the outbound proxy only (the default).
    Server,
    /// Anyone (a phone on a closed network that peers call directly).
    Any,
    /// These addresses and networks (and nobody else: list the server too).
    List(Vec<ipnet::IpNet>),
}

/// `[sip] accept_refer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptRefer {
    /// Inside a call, from the server only (the default).
    Server,
    /// Never: every REFER gets 403.
    Never,
    /// Inside a call, from whoever may ring the phone.
    Any,
}

/// The policy, with the addresses the server names resolve to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// Who may start something.
    pub from: AcceptFrom,
    /// Who may move a call.
    pub refer: AcceptRefer,
    /// The registrar's and the outbound proxy's addresses.
    pub server: Vec<IpAddr>,
}

/// Why a request is turned away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The SIP method.
    pub method: String,
    /// The status to answer with.
    pub status: u16,
    /// For the operator's event and the log (ours, no network text).
    pub why: &'static str,
}

impl Admission {
    /// Whether `source` is the server.
    fn is_server(&self, source: IpAddr) -> bool {
        self.server.iter().any(|s| same_ip(*s, source))
    }

    /// Whether `source` may send requests that start something.
    pub fn admits(&self, source: IpAddr) -> bool {
        match &self.from {
            AcceptFrom::Any => true,
            AcceptFrom::Server => self.is_server(source),
            AcceptFrom::List(nets) => nets.iter().any(|n| n.contains(&unmapped(source))),
        }
    }

    /// The refusal of the request `datagram` from `source`, if the policy
    /// turns it away. Responses, ACKs and unreadable datagrams pass (the
    /// inbound guard has dealt with those).
    pub fn judge(&self, datagram: &[u8], source: IpAddr) -> Option<Refusal> {
        // Responses (most of what arrives) pass without a second parse.
        if datagram.starts_with(b"SIP/") {
            return None;
        }
        let facts = bb_sip::inbound::request_facts(datagram)?;
        self.judge_request(&facts.method, facts.in_dialog, source)
    }

    /// Like [`Admission::judge`], for a request already read.
    pub fn judge_request(&self, method: &str, in_dialog: bool, source: IpAddr) -> Option<Refusal> {
        if method.eq_ignore_ascii_case("ACK") {
            return None;
        }
        let refuse = |why| {
            Some(Refusal {
                method: method.to_string(),
                status: 403,
                why,
            })
        };
        if method.eq_ignore_ascii_case("REFER") {
            return match self.refer {
                AcceptRefer::Never => {
                    refuse("REFER is not accepted ([sip] accept_refer = \"never\")")
                }
                AcceptRefer::Server if !self.is_server(source) => {
                    refuse("REFER not from the server ([sip] accept_refer = \"server\")")
                }
                AcceptRefer::Any if !self.admits(source) => {
                    refuse("REFER from an address that may not call ([sip] accept_calls_from)")
                }
                _ => None,
            };
        }
        if !in_dialog && !self.admits(source) {
            return refuse("not from an address that may call ([sip] accept_calls_from)");
        }
        None
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`, so that a dual-stack socket's view of an
/// IPv4 peer compares equal to the IPv4 address.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    unmapped(a) == unmapped(b)
}

/// Parses `[sip] accept_calls_from`: `"server"`, `"any"`, or a list of
/// addresses (`192.0.2.7`) and networks (`10.0.0.0/8`).
pub fn parse_accept_from(words: &[String]) -> Result<AcceptFrom, String> {
    if let [one] = words {
        match one.trim().to_ascii_lowercase().as_str() {
            "server" => return Ok(AcceptFrom::Server),
            "any" => return Ok(AcceptFrom::Any),
            _ => {}
        }
    }
    if words.is_empty() {
        return Err(
            "an empty list lets nobody call; write \"server\", \"any\", or addresses and networks"
                .into(),
        );
    }
    let mut nets = Vec::new();
    for w in words {
        let w = w.trim();
        let net = w
            .parse::<ipnet::IpNet>()
            .or_else(|_| w.parse::<IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                format!(
                    "'{w}' is not an address or a network (write e.g. \"192.0.2.7\" or \"10.0.0.0/8\"; \
                     \"server\" and \"any\" stand alone)"
                )
            })?;
        nets.push(net);
    }
    Ok(AcceptFrom::List(nets))
}

/// Parses `[sip] accept_refer`.
pub fn parse_accept_refer(word: &str) -> Result<AcceptRefer, String> {
    match word.trim().to_ascii_lowercase().as_str() {
        "server" => Ok(AcceptRefer::Server),
        "never" => Ok(AcceptRefer::Never),
        "any" => Ok(AcceptRefer::Any),
        _ => Err(format!(
            "'{word}' is not a REFER policy (write \"server\", \"never\" or \"any\")"
        )),
    }
}

/// One refused request, for the user agent to report.
#[derive(Debug, Clone)]
pub struct Refused {
    /// Where it came from.
    pub source: SocketAddr,
    /// What and why.
    pub refusal: Refusal,
}

/// Reports a refusal (called on the socket's task; must not block).
pub type RefusalObserver = Arc<dyn Fn(Refused) + Send + Sync>;

/// How often one source's refusals are reported: the first, then at most
/// one a minute (a flood is counted, not logged line by line).
const REPORT_EVERY: Duration = Duration::from_secs(60);
/// The sources remembered for that (a flood from spoofed addresses cannot
/// grow it without bound).
const REPORT_TABLE: usize = 1024;

/// The UDP socket rsipstack reads, with the policy applied: a refused
/// request gets its 403 here and the stack never sees it.
pub struct AdmittingSocket {
    inner: Arc<dyn UdpSocket>,
    policy: Arc<RwLock<Admission>>,
    observer: RefusalObserver,
    reported: Mutex<HashMap<(IpAddr, String), Instant>>,
    refused: std::sync::atomic::AtomicU64,
}

impl AdmittingSocket {
    /// Wraps `inner` (the guarded socket) with `policy`, which the user
    /// agent may change at any time (saved settings).
    pub fn new(
        inner: Arc<dyn UdpSocket>,
        policy: Arc<RwLock<Admission>>,
        observer: RefusalObserver,
    ) -> AdmittingSocket {
        AdmittingSocket {
            inner,
            policy,
            observer,
            reported: Mutex::new(HashMap::new()),
            refused: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Tells the observer, unless this source's refusals of this method were
    /// reported less than a minute ago.
    fn report(&self, source: SocketAddr, refusal: Refusal) {
        self.refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = Instant::now();
        let key = (source.ip(), refusal.method.clone());
        {
            let Ok(mut seen) = self.reported.lock() else {
                return;
            };
            if seen
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < REPORT_EVERY)
            {
                return;
            }
            if seen.len() >= REPORT_TABLE {
                seen.retain(|_, t| now.duration_since(*t) < REPORT_EVERY);
                if seen.len() >= REPORT_TABLE {
                    // Still full of recent sources: report nothing new
                    // until they age out; the count goes on.
                    return;
                }
            }
            seen.insert(key, now);
        }
        (self.observer)(Refused { source, refusal });
    }
}

#[async_trait::async_trait]
impl UdpSocket for AdmittingSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (len, from) = self.inner.recv_from(buf).await?;
            let datagram = buf.get(..len).unwrap_or_default();
            let refusal = match self.policy.read() {
                Ok(p) => p.judge(datagram, from.ip()),
                Err(_) => None,
            };
            let Some(refusal) = refusal else {
                return Ok((len, from));
            };
            if let Some(reply) = bb_sip::inbound::refusal(datagram, refusal.status, "Forbidden") {
                let _ = self.inner.send_to(&reply, from).await;
            }
            self.report(from, refusal);
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        self.inner.send_to(buf, addr).await
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_only() -> Admission {
        Admission {
            from: AcceptFrom::Server,
            refer: AcceptRefer::Server,
            server: vec!["192.0.2.10".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn only_the_server_may_start_a_call_by_default() {
        let a = server_only();
        assert_eq!(a.judge_request("INVITE", false, ip("192.0.2.10")), None);
        assert_eq!(
            a.judge_request("INVITE", false, ip("::ffff:192.0.2.10")),
            None
        );
        let r = a.judge_request("INVITE", false, ip("192.0.2.99"));
        assert_eq!(r.map(|r| r.status), Some(403));
        // Any request outside a dialog, not only INVITE.
        assert!(
            a.judge_request("MESSAGE", false, ip("192.0.2.99"))
                .is_some()
        );
        // Inside a dialog (a BYE with both tags) and ACKs are the dialog's
        // business.
        assert_eq!(a.judge_request("BYE", true, ip("192.0.2.99")), None);
        assert_eq!(a.judge_request("ACK", false, ip("192.0.2.99")), None);
    }

    #[test]
    fn refer_follows_its_own_policy() {
        let mut a = server_only();
        assert_eq!(a.judge_request("REFER", true, ip("192.0.2.10")), None);
        assert!(a.judge_request("REFER", true, ip("192.0.2.99")).is_some());
        a.refer = AcceptRefer::Never;
        assert!(a.judge_request("REFER", true, ip("192.0.2.10")).is_some());
        a.refer = AcceptRefer::Any;
        a.from = AcceptFrom::Any;
        assert_eq!(a.judge_request("REFER", true, ip("192.0.2.99")), None);
    }

    #[test]
    fn lists_of_addresses_and_networks() {
        let from = parse_accept_from(&["10.0.0.0/8".into(), "192.0.2.7".into()]);
        let a = Admission {
            from: from.unwrap_or(AcceptFrom::Server),
            refer: AcceptRefer::Server,
            server: vec![],
        };
        assert!(a.admits(ip("10.1.2.3")));
        assert!(a.admits(ip("192.0.2.7")));
        assert!(!a.admits(ip("192.0.2.8")));
        assert_eq!(parse_accept_from(&["ANY".into()]), Ok(AcceptFrom::Any));
        assert!(parse_accept_from(&[]).is_err());
        let e = parse_accept_from(&["10.0.0.0/33".into()]).unwrap_err();
        assert!(
            e.contains("'10.0.0.0/33' is not an address or a network"),
            "{e}"
        );
        assert!(parse_accept_refer("sometimes").is_err());
    }
}
