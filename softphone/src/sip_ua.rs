//! The softphone's SIP driver: one rsipstack endpoint, the registration loop,
//! and the dialogs of incoming calls. It turns wire events into
//! [`phone::Input`](crate::phone::Input)s and carries out the phone's
//! [`Action`](crate::phone::Action)s; it decides nothing itself.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use bb_sip::headers::{addr_user, first_value, uri_user};
use bb_sip::sdp::AudioSdp;
use rsipstack::EndpointBuilder;
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::dialog::registration::{Registration, backoff_interval, refresh_interval};
use rsipstack::sip::{Auth, HostWithPort, Method, Scheme, StatusCode, Uri};
use rsipstack::transaction::endpoint::{EndpointInner, EndpointOption};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::{TransportLayer, udp::UdpConnection};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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
}

struct CallLeg {
    dialog: InviteDialog,
    answer: Vec<u8>,
    _rtp: Arc<UdpSocket>,
}

/// The running SIP side of the softphone.
#[derive(Clone)]
pub struct SipUa {
    endpoint: Arc<EndpointInner>,
    dialog_layer: Arc<DialogLayer>,
    local: SocketAddr,
    user: String,
    calls: Arc<Mutex<HashMap<CallKey, CallLeg>>>,
    next_key: Arc<Mutex<CallKey>>,
    events: mpsc::UnboundedSender<SipEvent>,
}

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
    let probe = std::net::UdpSocket::bind(SocketAddr::new(
        if server.is_ipv4() {
            [0, 0, 0, 0].into()
        } else {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        },
        0,
    ))?;
    probe.connect(server)?;
    Ok(probe.local_addr()?.ip())
}

impl SipUa {
    /// Binds, starts the endpoint and the registration loop.
    pub async fn start(
        settings: &crate::config::Settings,
        events: mpsc::UnboundedSender<SipEvent>,
        cancel: CancellationToken,
    ) -> anyhow::Result<SipUa> {
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
        let transport_layer = TransportLayer::new(cancel.child_token());
        let conn = UdpConnection::create_connection(bind, None, Some(cancel.child_token()))
            .await
            .with_context(|| format!("cannot bind the SIP socket on {bind}"))?;
        let local = conn
            .get_addr()
            .get_socketaddr()
            .context("bound SIP address")?;
        transport_layer.add_transport(conn.into());
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport_layer)
            .with_user_agent(concat!("bbclient/", env!("CARGO_PKG_VERSION")))
            .with_option(EndpointOption {
                callid_suffix: Some("bbclient".to_string()),
                t1: Duration::from_millis(settings.raw.sip.t1_ms),
                t1x64: Duration::from_millis(settings.raw.sip.t1_ms * 64),
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
            user: settings.raw.account.user.clone(),
            calls: Arc::new(Mutex::new(HashMap::new())),
            next_key: Arc::new(Mutex::new(0)),
            events,
        };
        let me = ua.clone();
        tokio::spawn(async move {
            while let Some(tx) = incoming.recv().await {
                let me = me.clone();
                tokio::spawn(async move { me.handle(tx).await });
            }
        });
        let credential = Credential {
            username: settings.raw.account.user.clone(),
            password: settings.raw.account.password.clone(),
            realm: None,
            auth_username: None,
        };
        tokio::spawn(ua.clone().registration_loop(
            settings.server,
            credential,
            settings.raw.account.expires,
            cancel,
        ));
        Ok(ua)
    }

