//! Steps about encrypted call audio: SRTP with SDES keys between the
//! softphone (`[audio] srtp`) and the simulator's outside parties (their
//! script's `srtp`). An outside party decrypts with the key the softphone
//! announced and drops whatever does not authenticate, so a tone it hears
//! proves that the softphone's audio was SRTP under that key; the other way
//! round, the softphone's recording proves the party's. The steps also read
//! which suite each side reports (`bbclient status --json` and the
//! simulator's media report).

use conformance::world::BbWorld;
use cucumber::{given, then, when};
use serde_json::{Value, json};

use super::audio::call_of;
use super::control::{output_of, status_of};

/// Adds a party rule to the simulator.
async fn party_rule(w: &BbWorld, rule: Value) -> Result<(), String> {
    let (status, v) = w.api_call("POST", "/api/parties", Some(rule)).await?;
    if status != 201 {
        return Err(format!(
            "the simulator refused the party rule ({status}): {v}"
        ));
    }
    Ok(())
}

/// Adds a party to the simulator: the outside number `number` answers calls after 0.3 s,
/// speaks a `hz` Hz tone and uses SRTP as `srtp` says (`off`, `optional` or `required`,
/// as the softphone's `[audio] srtp`).
/// Set it up before the call is placed.
#[given(expr = "the simulator's number {word} answers speaking a {int} Hz tone, with SRTP {word}")]
async fn party_srtp(w: &mut BbWorld, number: String, hz: u32, srtp: String) -> Result<(), String> {
    party_rule(
        w,
        json!({"number": number, "answer_after_ms": 300, "play": format!("tone:{hz}"), "srtp": srtp}),
    )
    .await
}

/// Like "… answers speaking a … Hz tone, with SRTP …", and the party answers every
/// re-INVITE with a fresh SRTP key of its own (re-keying).
#[given(
    expr = "the simulator's number {word} answers speaking a {int} Hz tone, with SRTP {word} and a new key at each re-INVITE"
)]
async fn party_srtp_rekey(
    w: &mut BbWorld,
    number: String,
    hz: u32,
    srtp: String,
) -> Result<(), String> {
    party_rule(
        w,
        json!({"number": number, "answer_after_ms": 300, "play": format!("tone:{hz}"),
               "srtp": srtp, "srtp_rekey": true}),
    )
    .await
}

/// Has the simulator place a call from the outside number `from`, whose caller speaks a
/// `hz` Hz tone and uses SRTP as `srtp` says, to the outside line `to`.
/// It becomes the current outside call. Does not wait for anything to ring.
#[when(
    expr = "an outside caller {word} speaking a {int} Hz tone with SRTP {word} calls the outside line {word}"
)]
async fn caller_srtp(
    w: &mut BbWorld,
    from: String,
    hz: u32,
    srtp: String,
    to: String,
) -> Result<(), String> {
    let (status, v) = w
        .api_call(
            "POST",
            "/api/calls",
            Some(json!({"from": from, "to": to,
                        "script": {"play": format!("tone:{hz}"), "srtp": srtp}})),
        )
        .await?;
    if status != 201 {
        return Err(format!("the simulator refused the call ({status}): {v}"));
    }
    w.last_call = v["id"].as_u64();
    Ok(())
}

/// The SRTP suite the softphone of `ext` reports for its call (`None`:
/// plain), and the whole status for messages.
async fn phone_suite(w: &BbWorld, ext: &str) -> Result<(Option<String>, Value), String> {
    let status = status_of(w, ext).await?;
    let media = &status["calls"][0]["media"];
    if media.is_null() {
        return Err(format!("extension {ext} has no call with media: {status}"));
    }
    Ok((media["srtp"].as_str().map(str::to_string), status))
}

/// The outside party's media report for the call of `ext`.
async fn party_media(w: &BbWorld, ext: &str) -> Result<Value, String> {
    let id = call_of(w, ext).await?;
    let (_, media) = w
        .api_call("GET", &format!("/api/calls/{id}/media"), None)
        .await?;
    media
        .as_array()
        .and_then(|a| a.first())
        .map(|p| p["media"].clone())
        .ok_or_else(|| format!("call {id} has no outside party: {media}"))
}

