//! The simulator's SIP driver: one rsipstack endpoint on UDP. It reads what
//! arrives, hands it to the [`Pbx`](crate::pbx::Pbx) core as plain values,
//! and performs the core's [`Action`]s with rsipstack dialogs. It makes no
//! call decisions of its own.
//!
//! What rsipstack does not do is done here, per
//! `shared/notes/rsipstack-0.7.14.md`: 481 for requests outside any dialog,
//! `remove_dialog` on every `Terminated`, keeping an INVITE's server
//! transaction until the ACK of a 407, NOTIFY bodies written by us (its
//! `notify_refer` writes Rust variant names), and — through
//! [`bb_sip::inbound::GuardedUdpSocket`] in front of the socket — 400 (or the
//! right 4xx/5xx) for malformed requests that the stack would silently drop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use bb_sip::headers::{addr_uri, addr_user, first_value, make, percent_decode, uri_user};
use rsipstack::EndpointBuilder;
use rsipstack::dialog::DialogId;
use rsipstack::dialog::dialog::{
    DialogState, DialogStateReceiver, TerminatedReason, TransactionHandle,
};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Auth, Header, HostWithPort, Method, Scheme, StatusCode, Uri};
use rsipstack::transaction::endpoint::EndpointOption;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::{SipAddr, TransportLayer, udp::UdpConnection};

use crate::pbx::{
    Action, DialogKey, InDialogRequest, InboundInvite, InviteDecision, LegId, ReferRequest,
    ReplacesRef, TimerHeaders, TxnId, phrase,
};
use crate::registrar::{RegisterOutcome, RegisterRequest};
use crate::state::{SimState, lock};

/// Timer settings of the endpoint (tests shrink them).
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// RFC 3261 T1.
    pub t1: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
        }
    }
}

/// The SIP side of a running simulator.
pub struct SipDriver {
    /// The bound UDP address.
    pub local: SocketAddr,
    /// The TLS listener's address, when served.
    pub tls_local: Option<SocketAddr>,
    dialog_layer: Arc<DialogLayer>,
    legs: Mutex<HashMap<LegId, InviteDialog>>,
    txns: Mutex<HashMap<TxnId, TransactionHandle>>,
    next_txn: AtomicU64,
    t1x64: Duration,
}

/// Counts the datagrams the inbound guard answered or dropped.
static GUARDED: AtomicU64 = AtomicU64::new(0);

/// Datagrams answered, repaired or dropped by the inbound guard since start.
pub fn guarded_datagrams() -> u64 {
    GUARDED.load(Ordering::Relaxed)
}

/// The socket handed to rsipstack. Hook point for malformed-message
/// handling: with `strict`, every datagram first goes through
/// `bb_sip::inbound` (answers 400/501/505… itself, repairs what the stack
/// would misread); without, the stack reads the socket directly.
fn inbound_socket(
    socket: tokio::net::UdpSocket,
    strict: bool,
) -> Arc<dyn rsipstack::platform::net::UdpSocket> {
    let socket = Arc::new(socket);
    if !strict {
        return socket;
    }
    let observer: bb_sip::inbound::VerdictObserver = Arc::new(|from, verdict| {
        GUARDED.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%from, verdict = %verdict_text(verdict), "inbound datagram not passed as is");
    });
    Arc::new(
        bb_sip::inbound::GuardedUdpSocket::new(socket)
            .with_observer(observer)
            .answering_stun(),
    )
}

fn verdict_text(v: &bb_sip::inbound::Verdict) -> String {
    match v {
        bb_sip::inbound::Verdict::Pass => "pass".into(),
        bb_sip::inbound::Verdict::Rewrite(r) => format!("repaired: {}", r.why),
        bb_sip::inbound::Verdict::Reply(r) => format!("answered {}", r.status),
        bb_sip::inbound::Verdict::Drop(d) => format!("dropped: {d:?}"),
    }
}

fn sip_uri(user: &str, at: SocketAddr) -> Uri {
    Uri {
        scheme: Some(Scheme::Sip),
        auth: Some(Auth {
            user: user.to_string(),
            password: None,
        }),
        host_with_port: HostWithPort::from(at),
        params: vec![],
        headers: vec![],
    }
}

fn key_of(id: &DialogId) -> DialogKey {
    DialogKey {
        call_id: id.call_id.clone(),
        local_tag: id.local_tag.clone(),
        remote_tag: id.remote_tag.clone(),
    }
}

fn body_of(b: &[u8]) -> Option<Vec<u8>> {
    (!b.is_empty()).then(|| b.to_vec())
}

fn sdp_header() -> Header {
    Header::ContentType("application/sdp".into())
}

/// The session-timer headers (RFC 4028) of a message.
fn timer_headers(headers: &rsipstack::sip::Headers) -> TimerHeaders {
    TimerHeaders::from_headers(headers.iter().map(|h| (h.name(), h.value())))
}

