//! Strangers on the network: a host that is not the BlueBean server
//! sends the softphone requests straight to its SIP port. The stranger is a
//! raw user agent on another loopback address of this machine (127.0.0.2 …;
//! the simulator and the softphones are on 127.0.0.1), so its packets reach
//! the softphone with a source address that is not the server's.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use conformance::uac::{InviteSpec, Uac};
use conformance::world::BbWorld;
use cucumber::{then, when};
use serde_json::Value;

use super::cti::{events, state};

/// What the stranger steps remember in a scenario.
#[derive(Default)]
pub(super) struct Stranger {
    /// The final status of the stranger's last INVITE.
    pub last_status: Option<u16>,
    /// The softphone's descriptors and memory before a flood.
    pub before: Option<(usize, u64)>,
}

fn stranger_ip(ip: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("'{ip}' is not an address (write e.g. 127.0.0.2)"))?;
    if !ip.is_loopback() || ip == IpAddr::from([127, 0, 0, 1]) {
        return Err(format!(
            "{ip}: a stranger must be another loopback address than the server's 127.0.0.1 \
             (tests send only to this machine)"
        ));
    }
    Ok(ip)
}

/// A raw UDP socket on the stranger's address, and that address.
async fn bind_stranger(ip: IpAddr) -> Result<(tokio::net::UdpSocket, SocketAddr), String> {
    let sock = tokio::net::UdpSocket::bind(SocketAddr::new(ip, 0))
        .await
        .map_err(|e| format!("cannot bind the stranger on {ip}: {e}"))?;
    let local = sock
        .local_addr()
        .map_err(|e| format!("stranger address: {e}"))?;
    Ok((sock, local))
}

/// An SDP offer from `ip` that the softphone can take (so that an INVITE
/// would ring if it were let through).
fn offer_sdp(ip: IpAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
}

/// Sends the request `msg` to `target` and waits up to 5 s for its final
/// status (provisional answers are read past).
async fn final_status(
    sock: &tokio::net::UdpSocket,
    target: SocketAddr,
    msg: &str,
) -> Result<u16, String> {
    sock.send_to(msg.as_bytes(), target)
        .await
        .map_err(|e| format!("the stranger cannot send: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let (n, _) = tokio::time::timeout(left, sock.recv_from(&mut buf))
            .await
            .map_err(|_| {
                "the softphone gave the stranger's request no final answer within 5 s".to_string()
            })?
            .map_err(|e| format!("the stranger cannot read: {e}"))?;
        let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("the softphone's answer is not a response: {answer}"))?;
        if status >= 200 {
            return Ok(status);
        }
    }
}

/// A stranger at `ip` (a loopback address other than 127.0.0.1, e.g.
/// 127.0.0.2) sends an INVITE from the caller ID `caller` straight to the
/// softphone of extension `ext`, and waits up to 5 s for its final answer.
#[when(expr = "a stranger at {word} rings extension {word} as {word}")]
async fn stranger_rings(
    w: &mut BbWorld,
    ip: String,
    ext: String,
    caller: String,
) -> Result<(), String> {
    let ip = stranger_ip(&ip)?;
    let target = w.contact_of(&ext).await?;
    let uac = Uac::bind(ip, false)
        .await
        .map_err(|e| format!("cannot bind the stranger on {ip}: {e}"))?;
    let spec = InviteSpec {
        request_user: ext.clone(),
        from_user: caller.clone(),
        pai_user: Some(caller),
        to_user: ext,
        ..InviteSpec::default()
    };
    let mut call = uac
        .invite(target, &spec)
        .await
        .map_err(|e| format!("the stranger cannot send its INVITE: {e}"))?;
    let status = call.wait_final(Duration::from_secs(5)).await?;
    state(w).lock().await.stranger.last_status = Some(status);
    Ok(())
}

/// Checks the final status the stranger's last INVITE got, e.g. 403.
#[then(expr = "the stranger's INVITE is answered {int}")]
async fn stranger_answered(w: &mut BbWorld, status: u16) -> Result<(), String> {
    let got = state(w).lock().await.stranger.last_status;
    match got {
        Some(s) if s == status => Ok(()),
        Some(s) => Err(format!(
            "the stranger's request was answered {s}, not {status}\n{}",
            w.transcripts()
        )),
        None => Err("no stranger rang".into()),
    }
}