/// Checks that the call of extension `ext` is encrypted with the SRTP suite `suite` on
/// both sides: the softphone's `status` names it, the outside party names it and has
/// received audio from the softphone that authenticated under the softphone's key.
/// Waits up to 10 s for the party's packets.
#[then(expr = "the call of extension {word} is encrypted with {word} both ways")]
async fn encrypted(w: &mut BbWorld, ext: String, suite: String) -> Result<(), String> {
    let (ours, status) = phone_suite(w, &ext).await?;
    if ours.as_deref() != Some(suite.as_str()) {
        return Err(format!(
            "extension {ext} reports SRTP {ours:?}, not {suite}: {status}"
        ));
    }
    let last = std::sync::Mutex::new(Value::Null);
    let got = w
        .wait_for(
            &format!("the outside party to receive SRTP {suite} from extension {ext}"),
            10,
            || async {
                let m = party_media(w, &ext).await.ok()?;
                if let Ok(mut l) = last.lock() {
                    *l = m.clone();
                }
                (m["srtp"] == suite.as_str() && m["audio_packets_received"].as_u64()? >= 50)
                    .then_some(m)
            },
        )
        .await
        .map_err(|e| {
            format!(
                "{e}\nthe party's media: {}",
                last.lock().map(|l| l.to_string()).unwrap_or_default()
            )
        })?;
    println!(
        "srtp: {suite} both ways; the party received {} packets, dropped {} that did not authenticate",
        got["audio_packets_received"], got["srtp_dropped"]
    );
    Ok(())
}

/// Checks that the call of extension `ext` runs plain RTP: neither the softphone nor the
/// outside party reports an SRTP suite.
#[then(expr = "the call of extension {word} is not encrypted")]
async fn not_encrypted(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let (ours, status) = phone_suite(w, &ext).await?;
    if let Some(s) = ours {
        return Err(format!("extension {ext} reports SRTP {s}: {status}"));
    }
    let m = party_media(w, &ext).await?;
    if !m["srtp"].is_null() {
        return Err(format!("the outside party reports SRTP: {m}"));
    }
    Ok(())
}

/// Checks that the outside party of the call of extension `ext` changed its own SRTP key
/// at least `n` times during the call (it answered re-INVITEs with new keys).
#[then(expr = "the outside party of extension {word} has changed its SRTP key {int} time(s)")]
async fn party_rekeyed(w: &mut BbWorld, ext: String, n: u64) -> Result<(), String> {
    let m = party_media(w, &ext).await?;
    match m["srtp_rekeys"].as_u64() {
        Some(k) if k >= n => Ok(()),
        _ => Err(format!(
            "the outside party changed its key {} times, not {n}: {m}",
            m["srtp_rekeys"]
        )),
    }
}

/// Checks that the softphone of extension `ext` printed or logged a line containing
/// `text` (its log goes to stderr). Waits up to 10 s.
#[then(expr = "the softphone of extension {word} logged {string}")]
async fn logged(w: &mut BbWorld, ext: String, text: String) -> Result<(), String> {
    w.wait_for(
        &format!("extension {ext} to log \"{text}\""),
        10,
        || async {
            output_of(w, &ext)
                .iter()
                .any(|l| l.contains(&text))
                .then_some(())
        },
    )
    .await
    .map_err(|e| format!("{e}\nits output:\n{}", output_of(w, &ext).join("\n")))
}

/// Checks that the log of the softphone of extension `ext` shows the SDP of its calls
/// (it holds `a=crypto` lines) but no SRTP key: each `inline:` is followed by
/// `<hidden>`, never by key material. Start the softphone logging everything.
#[then(expr = "the log of extension {word} shows SRTP keys only as hidden")]
async fn keys_hidden(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let out = output_of(w, &ext);
    let crypto = out.iter().filter(|l| l.contains("a=crypto:")).count();
    if crypto == 0 {
        return Err(format!(
            "extension {ext} logged no SDP with a=crypto, so nothing was checked (is it logging everything?)"
        ));
    }
    for l in &out {
        let mut rest = l.as_str();
        while let Some(i) = rest.find("inline:") {
            rest = &rest[i + "inline:".len()..];
            if !rest.starts_with("<hidden>") {
                return Err(format!("a key is in the log of extension {ext}: {l}"));
            }
        }
    }
    println!("srtp: {crypto} logged lines carry a=crypto, every key hidden");
    Ok(())
}

/// Lets `n` seconds pass (a call stays as it is, e.g. on hold, so that what
/// is checked next happened after it).
#[when(expr = "{int} seconds pass")]
async fn seconds_pass(_w: &mut BbWorld, n: u64) -> Result<(), String> {
    tokio::time::sleep(std::time::Duration::from_secs(n)).await;
    Ok(())
}
