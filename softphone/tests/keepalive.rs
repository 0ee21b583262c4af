//! The NAT keep-alive on the wire (`[sip] keepalive_s`): after registering,
//! the phone sends RFC 5626's double CRLF to its server, as a datagram over
//! UDP and on the registration's connection over TCP (where the server
//! answers a single CRLF, the pong); with `keepalive_s = 0` it sends none.
//! The server is a stub on loopback that answers REGISTER with 200.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use common::{Phone, scratch};

/// A 200 OK to the REGISTER `req` (its Via, From, To, Call-ID, CSeq and
/// Contact copied; a To tag added).
fn ok_to(req: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for line in req.lines() {
        let name = line.split(':').next().unwrap_or_default().trim();
        match name.to_ascii_lowercase().as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{line}\r\n")),
            "to" => out.push_str(&format!("{line};tag=stub\r\n")),
            "contact" => out.push_str(&format!("{line};expires=3600\r\n")),
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

fn settings(server: &str, transport: &str, keepalive_s: u64) -> String {
    format!(
        "[account]\nserver = \"{server}\"\nuser = \"1910\"\npassword = \"pw\"\n\
         local_addr = \"127.0.0.1:0\"\ntransport = \"{transport}\"\nexpires = 3600\n\n\
         [sip]\nkeepalive_s = {keepalive_s}\n"
    )
}

/// UDP: how many keep-alive datagrams arrive within `window` after the
/// registration.
fn udp_keepalives(name: &str, keepalive_s: u64, window: Duration) -> usize {
    let dir = scratch(name);
    let server = UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
    let addr = server.local_addr().expect("bound");
    let mut phone = Phone::start(&dir, name, &settings(&addr.to_string(), "udp", keepalive_s));
    let mut buf = [0u8; 4096];
    server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (n, from) = server.recv_from(&mut buf).expect("the REGISTER arrives");
    let req = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(req.starts_with("REGISTER "), "{req}");
    server
        .send_to(ok_to(&req).as_bytes(), from)
        .expect("200 sent");
    phone.proc.expect_line("registered as 1910", 10);
    let deadline = Instant::now() + window;
    let mut pings = 0;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        server
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        match server.recv_from(&mut buf) {
            Ok((n, f)) if &buf[..n] == b"\r\n\r\n" && f == from => pings += 1,
            Ok((n, _)) => panic!(
                "{name}: expected only keep-alives, got: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(_) => break,
        }
    }
    phone.proc.stop();
    pings
}

#[test]
fn over_udp_the_phone_sends_double_crlf_keepalives_from_its_sip_port() {
    let pings = udp_keepalives("keepalive-udp", 1, Duration::from_secs(4));
    assert!(pings >= 2, "{pings} keep-alives in 4 s at one a second");
}

#[test]
fn with_keepalive_s_0_the_phone_sends_none() {
    let pings = udp_keepalives("keepalive-off", 0, Duration::from_secs(3));
    assert_eq!(pings, 0);
}

#[test]
fn over_tcp_the_keepalive_goes_on_the_registrations_connection_and_the_pong_is_taken() {
    let dir = scratch("keepalive-tcp");
    let listener = TcpListener::bind("127.0.0.1:0").expect("a TCP port");
    let addr = listener.local_addr().expect("bound");
    let mut phone = Phone::start(
        &dir,
        "keepalive-tcp",
        &settings(&addr.to_string(), "tcp", 1),
    );
    let (stream, _) = listener.accept().expect("the phone connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    // The REGISTER: header lines up to the empty line (no body).
    let mut req = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("the REGISTER arrives");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        req.push_str(&line);
    }
    assert!(req.starts_with("REGISTER "), "{req}");
    writer.write_all(ok_to(&req).as_bytes()).expect("200 sent");
    phone.proc.expect_line("registered as 1910", 10);
    // Two pings on this same connection, each answered with a pong.
    for n in 1..=2 {
        let mut ping = [0u8; 4];
        reader
            .read_exact(&mut ping)
            .unwrap_or_else(|e| panic!("keep-alive {n} did not come on the connection: {e}"));
        assert_eq!(&ping, b"\r\n\r\n", "keep-alive {n}");
        writer.write_all(b"\r\n").expect("pong sent");
    }
    assert!(
        !phone.proc.try_expect_line("registration failed", 1),
        "the pong upset the phone"
    );
    phone.proc.stop();
}