/// The number of open descriptors and the resident memory (kB) of the
/// softphone of `ext`, from `/proc`.
fn footprint(w: &BbWorld, ext: &str) -> Result<(usize, u64), String> {
    let phone = w
        .phones
        .get(ext)
        .ok_or_else(|| format!("no softphone for extension {ext}"))?;
    let pid = phone
        .proc
        .pid()
        .ok_or_else(|| format!("the softphone of extension {ext} is not running"))?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("cannot list the descriptors of {pid}: {e}"))?
        .count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or("no VmRSS in /proc/PID/status")?;
    Ok((fds, rss))
}

/// A stranger at `ip` sends `count` INVITEs, each a new call with its own
/// Call-ID, straight to the softphone of extension `ext`, as fast as the
/// socket takes them, then waits until the softphone has answered the last
/// one (or 10 s). The softphone's descriptors and memory before the flood
/// are noted for "the softphone of extension … kept its descriptors and
/// memory".
#[when(expr = "a stranger at {word} floods extension {word} with {int} INVITEs")]
async fn stranger_floods(
    w: &mut BbWorld,
    ip: String,
    ext: String,
    count: u32,
) -> Result<(), String> {
    let ip = stranger_ip(&ip)?;
    let target = w.contact_of(&ext).await?;
    let before = footprint(w, &ext)?;
    state(w).lock().await.stranger.before = Some(before);
    let (sock, local) = bind_stranger(ip).await?;
    let last_call_id = format!("flood-{}@{ip}", count.saturating_sub(1));
    // A usable offer, so that each INVITE would ring (a port pair, the
    // hooks) if the softphone took it.
    let sdp = offer_sdp(ip);
    for n in 0..count {
        let msg = format!(
            "INVITE sip:{ext}@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-flood-{n};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:0999999999@{local}>;tag=f{n}\r\nTo: <sip:{ext}@{target}>\r\n\
             Call-ID: flood-{n}@{ip}\r\nCSeq: 1 INVITE\r\nContact: <sip:x@{local}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        sock.send_to(msg.as_bytes(), target)
            .await
            .map_err(|e| format!("the stranger cannot send: {e}"))?;
        if n % 200 == 199 {
            // Let the receiver drain its socket now and then: the test is
            // about what the softphone keeps, not about lost datagrams.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // The answer to the last one says the softphone got through them all.
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, sock.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => {
                if String::from_utf8_lossy(&buf[..n]).contains(&last_call_id) {
                    return Ok(());
                }
            }
            Ok(Err(e)) => return Err(format!("the stranger cannot read: {e}")),
            Err(_) => {
                // Datagrams may be lost under a flood; what counts is what
                // the softphone kept, checked next.
                return Ok(());
            }
        }
    }
}

/// Checks that after the flood the softphone of extension `ext` holds no
/// more than 8 descriptors and 16 MB of memory more than before it: nothing
/// the stranger sent started a call, a port or a hook.
#[then(expr = "the softphone of extension {word} kept its descriptors and memory")]
async fn kept_footprint(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let (fds0, rss0) = state(w)
        .lock()
        .await
        .stranger
        .before
        .ok_or("no flood was sent")?;
    let (fds, rss) = footprint(w, &ext)?;
    if fds > fds0 + 8 || rss > rss0 + 16 * 1024 {
        return Err(format!(
            "the softphone grew from {fds0} to {fds} descriptors and from {rss0} to {rss} kB"
        ));
    }
    Ok(())
}

/// A stranger at `ip` sends the softphone of extension `ext` a REFER to
/// `number`, written as if inside the current outside call (its Call-ID,
/// made-up tags), and waits up to 5 s for the answer, which it keeps.
#[when(expr = "a stranger at {word} sends extension {word} a REFER to {word} in the current call")]
async fn stranger_refers(
    w: &mut BbWorld,
    ip: String,
    ext: String,
    number: String,
) -> Result<(), String> {
    let ip = stranger_ip(&ip)?;
    let target = w.contact_of(&ext).await?;
    let call_id = w.last_call_state().await?["call_id"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    let (sock, local) = bind_stranger(ip).await?;
    let msg = format!(
        "REFER sip:{ext}@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-refer-1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:0312345678@{local}>;tag=stranger\r\nTo: <sip:{ext}@{target}>;tag=guess\r\n\
         Call-ID: {call_id}\r\nCSeq: 9 REFER\r\nContact: <sip:x@{local}>\r\n\
         Refer-To: <sip:{number}@{local}>\r\nContent-Length: 0\r\n\r\n"
    );
    let status = final_status(&sock, target, &msg).await?;
    state(w).lock().await.stranger.last_status = Some(status);
    Ok(())
}

/// Checks the status the stranger's last request got (INVITE or REFER).
#[then(expr = "the stranger's request is answered {int}")]
async fn stranger_request_answered(w: &mut BbWorld, status: u16) -> Result<(), String> {
    stranger_answered(w, status).await
}

/// Checks that the softphone of extension `ext` reported a `refused` event
/// for a `method` request (INVITE, REFER) from the address `ip`, within 5 s.
#[then(expr = "the softphone of extension {word} reports a refused {word} from {word}")]
async fn reports_refused(
    w: &mut BbWorld,
    ext: String,
    method: String,
    ip: String,
) -> Result<(), String> {
    let found = w
        .wait_for(&format!("a refused {method} event"), 5, || async {
            events(w, &ext).await.ok()?.into_iter().find(|e: &Value| {
                e["event"] == "refused"
                    && e["request"] == method.as_str()
                    && e["source"]
                        .as_str()
                        .is_some_and(|s| s.starts_with(&format!("{ip}:")))
            })
        })
        .await;
    found.map(|_| ())
}

/// Checks, after a barrier step, that the simulator saw no call from
/// extension `ext` to `number`: the softphone did not dial what a stranger
/// asked for.
#[then(expr = "extension {word} did not call {word}")]
async fn did_not_call(w: &mut BbWorld, ext: String, number: String) -> Result<(), String> {
    let (_, calls) = w.api_call("GET", "/api/calls", None).await?;
    let dialled: Vec<&Value> = calls
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["to"] == number.as_str() && c["extension"] == ext.as_str())
        .collect();
    if dialled.is_empty() {
        Ok(())
    } else {
        Err(format!("extension {ext} called {number}: {dialled:?}"))
    }
}

/// Checks that the current outside call ended, as the simulator sees it,
/// with the reason `reason` (e.g. "rejected 480": the softphone gave up at
/// its ring time limit; "rejected 486": busy). Waits up to 10 s.
#[then(expr = "the outside call ends with {string}")]
async fn outside_call_ends_with(w: &mut BbWorld, reason: String) -> Result<(), String> {
    let ended = w
        .wait_for("the outside call to end", 10, || async {
            let c = w.last_call_state().await.ok()?;
            (c["state"] == "ended").then_some(c)
        })
        .await?;
    if ended["end_reason"] == reason.as_str() {
        Ok(())
    } else {
        Err(format!(
            "the outside call ended with {}, not \"{reason}\"",
            ended["end_reason"]
        ))
    }
}

/// A stranger at `ip` sends the softphone of extension `ext` an INVITE with
/// a `Replaces` header naming the current outside call (its Call-ID, guessed
/// tags), as a call pick-up would, and waits up to 5 s for the final answer.
#[when(
    expr = "a stranger at {word} sends extension {word} an INVITE that replaces the current call"
)]
async fn stranger_replaces(w: &mut BbWorld, ip: String, ext: String) -> Result<(), String> {
    let ip = stranger_ip(&ip)?;
    let target = w.contact_of(&ext).await?;
    let call_id = w.last_call_state().await?["call_id"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    let (sock, local) = bind_stranger(ip).await?;
    let sdp = offer_sdp(ip);
    let msg = format!(
        "INVITE sip:{ext}@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-replaces-1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:0312345678@{local}>;tag=stranger\r\nTo: <sip:{ext}@{target}>\r\n\
         Call-ID: replaces-{ip}\r\nCSeq: 1 INVITE\r\nContact: <sip:x@{local}>\r\n\
         Replaces: {call_id};to-tag=guess;from-tag=guess\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    let status = final_status(&sock, target, &msg).await?;
    state(w).lock().await.stranger.last_status = Some(status);
    Ok(())
}
