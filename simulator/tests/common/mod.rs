//! Test rig: an in-process simulator on loopback and rsipstack phones that
//! register as extensions, answer, hold, transfer and hang up, each with a
//! real RTP socket that can play a tone through `simulator::media`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rsipstack::EndpointBuilder;
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::dialog::registration::Registration;
use rsipstack::sip::{Auth, Header, HostWithPort, Method, Scheme, StatusCode, Uri};
use rsipstack::transaction::endpoint::{EndpointInnerRef, EndpointOption};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::{SipAddr, TransportLayer, udp::UdpConnection};
use serde_json::Value;
use simulator::media::{Codec, MediaEngine, Remote, party_sdp};
use simulator::party::Play;
use simulator::state::SimState;
use simulator::tenant::Tenant;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub const T1: Duration = Duration::from_millis(40);

/// A running simulator.
pub struct Sim {
    pub sip: SocketAddr,
    pub api: String,
    pub state: Arc<SimState>,
    pub cancel: CancellationToken,
    pub http: reqwest::Client,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub async fn sim(tenant: Tenant) -> Sim {
    if let Ok(filter) = std::env::var("SIM_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let cancel = CancellationToken::new();
    let opts = simulator::Options {
        timers: simulator::sip::Timers { t1: T1 },
        ..simulator::Options::loopback()
    };
    let (running, state) = simulator::start_with(tenant, opts, cancel.clone())
        .await
        .expect("the simulator starts");
    Sim {
        sip: running.sip,
        api: format!("http://{}", running.api),
        state,
        cancel,
        http: reqwest::Client::new(),
    }
}

impl Sim {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.api))
            .send()
            .await
            .expect("API answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = self
            .http
            .request(m, format!("{}{path}", self.api))
            .json(&body)
            .send()
            .await
            .expect("API answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Polls `GET path` until `pred` holds (deadline 10 s).
    pub async fn wait(&self, what: &str, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, v) = self.get(path).await;
            if pred(&v) {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; last {path}: {v:#}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_call(&self, id: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait(what, &format!("/api/calls/{id}"), pred).await
    }
}

/// What a phone saw.
#[derive(Debug, Clone)]
pub enum PhoneEvent {
    /// An INVITE arrived.
    Incoming {
        call_id: String,
        from: String,
        pai: Option<String>,
        called_party: Option<String>,
    },
    /// The raw From and P-Asserted-Identity of an INVITE that arrived
    /// (sent just before its `Incoming`).
    InviteHeaders {
        call_id: String,
        from: String,
        pai: Option<String>,
    },
    /// A call (either direction) is up.
    Up { call_id: String },
    /// A re-INVITE arrived with this SDP.
    ReInvite { call_id: String, sdp: String },
    /// A NOTIFY with this sipfrag.
    Notify { call_id: String, sipfrag: String },
    /// A call ended.
    Ended { call_id: String, reason: String },
    /// An outgoing call failed.
    Failed { call_id: String, code: u16 },
}

/// How the phone treats incoming calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// 180, then 200 at once.
    Answer,
    /// 180 only (the test answers with `answer`).
    Ring,
    /// Reject with this code.
    Reject(u16),
}

pub struct Phone {
    pub ext: String,
    /// The tone this phone sends (Hz), distinct per extension.
    pub tone: f32,
    pub local: SocketAddr,
    pub rtp: SocketAddr,
    endpoint: EndpointInnerRef,
    layer: Arc<DialogLayer>,
    server: SocketAddr,
    credential: Credential,
    pub mode: Arc<Mutex<Mode>>,
    calls: Arc<Mutex<HashMap<String, InviteDialog>>>,
    events_tx: mpsc::UnboundedSender<PhoneEvent>,
    events: mpsc::UnboundedReceiver<PhoneEvent>,
    seen: Vec<PhoneEvent>,
    remote_rtp: Arc<Mutex<Option<SocketAddr>>>,
    cancel: CancellationToken,
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// `sip:user@at`, or `sip:at` without a user (an empty user part is not
/// RFC 3261 grammar, and the inbound guard answers it 400).
fn uri(user: &str, at: SocketAddr) -> Uri {
    Uri {
        scheme: Some(Scheme::Sip),
        auth: (!user.is_empty()).then(|| Auth {
            user: user.into(),
            password: None,
        }),
        host_with_port: HostWithPort::from(at),
        params: vec![],
        headers: vec![],
    }
}

fn header(req: &rsipstack::sip::Request, name: &str) -> Option<String> {
    bb_sip::headers::first_value(&req.headers, name).map(str::to_string)
}

impl Phone {
    /// A phone for `ext` (password `pw<ext>`), registered at `server`.
    pub async fn start(ext: &str, server: SocketAddr) -> Phone {
        Phone::start_with(ext, &format!("pw{ext}"), server, true).await
    }

    pub async fn start_with(
        ext: &str,
        password: &str,
        server: SocketAddr,
        register: bool,
    ) -> Phone {
        let cancel = CancellationToken::new();
        let tl = TransportLayer::new(cancel.child_token());
        let conn = UdpConnection::create_connection(
            "127.0.0.1:0".parse().expect("addr"),
            None,
            Some(cancel.child_token()),
        )
        .await
        .expect("phone socket");
        let local = conn.get_addr().get_socketaddr().expect("addr");
        tl.add_transport(conn.into());
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(tl)
            .with_option(EndpointOption {
                t1: T1,
                t1x64: T1 * 64,
                callid_suffix: Some(format!("phone{ext}")),
                ..Default::default()
            })
            .build();
        let mut incoming = endpoint.incoming_transactions().expect("incoming");
        let inner = endpoint.inner.clone();
        let layer = Arc::new(DialogLayer::new(inner.clone()));
        tokio::spawn(async move { endpoint.serve().await });
        let rtp_sock = UdpSocket::bind("127.0.0.1:0").await.expect("rtp");
        let rtp = rtp_sock.local_addr().expect("rtp addr");
        let (events_tx, events) = mpsc::unbounded_channel();
        let credential = Credential {
            username: ext.into(),
            password: password.into(),
            realm: None,
            auth_username: None,
        };
        let tone = 300.0 + (ext.parse::<u32>().unwrap_or(0) % 100) as f32 * 10.0;
        let phone = Phone {
            tone,
            ext: ext.into(),
            local,
            rtp,
            endpoint: inner,
            layer,
            server,
            credential,
            mode: Arc::new(Mutex::new(Mode::Answer)),
            calls: Arc::new(Mutex::new(HashMap::new())),
            events_tx,
            events,
            seen: Vec::new(),
            remote_rtp: Arc::new(Mutex::new(None)),
            cancel,
        };
        // Media: play the phone's tone to whoever the last SDP named.
        {
            let remote = phone.remote_rtp.clone();
            let cancel = phone.cancel.clone();
            tokio::spawn(async move {
                let mut engine = MediaEngine::new(Play::Tone(vec![tone]), Vec::new(), false, 99);
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                let mut buf = [0u8; 2048];
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            let dest = *remote.lock().expect("lock");
                            if let Some(d) = dest {
                                engine.set_remote(Some(Remote { addr: d, codec: Codec::Pcmu, dtmf_pt: Some(101), send: true }));
                                for p in engine.tick() {
                                    let _ = rtp_sock.send_to(&p, d).await;
                                }
                            }
                        }
                        _ = rtp_sock.recv_from(&mut buf) => {}
                        _ = cancel.cancelled() => return,
                    }
                }
            });
        }
        let (layer2, calls, tx, mode, rtp_addr, remote) = (
            phone.layer.clone(),
            phone.calls.clone(),
            phone.events_tx.clone(),
            phone.mode.clone(),
            phone.rtp,
            phone.remote_rtp.clone(),
        );
        tokio::spawn(async move {
            while let Some(t) = incoming.recv().await {
                let (layer, calls, tx, mode, remote) = (
                    layer2.clone(),
                    calls.clone(),
                    tx.clone(),
                    mode.clone(),
                    remote.clone(),
                );
                tokio::spawn(async move {
                    on_request(t, layer, calls, tx, mode, rtp_addr, remote).await;
                });
            }
        });
        if register {
            let status = phone.register(300).await;
            assert_eq!(status, 200, "{ext} registers");
        }
        phone
    }