/// `Content-Type: application/sdp` when there is a body, then the core's
/// further headers; `None` when there are none at all.
fn with_extra(body: bool, extra: &[(String, String)]) -> Option<Vec<Header>> {
    let mut h: Vec<Header> = Vec::new();
    if body {
        h.push(sdp_header());
    }
    h.extend(extra.iter().map(|(n, v)| make(n, v.clone())));
    (!h.is_empty()).then_some(h)
}

/// Percent-escapes a SIP URI user part for a header we write ourselves:
/// ASCII letters, digits and `- _ . ! ~ * ' ( ) +` stay, every other byte of
/// the UTF-8 becomes `%XX` (RFC 3261 allows more unescaped; escaping more is
/// always valid, and `;`, `?`, `&` stay unambiguous for every parser).
pub fn escape_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()+".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A user part that needs no escaping at all (numbers, extensions).
fn plain_user(user: &str) -> bool {
    !user.is_empty()
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()+#".contains(&b))
}

/// What goes between the quotes of a display name (rsipstack adds the
/// quotes and escapes nothing): `"` and `\` become quoted pairs; control
/// characters other than TAB, which a quoted-string cannot hold (RFC 3261
/// 25.1: CR, LF, NUL, …), become spaces. Non-ASCII text stays (UTF-8 is
/// allowed in a quoted-string).
pub fn display_content(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push(c),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The display name of a name-addr (`"Taro" <sip:…>` → `Taro`).
/// Makes the test PKI, writes the CA's certificate, and adds a TLS
/// listener on `t.bind` to `layer`; the listener's address, the CA file and
/// the server certificate's SHA-256.
async fn tls_listener(
    t: &crate::tls::TlsOptions,
    layer: &TransportLayer,
) -> anyhow::Result<(SocketAddr, std::path::PathBuf, String)> {
    // The listener binds when the endpoint serves: a free port now.
    let bind = if t.bind.port() == 0 {
        let port = std::net::TcpListener::bind(t.bind)
            .and_then(|l| l.local_addr())
            .with_context(|| format!("cannot find a free TCP port on {}", t.bind.ip()))?
            .port();
        SocketAddr::new(t.bind.ip(), port)
    } else {
        t.bind
    };
    let ip = if bind.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        bind.ip()
    };
    let mut names = vec!["localhost".to_string(), ip.to_string()];
    names.extend(t.names.iter().cloned());
    let pki = crate::tls::make_pki(&names, t.expired)?;
    let ca_path = match &t.ca_out {
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!("bluebean-sim-{}-ca.pem", std::process::id())),
    };
    std::fs::write(&ca_path, &pki.ca_pem)
        .with_context(|| format!("cannot write the test CA to {}", ca_path.display()))?;
    let config = rsipstack::transport::tls::TlsConfig {
        cert: Some(pki.cert_pem.into_bytes()),
        key: Some(pki.key_pem.into_bytes()),
        ..Default::default()
    };
    let listener = rsipstack::transport::tls::TlsListenerConnection::new(bind, None, config)
        .await
        .with_context(|| format!("cannot listen for SIP over TLS on {bind}"))?;
    layer.add_transport(listener.into());
    Ok((bind, ca_path, pki.cert_sha256))
}

fn display_name(value: &str) -> Option<String> {
    let v = value.trim();
    let name = if let Some(rest) = v.strip_prefix('"') {
        rest.split('"').next()?.to_string()
    } else {
        v.split('<').next()?.trim().to_string()
    };
    (!name.is_empty() && v.contains('<')).then_some(name)
}

