//! Simulated outside callers: calls from the public network to a company
//! outside line, delivered to the extension that the line routes to.
//!
//! The leg towards the extension carries what BlueBean sends: the caller in
//! `From` and `P-Asserted-Identity`, the called outside line in
//! `P-Called-Party-ID`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bb_sip::headers::make;
use bb_sip::sdp::{AudioSdp, Direction, Format};
use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Auth, HostWithPort, Scheme, Uri};
use rsipstack::transport::SipAddr;
use tokio::net::UdpSocket;

use crate::sip::SipServer;
use crate::state::{CallState, CallView, lock};

/// Why an outside call could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// The number is not an outside line of the tenant.
    #[error("'{0}' is not an outside line of this tenant")]
    UnknownLine(String),
    /// The target extension has no live registration.
    #[error("extension {0} is not registered")]
    NotRegistered(String),
    /// The caller number cannot be put in a SIP URI.
    #[error("caller number '{0}' is empty or too long")]
    BadCaller(String),
    /// The stack refused to send.
    #[error("cannot send INVITE: {0}")]
    Sip(String),
    /// No RTP port.
    #[error("cannot open an RTP port: {0}")]
    Rtp(String),
}

/// The outside callers of one simulator.
#[derive(Clone)]
pub struct OutsideCalls {
    sip: SipServer,
    dialogs: Arc<Mutex<HashMap<u64, InviteDialog>>>,
    next_id: Arc<Mutex<u64>>,
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

impl OutsideCalls {
    /// Outside callers using `sip`.
    pub fn new(sip: SipServer) -> OutsideCalls {
        OutsideCalls {
            sip,
            dialogs: Arc::new(Mutex::new(HashMap::new())),
            next_id: Arc::new(Mutex::new(0)),
        }
    }

    /// Places a call from `from` to the outside line `to`; returns its view.
    pub async fn place(&self, from: &str, to: &str) -> Result<CallView, PlaceError> {
        let state = &self.sip.state;
        if from.is_empty() || from.len() > 256 {
            return Err(PlaceError::BadCaller(from.chars().take(40).collect()));
        }
        let line = state
            .tenant
            .outside_lines
            .get(to)
            .ok_or_else(|| PlaceError::UnknownLine(to.to_string()))?;
        let ext = line.extension.clone();
        let binding = lock(&state.registrar)
            .lookup(&ext, state.now())
            .into_iter()
            .next()
            .ok_or_else(|| PlaceError::NotRegistered(ext.clone()))?;
        let contact: Uri = Uri::try_from(binding.contact.as_str())
            .map_err(|e| PlaceError::Sip(format!("contact '{}': {e}", binding.contact)))?;
        let destination = SipAddr::try_from(&contact)
            .map_err(|e| PlaceError::Sip(format!("contact '{}': {e}", binding.contact)))?;

        let local = self.sip.local;
        let rtp = UdpSocket::bind(SocketAddr::new(local.ip(), 0))
            .await
            .map_err(|e| PlaceError::Rtp(e.to_string()))?;
        let rtp_addr = rtp
            .local_addr()
            .map_err(|e| PlaceError::Rtp(e.to_string()))?;
        let offer = AudioSdp {
            addr: rtp_addr.ip(),
            port: rtp_addr.port(),
            formats: vec![
                Format::new(0, "PCMU", 8000, None, None),
                Format::new(8, "PCMA", 8000, None, None),
                Format::new(101, "telephone-event", 8000, None, Some("0-16")),
            ],
            direction: Direction::SendRecv,
            ptime: Some(20),
        };

        let id = {
            let mut n = lock(&self.next_id);
            *n += 1;
            *n
        };
        let host = SocketAddr::new(local.ip(), local.port());
        let opt = InviteOption {
            caller: sip_uri(from, host),
            callee: sip_uri(&ext, host),
            destination: Some(destination),
            content_type: Some("application/sdp".to_string()),
            offer: Some(offer.render(id, 1).into_bytes()),
            contact: sip_uri(from, host),
            headers: Some(vec![
                make("P-Asserted-Identity", format!("<sip:{from}@{host}>")),
                make("P-Called-Party-ID", format!("<sip:{to}@{host}>")),
            ]),
            ..Default::default()
        };
        let (sender, mut receiver) = self.sip.dialog_layer.new_dialog_state_channel();
        let (dialog, join) = self
            .sip
            .dialog_layer
            .do_invite_async(opt, sender)
            .map_err(|e| PlaceError::Sip(e.to_string()))?;
        let call_id = dialog.id().call_id.clone();
        let view = CallView {
            id,
            call_id: call_id.clone(),
            from: from.to_string(),
            to: to.to_string(),
            extension: ext.clone(),
            state: CallState::Calling,
            end_reason: None,
            rtp_received: 0,
        };
        lock(&state.calls).insert(id, view.clone());
        lock(&self.dialogs).insert(id, dialog);
        state.event(
            "call_placed",
            Some(id),
            serde_json::json!({"from": from, "to": to, "extension": ext, "call_id": call_id}),
        );

        // Media: count what the softphone sends us.
        let st = state.clone();
        let media = tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((n, _)) = rtp.recv_from(&mut buf).await {
                if n >= 12 {
                    st.update_call(id, |c| c.rtp_received += 1);
                }
            }
        });