    pub async fn register(&self, expires: u32) -> u16 {
        let mut reg = Registration::new(self.endpoint.clone(), Some(self.credential.clone()));
        match reg
            .register(uri("", self.server).clone(), Some(expires))
            .await
        {
            Ok(resp) => u16::from(resp.status_code),
            Err(_) => 0,
        }
    }

    pub fn sdp(&self, dir: bb_sip::sdp::Direction) -> Vec<u8> {
        party_sdp(
            self.rtp,
            "PCMU",
            dir,
            &Default::default(),
            42,
            rand_version(),
        )
    }

    /// Calls `number` through the simulator; returns the Call-ID.
    pub async fn call(&self, number: &str) -> String {
        self.call_with(number, None).await
    }

    pub async fn call_with(&self, number: &str, replaces: Option<String>) -> String {
        let mut headers = Vec::new();
        if let Some(r) = replaces {
            headers.push(bb_sip::headers::make("Replaces", r));
        }
        let opt = InviteOption {
            caller: uri(&self.ext, self.local),
            callee: uri(number, self.server),
            destination: Some(SipAddr::from(self.server)),
            content_type: Some("application/sdp".into()),
            offer: Some(self.sdp(bb_sip::sdp::Direction::SendRecv)),
            contact: uri(&self.ext, self.local),
            credential: Some(self.credential.clone()),
            headers: Some(headers),
            ..Default::default()
        };
        let (sender, receiver) = self.layer.new_dialog_state_channel();
        let (dialog, join) = self
            .layer
            .do_invite_async(opt, sender)
            .expect("INVITE sent");
        let call_id = dialog.id().call_id.clone();
        self.calls
            .lock()
            .expect("lock")
            .insert(call_id.clone(), dialog);
        tokio::spawn(watch(
            call_id.clone(),
            receiver,
            self.layer.clone(),
            self.calls.clone(),
            self.events_tx.clone(),
            self.remote_rtp.clone(),
            self.rtp,
            true,
        ));
        let tx = self.events_tx.clone();
        let cid = call_id.clone();
        tokio::spawn(async move {
            if let Ok(Ok((_, Some(resp)))) = join.await {
                let code = u16::from(resp.status_code);
                if code >= 300 {
                    let _ = tx.send(PhoneEvent::Failed { call_id: cid, code });
                }
            }
        });
        call_id
    }