impl SipDriver {
    /// Binds `bind` over UDP, installs the driver in `sim` and serves until
    /// `sim.cancel`.
    pub async fn start(
        bind: SocketAddr,
        tls: Option<&crate::tls::TlsOptions>,
        sim: &Arc<SimState>,
        timers: Timers,
    ) -> anyhow::Result<(SocketAddr, Option<(SocketAddr, std::path::PathBuf, String)>)> {
        let cancel = sim.cancel.clone();
        let transport_layer = TransportLayer::new(cancel.child_token());
        let socket = tokio::net::UdpSocket::bind(bind)
            .await
            .with_context(|| format!("cannot bind SIP UDP socket on {bind}"))?;
        let socket = inbound_socket(socket, sim.tenant.sip.strict_parse);
        let conn = UdpConnection::from_socket(socket, None, Some(cancel.child_token()))
            .await
            .with_context(|| format!("cannot use SIP UDP socket on {bind}"))?;
        let local = conn.get_addr().get_socketaddr().context("bound address")?;
        transport_layer.add_transport(conn.into());
        let tls = match tls {
            Some(t) => Some(tls_listener(t, &transport_layer).await?),
            None => None,
        };
        let option = EndpointOption {
            callid_suffix: Some("bluebean-sim".to_string()),
            t1: timers.t1,
            t1x64: timers.t1 * 64,
            ..Default::default()
        };
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport_layer)
            .with_user_agent("bluebean-sim/0.1")
            .with_option(option)
            .build();
        let mut incoming = endpoint
            .incoming_transactions()
            .context("endpoint incoming transactions")?;
        let dialog_layer = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        sim.set_sip(SipDriver {
            local,
            tls_local: tls.as_ref().map(|t| t.0),
            dialog_layer,
            legs: Mutex::new(HashMap::new()),
            txns: Mutex::new(HashMap::new()),
            next_txn: AtomicU64::new(1),
            t1x64: timers.t1 * 64,
        });
        tokio::spawn(async move { endpoint.serve().await });
        let sim = sim.clone();
        tokio::spawn(async move {
            while let Some(tx) = incoming.recv().await {
                let sim = sim.clone();
                tokio::spawn(async move { handle(sim, tx).await });
            }
        });
        Ok((local, tls))
    }

    /// Our Contact for a leg over `transport`: the TLS listener for TLS.
    fn contact_for(&self, user: &str, transport: Option<rsipstack::sip::Transport>) -> Uri {
        match (transport, self.tls_local) {
            (Some(rsipstack::sip::Transport::Tls), Some(at)) => {
                let mut u = sip_uri(user, at);
                u.params.push(rsipstack::sip::Param::Transport(
                    rsipstack::sip::Transport::Tls,
                ));
                u
            }
            _ => sip_uri(user, self.local),
        }
    }

    fn dialog(&self, leg: LegId) -> Option<InviteDialog> {
        lock(&self.legs).get(&leg).cloned()
    }

    fn hold_txn(&self, handle: TransactionHandle) -> TxnId {
        let id = self.next_txn.fetch_add(1, Ordering::Relaxed);
        lock(&self.txns).insert(id, handle);
        id
    }

    /// Performs one action of the core on a SIP leg.
    pub fn execute(&self, sim: &Arc<SimState>, action: Action) {
        match action {
            Action::Invite {
                leg,
                to_user,
                contact,
                source,
                presented,
                body,
                headers,
            } => self.invite(
                sim, leg, &to_user, &contact, source, presented, body, headers,
            ),
            Action::CallParty { .. } => {}
            Action::Ring { leg, body } => {
                if let Some(d) = self.dialog(leg) {
                    let headers = body.as_ref().map(|_| vec![sdp_header()]);
                    if let Err(e) = d.ringing(headers, body) {
                        tracing::warn!(leg, error = %e, "sending 180 failed");
                    }
                }
            }
            Action::Answer { leg, body, headers } => {
                if let Some(d) = self.dialog(leg) {
                    let headers = with_extra(body.is_some(), &headers);
                    if let Err(e) = d.accept(headers, body) {
                        tracing::warn!(leg, error = %e, "sending 200 failed");
                    }
                }
            }
            Action::Reject { leg, code } => {
                if let Some(d) = self.dialog(leg)
                    && let Err(e) = d.reject(Some(StatusCode::from(code)), None)
                {
                    tracing::warn!(leg, error = %e, "sending {code} failed");
                }
            }
            Action::Cancel { leg } => {
                if let Some(d) = self.dialog(leg) {
                    tokio::spawn(async move {
                        if let Err(e) = d.cancel().await {
                            tracing::debug!(leg, error = %e, "CANCEL failed");
                        }
                    });
                }
            }
            Action::Bye { leg } => {
                if let Some(d) = self.dialog(leg) {
                    tokio::spawn(async move {
                        if let Err(e) = d.bye().await {
                            tracing::debug!(leg, error = %e, "BYE failed");
                        }
                    });
                }
            }
            Action::ReInvite { leg, req, body } => {
                let Some(d) = self.dialog(leg) else {
                    let sim = sim.clone();
                    tokio::spawn(async move {
                        sim.with(|p, now| p.reinvite_done(leg, req, 481, None, now));
                    });
                    return;
                };
                let sim = sim.clone();
                tokio::spawn(async move {
                    let (code, body) = match d.reinvite(Some(vec![sdp_header()]), Some(body)).await
                    {
                        Ok(Some(resp)) => {
                            (u16::from(resp.status_code.clone()), body_of(&resp.body))
                        }
                        Ok(None) => (500, None),
                        Err(e) => {
                            tracing::debug!(leg, error = %e, "re-INVITE failed");
                            (500, None)
                        }
                    };
                    sim.with(|p, now| p.reinvite_done(leg, req, code, body, now));
                });
            }
            Action::Refresh {
                leg,
                req,
                update,
                body,
                headers,
            } => {
                let Some(d) = self.dialog(leg) else {
                    let sim = sim.clone();
                    tokio::spawn(async move {
                        sim.with(|p, now| p.refresh_done(leg, req, 481, None, now));
                    });
                    return;
                };
                let sim = sim.clone();
                tokio::spawn(async move {
                    let headers = with_extra(body.is_some(), &headers);
                    let result = if update {
                        d.update(headers, None).await
                    } else {
                        d.reinvite(headers, body).await
                    };
                    let (code, body) = match result {
                        Ok(Some(resp)) => {
                            (u16::from(resp.status_code.clone()), body_of(&resp.body))
                        }
                        Ok(None) => (408, None),
                        Err(e) => {
                            tracing::debug!(leg, error = %e, "session refresh failed");
                            (408, None)
                        }
                    };
                    sim.with(|p, now| p.refresh_done(leg, req, code, body, now));
                });
            }
            Action::Respond {
                leg,
                txn,
                code,
                body,
                headers,
            } => {
                let Some(handle) = lock(&self.txns).remove(&txn) else {
                    tracing::debug!(leg, txn, "no transaction to answer");
                    return;
                };
                tokio::spawn(async move {
                    let headers = with_extra(body.is_some(), &headers);
                    if let Err(e) = handle.respond(StatusCode::from(code), headers, body).await {
                        tracing::debug!(leg, error = %e, "answering an in-dialog request failed");
                    }
                });
            }
            Action::Notify {
                leg,
                code,
                terminated,
            } => {
                let Some(d) = self.dialog(leg) else { return };
                tokio::spawn(async move {
                    let state = if terminated {
                        "terminated;reason=noresource"
                    } else {
                        "active;expires=60"
                    };
                    let headers = vec![
                        Header::Event("refer".into()),
                        Header::SubscriptionState(state.into()),
                        Header::ContentType("message/sipfrag;version=2.0".into()),
                    ];
                    let body = format!("SIP/2.0 {code} {}\r\n", phrase(code)).into_bytes();
                    if let Err(e) = d.notify(Some(headers), Some(body)).await {
                        tracing::debug!(leg, error = %e, "NOTIFY failed");
                    }
                });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn invite(
        &self,
        sim: &Arc<SimState>,
        leg: LegId,
        to_user: &str,
        contact: &str,
        source: SocketAddr,
        presented: crate::pbx::Presented,
        body: Option<Vec<u8>>,
        extra: Vec<(String, String)>,
    ) {
        let fail = |code: u16, why: String| {
            tracing::warn!(leg, contact, "cannot call: {why}");
            let sim = sim.clone();
            tokio::spawn(async move {
                sim.with(|p, now| p.leg_failed(leg, code, now));
            });
        };
        // The Request-URI is the registered contact (RFC 3261 10.2.1.1), so
        // that CANCEL and every in-dialog request find the phone too.
        let contact_uri = Uri::try_from(contact).ok();
        let destination = contact_uri
            .as_ref()
            .and_then(|u| SipAddr::try_from(u).ok())
            .or_else(|| (source.port() != 0).then(|| SipAddr::from(source)));
        let Some(destination) = destination else {
            fail(480, format!("contact '{contact}' is not a usable address"));
            return;
        };
        let callee = contact_uri.unwrap_or_else(|| sip_uri(to_user, source));
        let host = self.local;
        let mut headers = Vec::new();
        if let Some(pai) = &presented.pai {
            headers.push(make(
                "P-Asserted-Identity",
                format!("<sip:{}@{host}>", escape_user(pai)),
            ));
        }
        if let Some(line) = &presented.called_party {
            headers.push(make("P-Called-Party-ID", format!("<sip:{line}@{host}>")));
        }
        for (name, value) in presented.headers.iter().chain(&extra) {
            headers.push(make(name, value.clone()));
        }
        // A raw caller ID in the Contact would only make the INVITE longer.
        let contact_user = if plain_user(&presented.from_user) {
            presented.from_user.as_str()
        } else {
            "caller"
        };
        let our_contact = self.contact_for(contact_user, destination.r#type);
        let call_id = format!("{}@bluebean-sim", rsipstack::transaction::make_uuid_v4());
        let opt = InviteOption {
            caller_display_name: presented.from_name.as_deref().map(display_content),
            caller: sip_uri(&presented.from_user, host),
            callee,
            destination: Some(destination),
            content_type: body.as_ref().map(|_| "application/sdp".to_string()),
            offer: body,
            contact: our_contact,
            headers: Some(headers),
            call_id: Some(call_id.clone()),
            ..Default::default()
        };
        // The leg knows its Call-ID before the INVITE can be on the wire:
        // a client that sees the phone ring may ask `/api/calls` for it at
        // once. The tags follow when the dialog exists.
        sim.with(|p, _| {
            p.leg_dialog(
                leg,
                DialogKey {
                    call_id,
                    ..DialogKey::default()
                },
            )
        });
        let (sender, receiver) = self.dialog_layer.new_dialog_state_channel();
        let (dialog, join) = match self.dialog_layer.do_invite_async(opt, sender) {
            Ok(x) => x,
            Err(e) => {
                fail(503, format!("INVITE not sent: {e}"));
                return;
            }
        };
        let key = key_of(&dialog.id());
        lock(&self.legs).insert(leg, dialog);
        // No lock is held here: actions run after the core is released.
        sim.with(|p, _| p.leg_dialog(leg, key));
        tokio::spawn(watch(sim.clone(), leg, receiver, false));
        let sim = sim.clone();
        tokio::spawn(async move {
            let code = match join.await {
                Ok(Ok((_, Some(resp)))) => u16::from(resp.status_code.clone()),
                Ok(Ok((_, None))) => 408,
                Ok(Err(e)) => {
                    tracing::debug!(leg, error = %e, "INVITE failed");
                    408
                }
                Err(_) => 500,
            };
            if code >= 300 {
                sim.with(|p, now| p.leg_failed(leg, code, now));
            }
        });
    }
}

fn terminated_code(reason: &TerminatedReason) -> u16 {
    match reason {
        TerminatedReason::Timeout => 408,
        TerminatedReason::UacCancel => 487,
        TerminatedReason::UacBusy | TerminatedReason::UasBusy => 486,
        TerminatedReason::UasDecline => 603,
        TerminatedReason::ProxyError(c)
        | TerminatedReason::UacOther(c)
        | TerminatedReason::UasOther(c) => u16::from(c.clone()),
        TerminatedReason::ProxyAuthRequired => 407,
        TerminatedReason::UacBye | TerminatedReason::UasBye => 487,
    }
}

/// Turns one leg's dialog states into core inputs.
async fn watch(sim: Arc<SimState>, leg: LegId, mut rx: DialogStateReceiver, server: bool) {
    let mut answered = server;
    while let Some(state) = rx.recv().await {
        match state {
            DialogState::Early(_, resp) if !server => {
                let body = body_of(&resp.body);
                sim.with(|p, now| p.leg_ringing(leg, body, now));
            }
            DialogState::Confirmed(id, resp) if !answered => {
                answered = true;
                let body = body_of(&resp.body);
                let key = key_of(&id);
                let timer = timer_headers(&resp.headers);
                sim.with(|p, now| {
                    p.leg_dialog(leg, key);
                    p.leg_session(leg, timer);
                    p.leg_answered(leg, body, now);
                });
            }
            DialogState::Updated(_, req, handle) => {
                // A re-INVITE or an UPDATE: a session refresh either way
                // (RFC 4028), and an offer when it carries SDP.
                let request = InDialogRequest {
                    update: req.method == Method::Update,
                    body: body_of(&req.body),
                    timer: timer_headers(&req.headers),
                };
                let Some(driver) = sim.sip() else { continue };
                let txn = driver.hold_txn(handle);
                sim.with(|p, now| p.in_dialog(leg, txn, request, now));
            }
            DialogState::Refer(_, req, handle) => {
                let refer_to = first_value(&req.headers, "Refer-To").map(str::to_string);
                let Some(refer_to) = refer_to else {
                    let _ = handle.reply(StatusCode::BadRequest).await;
                    continue;
                };
                let target = rsipstack::sip::event_packages::parse_refer_to(&refer_to);
                let user = uri_user(&target.uri).unwrap_or_default();
                let replaces = target.replaces.as_deref().and_then(ReplacesRef::parse);
                if user.is_empty() {
                    let _ = handle.reply(StatusCode::BadRequest).await;
                    continue;
                }
                let Some(driver) = sim.sip() else { continue };
                let txn = driver.hold_txn(handle);
                sim.with(|p, now| {
                    p.refer(
                        leg,
                        txn,
                        ReferRequest {
                            target: user,
                            replaces,
                        },
                        now,
                    )
                });
            }
            DialogState::Info(_, req, handle) => {
                let body = String::from_utf8_lossy(&req.body).to_string();
                let _ = handle.reply(StatusCode::OK).await;
                let call = sim.read(|p, _| p.call_of(leg));
                sim.event("sip_info", call, serde_json::json!({"leg": leg, "body": body.chars().take(200).collect::<String>()}));
            }
            DialogState::Notify(_, _, handle)
            | DialogState::Options(_, _, handle)
            | DialogState::Message(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Publish(_, _, handle) => {
                let _ = handle.reply(StatusCode::MethodNotAllowed).await;
            }
            DialogState::Terminated(id, reason) => {
                if let Some(driver) = sim.sip() {
                    driver.dialog_layer.remove_dialog(&id);
                    lock(&driver.legs).remove(&leg);
                }
                let code = terminated_code(&reason);
                let why = match reason {
                    TerminatedReason::UacBye | TerminatedReason::UasBye => "bye".to_string(),
                    TerminatedReason::UacCancel => "cancel".to_string(),
                    TerminatedReason::Timeout => "timeout".to_string(),
                    other => format!("{other:?}").to_lowercase(),
                };
                sim.with(|p, now| {
                    if answered {
                        p.leg_ended(leg, &why, now);
                    } else {
                        p.leg_failed(leg, code, now);
                    }
                });
                break;
            }
            _ => {}
        }
    }
}

async fn handle(sim: Arc<SimState>, mut tx: Transaction) {
    let method = tx.original.method;
    let Some(driver) = sim.sip() else { return };
    let result = match method {
        Method::Register => register(&sim, &mut tx).await,
        Method::Ack => Ok(()),
        _ => {
            if let Some(mut dialog) = driver.dialog_layer.match_dialog(&tx) {
                dialog.handle(&mut tx).await
            } else if method == Method::Invite {
                invite(&sim, tx).await;
                Ok(())
            } else if method == Method::Options {
                // Keepalive and capability queries outside a dialog.
                tx.reply_with(
                    StatusCode::OK,
                    vec![
                        make("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, REFER, NOTIFY, INFO, UPDATE"),
                        make("Accept", "application/sdp"),
                        make("Supported", "replaces"),
                    ],
                    None,
                )
                .await
            } else {
                tx.reply(StatusCode::CallTransactionDoesNotExist).await
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(%method, error = %e, "answering a request failed");
    }
}

async fn invite(sim: &Arc<SimState>, mut tx: Transaction) {
    let Some(driver) = sim.sip() else { return };
    let req = &tx.original;
    let from = first_value(&req.headers, "From")
        .unwrap_or_default()
        .to_string();
    let from_user = addr_user(&from).unwrap_or_default();
    // The Request-URI's user part, percent-decoded: a `#` in a dialled
    // number travels as `%23` (RFC 3261 §25.1 leaves it out of `user`), and
    // rsip keeps the user part as written.
    let dialled = req
        .uri
        .auth
        .as_ref()
        .map(|a| percent_decode(&a.user))
        .filter(|u| !u.is_empty())
        .or_else(|| first_value(&req.headers, "To").and_then(addr_user))
        .unwrap_or_default();
    let authorization = first_value(&req.headers, "Proxy-Authorization")
        .or_else(|| first_value(&req.headers, "Authorization"))
        .map(str::to_string);
    let replaces = first_value(&req.headers, "Replaces").and_then(ReplacesRef::parse);
    let source = req
        .top_via_received()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let call_id = first_value(&req.headers, "Call-ID")
        .unwrap_or_default()
        .to_string();
    let remote_tag = from
        .split(';')
        .find_map(|p| p.trim().strip_prefix("tag="))
        .unwrap_or_default()
        .to_string();
    let inv = InboundInvite {
        from_user,
        from_name: display_name(&from),
        dialled,
        request_uri: req.uri.to_string(),
        authorization,
        source,
        dialog: DialogKey {
            call_id,
            local_tag: String::new(),
            remote_tag,
        },
        body: body_of(&req.body),
        replaces,
        timer: timer_headers(&req.headers),
    };
    let (decision, actions) = sim.with_deferred(|p, now| p.incoming_invite(inv, now));
    match decision {
        InviteDecision::Accept(leg) => {
            let (sender, receiver) = driver.dialog_layer.new_dialog_state_channel();
            let contact = match &tx.connection {
                Some(rsipstack::transport::SipConnection::Tls(_)) => {
                    Some(driver.contact_for("bluebean", Some(rsipstack::sip::Transport::Tls)))
                }
                _ => driver
                    .dialog_layer
                    .build_local_contact(Some("bluebean".to_string()), None)
                    .ok(),
            };
            let dialog = match driver
                .dialog_layer
                .get_or_create_server_invite(&tx, sender, None, contact)
            {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot create the server dialog");
                    let _ = tx.reply(StatusCode::ServerInternalError).await;
                    sim.with(|p, now| p.leg_ended(leg, "server_error", now));
                    return;
                }
            };
            let key = key_of(&dialog.id());
            lock(&driver.legs).insert(leg, dialog.clone());
            sim.with(|p, _| p.leg_dialog(leg, key));
            tokio::spawn(watch(sim.clone(), leg, receiver, true));
            sim.execute(actions);
            let mut dialog = dialog;
            if let Err(e) = dialog.handle(&mut tx).await {
                tracing::debug!(leg, error = %e, "INVITE transaction ended with an error");
            }
        }
        InviteDecision::Challenge(values) => {
            let headers = values
                .into_iter()
                .map(|v| make("Proxy-Authenticate", v))
                .collect();
            let _ = tx
                .reply_with(StatusCode::ProxyAuthenticationRequired, headers, None)
                .await;
            wait_ack(&mut tx, driver.t1x64).await;
        }
        InviteDecision::TooSmall { min_se } => {
            let _ = tx
                .reply_with(
                    StatusCode::from(422),
                    vec![make("Min-SE", min_se.to_string())],
                    None,
                )
                .await;
            wait_ack(&mut tx, driver.t1x64).await;
        }
        InviteDecision::Refuse { code, reason } => {
            let warning = make(
                "Warning",
                format!("399 bluebean-sim \"{}\"", reason.replace('"', "'")),
            );
            let _ = tx
                .reply_with(StatusCode::from(code), vec![warning], None)
                .await;
            wait_ack(&mut tx, driver.t1x64).await;
        }
    }
}

/// Keeps a server INVITE transaction until the ACK of its failure response
/// (otherwise the ACK would arrive as a stray request).
async fn wait_ack(tx: &mut Transaction, limit: Duration) {
    let _ = tokio::time::timeout(limit, async {
        while let Some(msg) = tx.receive().await {
            if let rsipstack::sip::SipMessage::Request(r) = msg
                && r.method == Method::Ack
            {
                break;
            }
        }
    })
    .await;
}

async fn register(sim: &Arc<SimState>, tx: &mut Transaction) -> rsipstack::Result<()> {
    let headers = &tx.original.headers;
    let Some(user) = first_value(headers, "To").and_then(addr_user) else {
        return tx.reply(StatusCode::BadRequest).await;
    };
    let contacts: Vec<(String, Option<u32>)> = headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("Contact"))
        .flat_map(|h| split_contacts(h.value()))
        .collect();
    let source = tx
        .original
        .top_via_received()
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let req = RegisterRequest {
        user,
        request_uri: tx.original.uri.to_string(),
        authorization: first_value(headers, "Authorization").map(str::to_string),
        contacts,
        expires: first_value(headers, "Expires").and_then(|v| v.trim().parse().ok()),
        source,
    };
    let outcome = sim.with(|p, now| p.register(&req, now));
    match outcome {
        RegisterOutcome::Challenge(values) => {
            let headers = values
                .into_iter()
                .map(|v| make("WWW-Authenticate", v))
                .collect();
            tx.reply_with(StatusCode::Unauthorized, headers, None).await
        }
        RegisterOutcome::Ok(bindings) => {
            let headers = bindings
                .iter()
                .map(|(c, secs)| make("Contact", format!("<{c}>;expires={secs}")))
                .collect();
            tx.reply_with(StatusCode::OK, headers, None).await
        }
        RegisterOutcome::Forbidden | RegisterOutcome::RateLimited => {
            tx.reply(StatusCode::Forbidden).await
        }
        RegisterOutcome::Refused(why) => {
            let warning = make("Warning", format!("399 bluebean-sim \"{why}\""));
            tx.reply_with(StatusCode::Forbidden, vec![warning], None)
                .await
        }
        RegisterOutcome::NotFound => tx.reply(StatusCode::NotFound).await,
    }
}

/// Splits a Contact header value into URIs with their `expires` parameters.
fn split_contacts(value: &str) -> Vec<(String, Option<u32>)> {
    if value.trim() == "*" {
        return vec![("*".to_string(), None)];
    }
    let mut out = Vec::new();
    // Contacts are comma-separated; commas inside <> or quotes do not split.
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let mut parts = Vec::new();
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    for part in parts {
        let Some(uri) = addr_uri(part) else { continue };
        let after = part.rsplit_once('>').map(|(_, p)| p).unwrap_or("");
        let expires = after.split(';').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("expires")
                .then(|| v.trim().parse().ok())
                .flatten()
        });
        out.push((uri.to_string(), expires));
    }
    out
}

trait TopViaReceived {
    /// The request's source address (see [`via_source`]).
    fn top_via_received(&self) -> Option<SocketAddr>;
}

impl TopViaReceived for rsipstack::sip::Request {
    fn top_via_received(&self) -> Option<SocketAddr> {
        use rsipstack::sip::prelude::HeadersExt;
        let via = self.top_via_header().ok()?;
        via_source(via.value())
    }
}

/// Splits `text` at `sep` outside double quotes (a backslash escapes the
/// next character inside them).
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut start) = (false, false, 0);
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&text[start..]);
    out
}