        let st = state.clone();
        let dialogs = self.dialogs.clone();
        let dialog_layer = self.sip.dialog_layer.clone();
        tokio::spawn(async move {
            while let Some(s) = receiver.recv().await {
                match s {
                    DialogState::Early(_, _) => {
                        let newly = {
                            let mut calls = lock(&st.calls);
                            match calls.get_mut(&id) {
                                Some(c) if c.state == CallState::Calling => {
                                    c.state = CallState::Ringing;
                                    true
                                }
                                _ => false,
                            }
                        };
                        if newly {
                            st.event("call_ringing", Some(id), serde_json::json!({}));
                        }
                    }
                    DialogState::Confirmed(_, _) => {
                        st.update_call(id, |c| c.state = CallState::Answered);
                        st.event("call_answered", Some(id), serde_json::json!({}));
                    }
                    DialogState::Terminated(did, reason) => {
                        let reason = match reason {
                            TerminatedReason::UasBye => "callee_hangup".to_string(),
                            TerminatedReason::UacBye | TerminatedReason::UacCancel => {
                                "caller_hangup".to_string()
                            }
                            TerminatedReason::UasBusy => "busy".to_string(),
                            TerminatedReason::UasDecline => "declined".to_string(),
                            TerminatedReason::Timeout => "timeout".to_string(),
                            other => format!("{other:?}"),
                        };
                        finish(&st, id, &reason);
                        dialog_layer.remove_dialog(&did);
                        break;
                    }
                    _ => {}
                }
            }
            lock(&dialogs).remove(&id);
            media.abort();
        });
        let st = state.clone();
        tokio::spawn(async move {
            if let Ok(Ok((_, Some(resp)))) = join.await {
                let code = u16::from(resp.status_code.clone());
                if code >= 300 {
                    finish(&st, id, &format!("rejected {code}"));
                }
            }
        });
        Ok(view)
    }

    /// The outside caller hangs up: CANCEL while ringing, BYE once answered.
    /// Returns false when there is no such live call.
    pub async fn hangup(&self, id: u64) -> bool {
        let dialog = lock(&self.dialogs).get(&id).cloned();
        let Some(dialog) = dialog else { return false };
        let answered = lock(&self.sip.state.calls)
            .get(&id)
            .is_some_and(|c| c.state == CallState::Answered);
        let result = if answered {
            dialog.bye().await
        } else {
            dialog.cancel().await
        };
        if let Err(e) = result {
            tracing::warn!(call = id, error = %e, "hanging up the outside call failed");
        }
        finish(&self.sip.state, id, "caller_hangup");
        true
    }
}

fn finish(st: &crate::state::SimState, id: u64, reason: &str) {
    let was_live = {
        let mut calls = lock(&st.calls);
        match calls.get_mut(&id) {
            Some(c) if c.state != CallState::Ended => {
                c.state = CallState::Ended;
                c.end_reason = Some(reason.to_string());
                true
            }
            _ => false,
        }
    };
    if was_live {
        st.event(
            "call_ended",
            Some(id),
            serde_json::json!({"reason": reason}),
        );
    }
}