    pub fn dialog(&self, call_id: &str) -> InviteDialog {
        self.calls
            .lock()
            .expect("lock")
            .get(call_id)
            .cloned()
            .unwrap_or_else(|| panic!("{} has no call {call_id}", self.ext))
    }

    /// The dialog's (Call-ID, local tag, remote tag).
    pub fn dialog_id(&self, call_id: &str) -> (String, String, String) {
        let id = self.dialog(call_id).id();
        (id.call_id, id.local_tag, id.remote_tag)
    }

    pub fn answer(&self, call_id: &str) {
        let d = self.dialog(call_id);
        d.accept(
            Some(vec![Header::ContentType("application/sdp".into())]),
            Some(self.sdp(bb_sip::sdp::Direction::SendRecv)),
        )
        .expect("200 sent");
    }

    pub async fn reinvite(&self, call_id: &str, dir: bb_sip::sdp::Direction) -> u16 {
        let d = self.dialog(call_id);
        match d
            .reinvite(
                Some(vec![Header::ContentType("application/sdp".into())]),
                Some(self.sdp(dir)),
            )
            .await
        {
            Ok(Some(r)) => u16::from(r.status_code),
            _ => 0,
        }
    }

    /// Sends REFER with `Refer-To: <refer_to>` (written as given).
    pub async fn refer(&self, call_id: &str, refer_to: &str) -> u16 {
        let d = self.dialog(call_id);
        let target = rsipstack::sip::ReferTo::new(format!("<{refer_to}>"));
        match d.refer(target, None, None).await {
            Ok(Some(r)) => u16::from(r.status_code),
            _ => 0,
        }
    }