/// An address in a Via (`1.2.3.4`, `[::1]`).
fn via_ip(host: &str) -> Option<std::net::IpAddr> {
    let host = host.trim();
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// The source address of a request from its top Via as rsipstack left it:
/// `received` and `rport`, else the sent-by.
///
/// rsipstack strips a client's `received`/`rport` and writes its own (always
/// both) when the datagram came from elsewhere than the sent-by — except when
/// the sent-by already is the datagram's address and no `rport` was asked
/// for: then it keeps the Via as the client wrote it, `received` included. So
/// a `received` is believed only together with an `rport` value; without
/// one, the sent-by is the source. Only the first Via value counts, and
/// quoted parameter values are not read as parameters: otherwise a client
/// could choose the address the lock-out and nonces are bound to.
fn via_source(text: &str) -> Option<SocketAddr> {
    let first = split_unquoted(text, ',').into_iter().next()?;
    let mut parts = split_unquoted(first, ';').into_iter();
    let sent_by = parts.next()?.split_whitespace().nth(1)?;
    let mut received = None;
    let mut rport = None;
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if k.eq_ignore_ascii_case("received") && received.is_none() {
            received = Some(v.trim());
        } else if k.eq_ignore_ascii_case("rport") && rport.is_none() {
            rport = v.trim().parse::<u16>().ok();
        }
    }
    let (host, port) = match sent_by.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && p.parse::<u16>().is_ok() => (h, p.parse().ok()),
        _ => (sent_by, None),
    };
    match (received.and_then(via_ip), rport) {
        (Some(ip), Some(port)) => Some(SocketAddr::new(ip, port)),
        _ => Some(SocketAddr::new(
            via_ip(host)?,
            rport.or(port).unwrap_or(5060),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_split_with_expires() {
        let v = split_contacts("<sip:a@h;transport=udp>;expires=60, \"x,y\" <sip:b@h>");
        assert_eq!(
            v,
            vec![
                ("sip:a@h;transport=udp".to_string(), Some(60)),
                ("sip:b@h".to_string(), None)
            ]
        );
        assert_eq!(split_contacts("*"), vec![("*".to_string(), None)]);
    }

    #[test]
    fn hostile_caller_ids_are_escaped() {
        assert_eq!(escape_user("0901234567"), "0901234567");
        assert_eq!(escape_user("+81-3*1"), "+81-3*1");
        assert_eq!(escape_user("09;a&b|c"), "09%3Ba%26b%7Cc");
        assert_eq!(escape_user("a\r\n\0 b%"), "a%0D%0A%00%20b%25");
        assert_eq!(escape_user("田"), "%E7%94%B0");
        assert_eq!(display_content("say \"hi\" \\ x"), "say \\\"hi\\\" \\\\ x");
        assert_eq!(display_content("a\r\nb\0c\td"), "a  b c\td");
        assert_eq!(display_content("山田"), "山田");
        assert!(plain_user("0901234567"));
        assert!(!plain_user("09 01"));
        assert!(!plain_user(""));
    }

    #[test]
    fn the_source_is_what_the_transport_wrote_not_what_the_client_claims() {
        let at = |s: &str| s.parse::<SocketAddr>().expect("literal");
        // rsipstack wrote received and rport: the datagram came from there.
        assert_eq!(
            via_source("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;received=192.0.2.7;rport=4000"),
            Some(at("192.0.2.7:4000"))
        );
        // Sent from its sent-by: rsipstack keeps the Via as written, so a
        // `received` without an `rport` value is the client's claim.
        assert_eq!(
            via_source("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1;received=10.0.0.1"),
            Some(at("192.0.2.7:5060"))
        );
        // Neither in a quoted value nor in a second Via value.
        assert_eq!(
            via_source(
                "SIP/2.0/UDP 192.0.2.7:5060;x=\"a,b;received=10.0.0.1;rport=9\";branch=z9hG4bK1"
            ),
            Some(at("192.0.2.7:5060"))
        );
        assert_eq!(
            via_source(
                "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1, SIP/2.0/UDP 1.1.1.1;received=10.0.0.1;rport=9"
            ),
            Some(at("192.0.2.7:5060"))
        );
        assert_eq!(
            via_source("SIP/2.0/UDP 192.0.2.7:5060;rport=5062;branch=z9hG4bK1"),
            Some(at("192.0.2.7:5062"))
        );
        assert_eq!(
            via_source("SIP/2.0/UDP [::1]:5070;branch=z9hG4bK1;received=[::2];rport=6000"),
            Some(at("[::2]:6000"))
        );
        assert_eq!(
            via_source("SIP/2.0/UDP [::1];branch=z9hG4bK1"),
            Some(at("[::1]:5060"))
        );
        assert_eq!(via_source("SIP/2.0/UDP host.example;branch=z9hG4bK1"), None);
    }

    #[test]
    fn display_names() {
        assert_eq!(
            display_name("\"Taro Y\" <sip:1@h>;tag=1").as_deref(),
            Some("Taro Y")
        );
        assert_eq!(display_name("Bob <sip:1@h>").as_deref(), Some("Bob"));
        assert_eq!(display_name("<sip:1@h>"), None);
        assert_eq!(display_name("sip:1@h"), None);
    }
}
