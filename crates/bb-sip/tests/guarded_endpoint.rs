//! `GuardedUdpSocket` in front of a real rsipstack endpoint on loopback: what a
//! peer sees for requests the stack alone would drop, and that good and
//! repaired requests still reach the transaction layer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bb_sip::inbound::{GuardedUdpSocket, Verdict};
use rsipstack::EndpointBuilder;
use rsipstack::platform::CancellationToken;
use rsipstack::sip::StatusCode;
use rsipstack::transport::TransportLayer;
use rsipstack::transport::udp::UdpConnection;
use tokio::net::UdpSocket;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(3);

fn request(method: &str, cseq_method: &str, from_tag: Option<&str>, extra: &str) -> Vec<u8> {
    let tag = from_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:agent@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{method}-{cseq_method}\r\n\
         From: <sip:peer@127.0.0.1>{tag}\r\n\
         To: <sip:agent@127.0.0.1>\r\n\
         Call-ID: guard-{method}@127.0.0.1\r\n\
         CSeq: 1 {cseq_method}\r\n\
         Max-Forwards: 70\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

async fn exchange(peer: &UdpSocket, to: SocketAddr, bytes: &[u8]) -> String {
    peer.send_to(bytes, to).await.expect("send to the endpoint");
    let mut buf = vec![0u8; 8192];
    let (n, _) = timeout(WAIT, peer.recv_from(&mut buf))
        .await
        .expect("an answer within 3 s")
        .expect("recv");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn the_guard_answers_what_the_stack_drops_and_passes_the_rest() {
    let cancel = CancellationToken::new();
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let guarded = GuardedUdpSocket::new(Arc::new(socket)).with_observer(Arc::new(
        move |_from, verdict: &Verdict| {
            let kind = match verdict {
                Verdict::Pass => "pass",
                Verdict::Rewrite(_) => "rewrite",
                Verdict::Reply(_) => "reply",
                Verdict::Drop(_) => "drop",
            };
            log.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(kind.into());
        },
    ));
    let conn = UdpConnection::from_socket(Arc::new(guarded), None, Some(cancel.child_token()))
        .await
        .expect("udp connection");
    let addr = conn.get_addr().get_socketaddr().expect("local address");
    let transport_layer = TransportLayer::new(cancel.child_token());
    transport_layer.add_transport(conn.into());
    let endpoint = EndpointBuilder::new()
        .with_cancel_token(cancel.clone())
        .with_transport_layer(transport_layer)
        .build();
    let mut incoming = endpoint.incoming_transactions().expect("incoming");
    let serve = tokio::spawn(async move { endpoint.serve().await });

    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("peer bind");

    // The stack cannot represent an unknown method: it would say nothing.
    let answer = exchange(
        &peer,
        addr,
        &request("NEWMETHOD", "NEWMETHOD", Some("1"), ""),
    )
    .await;
    assert!(answer.starts_with("SIP/2.0 501 "), "{answer}");
    assert!(
        answer.contains("Call-ID: guard-NEWMETHOD@127.0.0.1\r\n"),
        "{answer}"
    );

    // The stack would process a CSeq/method mismatch; RFC 3261 wants 400.
    let answer = exchange(&peer, addr, &request("OPTIONS", "INVITE", Some("2"), "")).await;
    assert!(
        answer.starts_with("SIP/2.0 400 Bad Request: CSeq method"),
        "{answer}"
    );

    // A good request reaches the transaction layer and gets the TU's answer.
    peer.send_to(&request("OPTIONS", "OPTIONS", Some("3"), ""), addr)
        .await
        .expect("send");
    let mut tx = timeout(WAIT, incoming.recv())
        .await
        .expect("a transaction within 3 s")
        .expect("transaction");
    tx.reply(StatusCode::OK).await.expect("reply 200");
    let mut buf = vec![0u8; 8192];
    let (n, _) = timeout(WAIT, peer.recv_from(&mut buf))
        .await
        .expect("200 within 3 s")
        .expect("recv");
    assert!(buf[..n].starts_with(b"SIP/2.0 200 "));

    // A From without a tag (RFC 2543): the stack alone cannot key it; the
    // repaired copy reaches the transaction layer.
    peer.send_to(&request("INFO", "INFO", None, ""), addr)
        .await
        .expect("send");
    let tx = timeout(WAIT, incoming.recv())
        .await
        .expect("a repaired transaction within 3 s")
        .expect("transaction");
    assert_eq!(tx.original.method, rsipstack::sip::Method::Info);

    let kinds = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(kinds, ["reply", "reply", "rewrite"]);
    cancel.cancel();
    let _ = timeout(WAIT, serve).await;
}