    pub async fn hangup(&self, call_id: &str) {
        let d = self.dialog(call_id);
        let _ = d.hangup().await;
    }

    /// Waits (5 s) for an event `pred` accepts; earlier events stay readable in `seen`.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&PhoneEvent) -> bool) -> PhoneEvent {
        if let Some(e) = self.seen.iter().find(|e| pred(e)).cloned() {
            self.seen.retain(|x| !std::ptr::eq(x, &e) && !pred(x));
            return e;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) if pred(&e) => return e,
                Ok(Some(e)) => self.seen.push(e),
                _ => panic!(
                    "{}: timed out waiting for {what}; saw {:#?}",
                    self.ext, self.seen
                ),
            }
        }
    }

    pub async fn incoming(&mut self) -> (String, String, Option<String>, Option<String>) {
        match self
            .expect("an incoming call", |e| {
                matches!(e, PhoneEvent::Incoming { .. })
            })
            .await
        {
            PhoneEvent::Incoming {
                call_id,
                from,
                pai,
                called_party,
            } => (call_id, from, pai, called_party),
            _ => unreachable!("filtered"),
        }
    }

    pub async fn up(&mut self, call_id: &str) {
        let c = call_id.to_string();
        self.expect(
            "the call to be up",
            move |e| matches!(e, PhoneEvent::Up { call_id } if *call_id == c),
        )
        .await;
    }

    pub async fn ended(&mut self, call_id: &str) -> String {
        let c = call_id.to_string();
        match self
            .expect(
                "the call to end",
                move |e| matches!(e, PhoneEvent::Ended { call_id, .. } if *call_id == c),
            )
            .await
        {
            PhoneEvent::Ended { reason, .. } => reason,
            _ => unreachable!("filtered"),
        }
    }
}

fn rand_version() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn remote_of(body: &[u8]) -> Option<SocketAddr> {
    Remote::from_sdp(body).filter(|r| r.send).map(|r| r.addr)
}

