//! The simulator's SIP driver: one rsipstack endpoint on UDP, the registrar's
//! wire side, and the routing of requests that belong to dialogs.
//!
//! It makes no decisions of its own beyond reading and writing messages: who
//! may register is the [`Registrar`](crate::registrar::Registrar)'s call.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use bb_sip::headers::{addr_uri, addr_user, first_value, make};
use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::{Method, StatusCode};
use rsipstack::transaction::endpoint::EndpointOption;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::{TransportLayer, udp::UdpConnection};
use tokio_util::sync::CancellationToken;

use crate::registrar::{RegisterOutcome, RegisterRequest};
use crate::state::{SimState, lock};

/// A running SIP side of the simulator.
#[derive(Clone)]
pub struct SipServer {
    /// The dialog layer (outside calls are client dialogs on it).
    pub dialog_layer: Arc<DialogLayer>,
    /// The bound UDP address.
    pub local: SocketAddr,
    /// Shared state.
    pub state: Arc<SimState>,
}

impl SipServer {
    /// Binds `bind` over UDP and starts serving until `cancel`.
    pub async fn start(
        bind: SocketAddr,
        state: Arc<SimState>,
        cancel: CancellationToken,
    ) -> anyhow::Result<SipServer> {
        let transport_layer = TransportLayer::new(cancel.child_token());
        let conn = UdpConnection::create_connection(bind, None, Some(cancel.child_token()))
            .await
            .with_context(|| format!("cannot bind SIP UDP socket on {bind}"))?;
        let local = conn.get_addr().get_socketaddr().context("bound address")?;
        transport_layer.add_transport(conn.into());
        let option = EndpointOption {
            callid_suffix: Some("bluebean-sim".to_string()),
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
        let server = SipServer {
            dialog_layer,
            local,
            state,
        };
        tokio::spawn(async move { endpoint.serve().await });
        let me = server.clone();
        tokio::spawn(async move {
            while let Some(tx) = incoming.recv().await {
                let me = me.clone();
                tokio::spawn(async move { me.handle(tx).await });
            }
        });
        Ok(server)
    }

    async fn handle(&self, mut tx: Transaction) {
        let method = tx.original.method;
        let result = match method {
            Method::Register => self.register(&mut tx).await,
            Method::Options => tx.reply(StatusCode::OK).await,
            Method::Ack => Ok(()),
            _ => {
                if let Some(mut dialog) = self.dialog_layer.match_dialog(&tx) {
                    dialog.handle(&mut tx).await
                } else if method == Method::Invite {
                    // Extension-originated calls are routed by the B2BUA (issue 7);
                    // until then say so rather than pretend.
                    tx.reply_with(
                        StatusCode::TemporarilyUnavailable,
                        vec![make(
                            "Warning",
                            "399 bluebean-sim \"calls from extensions are not routed yet\"",
                        )],
                        None,
                    )
                    .await
                } else {
                    tx.reply(StatusCode::CallTransactionDoesNotExist).await
                }
            }
        };
        if let Err(e) = result {
            tracing::warn!(%method, error = %e, "answering a request failed");
        }
    }

    async fn register(&self, tx: &mut Transaction) -> rsipstack::Result<()> {
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
            .connection
            .as_ref()
            .and_then(|_| tx.original.top_via_received())
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let req = RegisterRequest {
            user: user.clone(),
            authorization: first_value(headers, "Authorization").map(str::to_string),
            contacts,
            expires: first_value(headers, "Expires").and_then(|v| v.trim().parse().ok()),
            source,
        };
        let now = self.state.now();
        let outcome = lock(&self.state.registrar).handle_register(&self.state.tenant, &req, now);
        match outcome {
            RegisterOutcome::Challenge(c) => {
                tx.reply_with(
                    StatusCode::Unauthorized,
                    vec![make("WWW-Authenticate", c)],
                    None,
                )
                .await
            }
            RegisterOutcome::Ok(bindings) => {
                let headers = bindings
                    .iter()
                    .map(|(c, secs)| make("Contact", format!("<{c}>;expires={secs}")))
                    .collect();
                self.state.event(
                    "registered",
                    None,
                    serde_json::json!({"extension": user, "bindings": bindings.len()}),
                );
                tx.reply_with(StatusCode::OK, headers, None).await
            }
            RegisterOutcome::Forbidden => {
                self.state.event(
                    "register_failed",
                    None,
                    serde_json::json!({"extension": user, "reason": "wrong credentials"}),
                );
                tx.reply(StatusCode::Forbidden).await
            }
            RegisterOutcome::RateLimited => tx.reply(StatusCode::Forbidden).await,
            RegisterOutcome::NotFound => tx.reply(StatusCode::NotFound).await,
        }
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
    fn top_via_received(&self) -> Option<SocketAddr>;
}

impl TopViaReceived for rsipstack::sip::Request {
    /// The source address as the transport layer recorded it in the top Via
    /// (`received`/`rport`), or the Via's sent-by.
    fn top_via_received(&self) -> Option<SocketAddr> {
        use rsipstack::sip::prelude::HeadersExt;
        let via = self.top_via_header().ok()?;
        let text = via.value().to_string();
        let sent_by = text.split_whitespace().nth(1)?.split(';').next()?;
        let param = |name: &str| {
            text.split(';').find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let host = param("received").unwrap_or_else(|| {
            sent_by
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or(sent_by)
                .to_string()
        });
        let port = param("rport")
            .and_then(|p| p.parse::<u16>().ok())
            .or_else(|| sent_by.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
            .unwrap_or(5060);
        Some(SocketAddr::new(host.parse().ok()?, port))
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
}