    /// The bound SIP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    async fn registration_loop(
        self,
        server: SocketAddr,
        credential: Credential,
        expires: u32,
        cancel: CancellationToken,
    ) {
        let server_uri = uri(None, server);
        let mut reg = Registration::new(self.endpoint.clone(), Some(credential.clone()));
        let mut failures = 0u32;
        loop {
            let wait = match reg.register(server_uri.clone(), Some(expires)).await {
                Ok(resp) if resp.status_code == StatusCode::OK => {
                    failures = 0;
                    let granted = reg.expires();
                    let _ = self
                        .events
                        .send(SipEvent::Registration(RegState::Registered {
                            expires: granted,
                        }));
                    refresh_interval(granted)
                }
                outcome => {
                    let reason = match outcome {
                        Ok(resp) => format!(
                            "server answered {} {}",
                            u16::from(resp.status_code.clone()),
                            resp.reason_phrase().unwrap_or_default()
                        ),
                        Err(e) => format!("no answer from {server}: {e}"),
                    };
                    let wait = backoff_interval(failures);
                    failures += 1;
                    let _ = self.events.send(SipEvent::Registration(RegState::Failed {
                        reason,
                        retry_in: wait.as_secs(),
                    }));
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => break,
            }
        }
        // Unregister on exit; bounded so that shutdown never hangs.
        let mut bye = Registration::new(self.endpoint.clone(), Some(credential));
        let _ =
            tokio::time::timeout(Duration::from_secs(2), bye.register(server_uri, Some(0))).await;
        let _ = self
            .events
            .send(SipEvent::Registration(RegState::Unregistered));
    }

    async fn handle(&self, mut tx: Transaction) {
        let method = tx.original.method.clone();
        let result = match method {
            Method::Options => tx.reply(StatusCode::OK).await,
            Method::Ack => Ok(()),
            _ => {
                if let Some(mut dialog) = self.dialog_layer.match_dialog(&tx) {
                    dialog.handle(&mut tx).await
                } else if method == Method::Invite {
                    self.incoming_invite(tx).await;
                    Ok(())
                } else {
                    tx.reply(StatusCode::CallTransactionDoesNotExist).await
                }
            }
        };
        if let Err(e) = result {
            tracing::warn!(%method, error = %e, "answering a request failed");
        }
    }

    async fn incoming_invite(&self, mut tx: Transaction) {
        let req = &tx.original;
        let offer = match AudioSdp::parse(&req.body) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "refusing an INVITE whose SDP we cannot use");
                let _ = tx.reply(StatusCode::NotAcceptableHere).await;
                return;
            }
        };
        let Some(format) = offer
            .formats
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case("PCMU") || f.name.eq_ignore_ascii_case("PCMA"))
            .cloned()
        else {
            let _ = tx.reply(StatusCode::NotAcceptableHere).await;
            return;
        };
        let rtp = match UdpSocket::bind(SocketAddr::new(self.local.ip(), 0)).await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                tracing::error!(error = %e, "no RTP port for an incoming call");
                let _ = tx.reply(StatusCode::ServerInternalError).await;
                return;
            }
        };
        let rtp_addr = match rtp.local_addr() {
            Ok(a) => a,
            Err(_) => {
                let _ = tx.reply(StatusCode::ServerInternalError).await;
                return;
            }
        };
        let mut formats = vec![format];
        if let Some(te) = offer
            .formats
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case("telephone-event"))
        {
            formats.push(te.clone());
        }
        let answer = AudioSdp {
            addr: rtp_addr.ip(),
            port: rtp_addr.port(),
            formats,
            direction: offer.direction.answer_to(),
            ptime: Some(20),
        }
        .render(rand::random::<u32>() as u64, 1)
        .into_bytes();

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
        };
        let (sender, mut receiver) = self.dialog_layer.new_dialog_state_channel();
        let contact = uri(Some(&self.user), self.local);
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
        let key = {
            let mut n = lock(&self.next_key);
            *n += 1;
            *n
        };
        lock(&self.calls).insert(
            key,
            CallLeg {
                dialog: dialog.clone(),
                answer,
                _rtp: rtp,
            },
        );
        let mut handler = dialog.clone();
        tokio::spawn(async move {
            if let Err(e) = handler.handle(&mut tx).await {
                tracing::debug!(error = %e, "INVITE transaction ended with an error");
            }
        });
        let events = self.events.clone();
        let calls = self.calls.clone();
        let dialog_layer = self.dialog_layer.clone();
        tokio::spawn(async move {
            while let Some(state) = receiver.recv().await {
                match state {
                    DialogState::Confirmed(_, _) => {
                        let _ = events.send(SipEvent::Call(Input::Confirmed { key }));
                    }
                    DialogState::Terminated(id, reason) => {
                        let cause = match reason {
                            TerminatedReason::UacCancel
                            | TerminatedReason::UacBye
                            | TerminatedReason::UasBye => EndCause::RemoteHangup,
                            TerminatedReason::UasBusy | TerminatedReason::UasDecline => {
                                EndCause::Rejected
                            }
                            _ => EndCause::Failed,
                        };
                        let _ = events.send(SipEvent::Call(Input::Ended { key, cause }));
                        dialog_layer.remove_dialog(&id);
                        lock(&calls).remove(&key);
                        break;
                    }
                    _ => {}
                }
            }
        });
        let _ = self
            .events
            .send(SipEvent::Call(Input::Incoming { key, facts }));
    }

    /// Sends 180 Ringing.
    pub fn ring(&self, key: CallKey) {
        if let Some(leg) = lock(&self.calls).get(&key) {
            if let Err(e) = leg.dialog.ringing(None, None) {
                tracing::warn!(error = %e, "cannot send 180");
            }
        }
    }

    /// Sends 200 OK with the SDP answer.
    pub fn accept(&self, key: CallKey) {
        if let Some(leg) = lock(&self.calls).get(&key) {
            let headers = vec![bb_sip::headers::make("Content-Type", "application/sdp")];
            if let Err(e) = leg.dialog.accept(Some(headers), Some(leg.answer.clone())) {
                tracing::warn!(error = %e, "cannot send 200");
            }
        }
    }

    /// Rejects a ringing call.
    pub fn reject(&self, key: CallKey, code: u16) {
        if let Some(leg) = lock(&self.calls).remove(&key) {
            if let Err(e) = leg.dialog.reject(Some(StatusCode::from(code)), None) {
                tracing::warn!(error = %e, "cannot reject");
            }
        }
    }

    /// Sends BYE.
    pub fn bye(&self, key: CallKey) {
        if let Some(leg) = lock(&self.calls).remove(&key) {
            tokio::spawn(async move {
                if let Err(e) = leg.dialog.bye().await {
                    tracing::warn!(error = %e, "BYE failed");
                }
            });
        }
    }
}