#[allow(clippy::too_many_arguments)]
async fn watch(
    call_id: String,
    mut rx: DialogStateReceiver,
    layer: Arc<DialogLayer>,
    calls: Arc<Mutex<HashMap<String, InviteDialog>>>,
    tx: mpsc::UnboundedSender<PhoneEvent>,
    remote: Arc<Mutex<Option<SocketAddr>>>,
    rtp: SocketAddr,
    uac: bool,
) {
    let mut up = false;
    while let Some(s) = rx.recv().await {
        match s {
            DialogState::Confirmed(_, resp) if !up => {
                up = true;
                if let Some(r) = remote_of(&resp.body).filter(|_| uac) {
                    *remote.lock().expect("lock") = Some(r);
                }
                let _ = tx.send(PhoneEvent::Up {
                    call_id: call_id.clone(),
                });
            }
            DialogState::Updated(_, req, handle) => {
                let sdp = String::from_utf8_lossy(&req.body).to_string();
                *remote.lock().expect("lock") = remote_of(&req.body);
                let dir = simulator::sdp_util::direction(&req.body).answer_to();
                let answer = party_sdp(rtp, "PCMU", dir, &Default::default(), 42, rand_version());
                let _ = handle
                    .respond(
                        StatusCode::OK,
                        Some(vec![Header::ContentType("application/sdp".into())]),
                        Some(answer),
                    )
                    .await;
                let _ = tx.send(PhoneEvent::ReInvite {
                    call_id: call_id.clone(),
                    sdp,
                });
            }
            DialogState::Notify(_, req, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
                let _ = tx.send(PhoneEvent::Notify {
                    call_id: call_id.clone(),
                    sipfrag: String::from_utf8_lossy(&req.body).trim().to_string(),
                });
            }
            DialogState::Refer(_, _, handle)
            | DialogState::Options(_, _, handle)
            | DialogState::Info(_, _, handle)
            | DialogState::Message(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Terminated(id, reason) => {
                layer.remove_dialog(&id);
                calls.lock().expect("lock").remove(&call_id);
                // Stop sending: the call is over.
                *remote.lock().expect("lock") = None;
                let _ = tx.send(PhoneEvent::Ended {
                    call_id: call_id.clone(),
                    reason: format!("{reason:?}"),
                });
                break;
            }
            _ => {}
        }
    }
}

async fn on_request(
    mut t: Transaction,
    layer: Arc<DialogLayer>,
    calls: Arc<Mutex<HashMap<String, InviteDialog>>>,
    tx: mpsc::UnboundedSender<PhoneEvent>,
    mode: Arc<Mutex<Mode>>,
    rtp: SocketAddr,
    remote: Arc<Mutex<Option<SocketAddr>>>,
) {
    match t.original.method {
        Method::Ack => {}
        Method::Invite if layer.match_dialog(&t).is_none() => {
            let (sender, receiver) = layer.new_dialog_state_channel();
            let Ok(dialog) = layer.get_or_create_server_invite(&t, sender, None, None) else {
                let _ = t.reply(StatusCode::ServerInternalError).await;
                return;
            };
            let call_id = dialog.id().call_id.clone();
            if let Some(r) = remote_of(&t.original.body) {
                *remote.lock().expect("lock") = Some(r);
            }
            let _ = tx.send(PhoneEvent::InviteHeaders {
                call_id: call_id.clone(),
                from: header(&t.original, "From").unwrap_or_default(),
                pai: header(&t.original, "P-Asserted-Identity"),
            });
            let _ = tx.send(PhoneEvent::Incoming {
                call_id: call_id.clone(),
                from: header(&t.original, "From")
                    .and_then(|v| bb_sip::headers::addr_user(&v))
                    .unwrap_or_default(),
                pai: header(&t.original, "P-Asserted-Identity")
                    .and_then(|v| bb_sip::headers::addr_user(&v)),
                called_party: header(&t.original, "P-Called-Party-ID")
                    .and_then(|v| bb_sip::headers::addr_user(&v)),
            });
            calls
                .lock()
                .expect("lock")
                .insert(call_id.clone(), dialog.clone());
            tokio::spawn(watch(
                call_id,
                receiver,
                layer.clone(),
                calls,
                tx,
                remote,
                rtp,
                false,
            ));
            let m = *mode.lock().expect("lock");
            match m {
                Mode::Reject(code) => {
                    let _ = dialog.reject(Some(StatusCode::from(code)), None);
                }
                Mode::Ring | Mode::Answer => {
                    let _ = dialog.ringing(None, None);
                    if m == Mode::Answer {
                        let _ = dialog.accept(
                            Some(vec![Header::ContentType("application/sdp".into())]),
                            Some(party_sdp(
                                rtp,
                                "PCMU",
                                bb_sip::sdp::Direction::SendRecv,
                                &Default::default(),
                                42,
                                rand_version(),
                            )),
                        );
                    }
                }
            }
            let mut d = dialog;
            let _ = d.handle(&mut t).await;
        }
        _ => {
            if let Some(mut d) = layer.match_dialog(&t) {
                let _ = d.handle(&mut t).await;
            } else {
                let _ = t.reply(StatusCode::CallTransactionDoesNotExist).await;
            }
        }
    }
}
