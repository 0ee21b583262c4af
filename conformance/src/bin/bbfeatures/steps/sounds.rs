//! Steps about what the operator hears from the phone itself and what the
//! far end hears of the operator (Q-6 … Q-8, beyond the vendor's guide):
//! the ringtone, call-progress tones, call waiting, mute and do not
//! disturb. The softphone writes its ring device and its speaker to WAV
//! files (`[audio] ring_output_wav`, `output_wav`); these steps read them
//! back and check the tone's frequency and cadence with the same Goertzel
//! analysis the product's tests use (`bb_media::cadence`).

use std::path::Path;
use std::time::Duration;

use bb_media::cadence::{self, ToneKind, TonePlan};
use conformance::world::BbWorld;
use cucumber::{given, then};
use serde_json::json;

use super::control::{answered_outside_call, status_of};

/// Every sample of a WAV file written so far, and its rate (`None` while
/// it does not exist or has no valid header yet).
fn read_wav(path: &Path) -> Option<(Vec<i16>, u32)> {
    let reader = hound::WavReader::open(path).ok()?;
    let rate = reader.spec().sample_rate;
    let samples = reader.into_samples::<i16>().map_while(Result::ok).collect();
    Some((samples, rate))
}

fn plan(word: &str) -> Result<TonePlan, String> {
    TonePlan::parse(word).ok_or_else(|| format!("'{word}' is not a tone plan (jp, us or eu)"))
}

fn kind(words: &str) -> Result<(ToneKind, usize), String> {
    // How many whole periods to hear: two of the short busy pattern, one
    // of the others (a Japanese ringback period is 3 s).
    match words {
        "ringtone" => Ok((ToneKind::Ringtone, 1)),
        "ringback" => Ok((ToneKind::Ringback, 1)),
        "busy" => Ok((ToneKind::Busy, 2)),
        "call-waiting" => Ok((ToneKind::CallWaiting, 1)),
        other => Err(format!(
            "'{other}' is not a tone (ringtone, ringback, busy or call-waiting)"
        )),
    }
}

/// Checks that the WAV file `file` in the scenario's folder (a ring device or speaker
/// written by the softphone) carries the tone `tone` of the national plan `plan`: its
/// frequency, and its on/off cadence within 60 ms per run.
/// `tone` is `ringtone`, `ringback`, `busy` or `call-waiting`; `plan` is `jp`, `us` or
/// `eu`. Two whole periods are needed for busy, one for the others. Waits up to 20 s
/// for the file to hold them; on failure shows the on/off runs heard.
#[then(expr = "the recording {string} carries the {word} tone of the {word} plan")]
async fn carries_tone(
    w: &mut BbWorld,
    file: String,
    tone: String,
    plan_word: String,
) -> Result<(), String> {
    let (kind, periods) = kind(&tone)?;
    let cadence = plan(&plan_word)?.cadence(kind);
    let path = w.dir.join(&file);
    let freq = cadence.freqs[0];
    let last = std::sync::Mutex::new(String::from("the file was never written"));
    let found = w
        .wait_for(
            &format!("{file} to carry the {plan_word} {tone} tone"),
            20,
            || async {
                let (samples, rate) = read_wav(&path)?;
                let runs = cadence::segments(&samples, rate, freq);
                match cadence::matches(&runs, &cadence, periods, 60) {
                    Ok(()) => Some(samples.len() as f64 / f64::from(rate)),
                    Err(e) => {
                        if let Ok(mut l) = last.lock() {
                            *l = e;
                        }
                        None
                    }
                }
            },
        )
        .await;
    match found {
        Ok(secs) => {
            if let Some(m) = cadence.modulation_hz {
                let (samples, rate) = read_wav(&path).unwrap_or_default();
                // The first run of the pattern sounds from the start.
                let on = cadence.pattern[0].0 as usize * rate as usize / 1000;
                let depth =
                    cadence::modulation_depth(&samples[..on.min(samples.len())], rate, freq, m);
                if depth < 0.2 {
                    return Err(format!(
                        "{file}: the {freq} Hz tone is not modulated at {m} Hz (sideband ratio {depth:.2})"
                    ));
                }
            }
            println!("sounds: {file} carries the {plan_word} {tone} tone ({secs:.1} s written)");
            Ok(())
        }
        Err(e) => Err(format!(
            "{e}\n{file}: {}",
            last.lock().map(|l| l.clone()).unwrap_or_default()
        )),
    }
}

/// Checks that the WAV file `file` in the scenario's folder stopped growing: after it
/// reached its length, it stays so for 1.5 s (polled). The ringer stops at once when its
/// call is answered, cancelled or rejected. Waits up to 10 s for that.
#[then(expr = "the recording {string} has stopped growing")]
async fn stopped_growing(w: &mut BbWorld, file: String) -> Result<(), String> {
    let path = w.dir.join(&file);
    let len = || std::fs::metadata(&path).map(|m| m.len()).ok();
    let mut stable_since = tokio::time::Instant::now();
    let mut last = len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = len();
        if now != last {
            last = now;
            stable_since = tokio::time::Instant::now();
        } else if last.is_some() && stable_since.elapsed() >= Duration::from_millis(1500) {
            return Ok(());
        }
    }
    Err(format!(
        "{file} kept growing for 10 s (now {:?} bytes): the sound did not stop",
        last
    ))
}

/// Checks that the WAV file `file` in the scenario's folder does not change for `secs`
/// s (polled every 100 ms): no sound was played there meanwhile. A file that does not
/// exist must not appear.
#[then(expr = "for {int} s the recording {string} does not change")]
async fn does_not_change(w: &mut BbWorld, secs: u64, file: String) -> Result<(), String> {
    let path = w.dir.join(&file);
    let len = || std::fs::metadata(&path).map(|m| m.len()).ok();
    let first = len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        let now = len();
        if now != first {
            return Err(format!(
                "{} changed from {first:?} to {now:?} bytes: a sound was played there",
                path.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Checks that no file in the scenario's folder has `part` in its name: no tone player
/// of the softphone ever wrote there (each names its file after its call and tone, e.g.
/// `heard-out-1-ringback.wav`, when the speaker's file is taken by the call itself).
#[then(expr = "no file named like {string} exists")]
async fn none_named_like(w: &mut BbWorld, part: String) -> Result<(), String> {
    let entries = std::fs::read_dir(&w.dir).map_err(|e| format!("{}: {e}", w.dir.display()))?;
    let found: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&part))
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("found {found:?}: a tone was played"))
    }
}

/// Adds a party to the simulator: the outside number `number` rings (180, no early
/// media) for `secs` s, then answers, saying nothing. Set it up before the call.
#[given(expr = "the simulator's number {word} rings for {int} s before it answers")]
async fn party_rings(w: &mut BbWorld, number: String, secs: u64) -> Result<(), String> {
    add_party(
        w,
        json!({"number": number, "answer_after_ms": secs * 1000, "play": "silence"}),
    )
    .await
}

/// Adds a party to the simulator: the outside number `number` rings (180 without SDP)
/// for 2 s, then plays a `hz` Hz tone as early media (183 with SDP) for 8 s, then
/// answers, saying nothing. Set it up before the call.
#[given(
    expr = "the simulator's number {word} rings, then plays a {int} Hz tone as early media before it answers"
)]
async fn party_early(w: &mut BbWorld, number: String, hz: u32) -> Result<(), String> {
    add_party(
        w,
        json!({
            "number": number,
            "early_media_after_ms": 2000,
            "early_media_ms": 8000,
            "early_play": format!("tone:{hz}"),
            "play": "silence"
        }),
    )
    .await
}

/// Adds a party to the simulator: the outside number `number` answers 486 Busy Here
/// after 0.3 s.
#[given(expr = "the simulator's number {word} is busy")]
async fn party_busy(w: &mut BbWorld, number: String) -> Result<(), String> {
    add_party(
        w,
        json!({"number": number, "reject": 486, "reject_after_ms": 300}),
    )
    .await
}

async fn add_party(w: &BbWorld, rule: serde_json::Value) -> Result<(), String> {
    let (status, v) = w.api_call("POST", "/api/parties", Some(rule)).await?;
    if status == 201 {
        Ok(())
    } else {
        Err(format!(
            "the simulator refused the party rule ({status}): {v}"
        ))
    }
}

/// Sets up an answered call from the outside number `from`, whose caller says nothing,
/// to the outside line of extension `ext` (1910 or 1911), answered with `bbclient
/// answer`. It becomes the current outside call. Waits up to 10 s each for the ringing
/// and the answer.
#[given(expr = "an outside caller {word} who says nothing is talking to extension {word}")]
async fn silent_caller(w: &mut BbWorld, from: String, ext: String) -> Result<(), String> {
    answered_outside_call(w, &from, &ext, Some(json!({"play": "silence"}))).await
}

/// Checks that the outside party of the current call (or of extension `ext`'s newest
/// call) hears silence from extension `ext` while RTP keeps flowing: in its recording
/// (from the simulator) the last second is below -50 dBFS, and the party received more
/// audio packets over that time. Waits up to 10 s.
#[then(expr = "the outside party hears silence from extension {word}, with RTP still flowing")]
async fn party_hears_silence(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let id = match w.last_call {
        Some(id) => id,
        None => newest_call_of(w, &ext).await?,
    };
    let packets = || async {
        let (_, media) = w
            .api_call("GET", &format!("/api/calls/{id}/media"), None)
            .await
            .ok()?;
        media.as_array()?.first()?["media"]["audio_packets_received"].as_u64()
    };
    let last = std::sync::Mutex::new(String::new());
    let found = w
        .wait_for(
            &format!("the outside party of call {id} to hear silence"),
            10,
            || async {
                let before = packets().await?;
                let wav = fetch_recording(w, id).await?;
                let (samples, rate) = wav;
                let n = rate as usize;
                if samples.len() < n {
                    return None;
                }
                let tail = &samples[samples.len() - n..];
                let ms = tail
                    .iter()
                    .map(|&s| f64::from(s) * f64::from(s))
                    .sum::<f64>()
                    / n as f64;
                let dbfs = 10.0 * (ms.max(1e-9) / (32767.0f64 * 32767.0)).log10();
                tokio::time::sleep(Duration::from_millis(300)).await;
                let after = packets().await?;
                if let Ok(mut l) = last.lock() {
                    *l = format!(
                        "last second at {dbfs:.1} dBFS, {} packets in 0.3 s",
                        after.saturating_sub(before)
                    );
                }
                (dbfs < -50.0 && after > before).then_some(dbfs)
            },
        )
        .await;
    match found {
        Ok(dbfs) => {
            println!("sounds: the outside party hears silence ({dbfs:.1} dBFS) and RTP flows");
            Ok(())
        }
        Err(e) => Err(format!(
            "{e}: {}",
            last.lock().map(|l| l.clone()).unwrap_or_default()
        )),
    }
}

async fn newest_call_of(w: &BbWorld, ext: &str) -> Result<u64, String> {
    let (_, calls) = w.api_call("GET", "/api/calls", None).await?;
    calls
        .as_array()
        .and_then(|a| a.iter().rev().find(|c| c["from"] == ext))
        .and_then(|c| c["id"].as_u64())
        .ok_or_else(|| format!("the simulator has no call from extension {ext}"))
}

/// What the outside party of call `id` recorded, as samples and rate.
async fn fetch_recording(w: &BbWorld, id: u64) -> Option<(Vec<i16>, u32)> {
    let url = format!("{}/api/calls/{id}/recording.wav", w.api().ok()?);
    let bytes = reqwest::get(&url).await.ok()?.bytes().await.ok()?;
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes.to_vec())).ok()?;
    let rate = reader.spec().sample_rate;
    Some((
        reader.into_samples::<i16>().map_while(Result::ok).collect(),
        rate,
    ))
}

/// Checks that `bbclient status --json` of extension `ext` shows its one call `state`
/// (`muted` or `unmuted`). Answers at once.
#[then(expr = "the status of extension {word} shows the call {word}")]
async fn status_shows_call(w: &mut BbWorld, ext: String, state: String) -> Result<(), String> {
    let want = match state.as_str() {
        "muted" => true,
        "unmuted" => false,
        other => return Err(format!("'{other}': write muted or unmuted")),
    };
    let s = status_of(w, &ext).await?;
    let calls = s["calls"].as_array().cloned().unwrap_or_default();
    match calls.as_slice() {
        [c] if c["muted"] == want => Ok(()),
        _ => Err(format!(
            "the status shows the calls {calls:?}, not one {state} call"
        )),
    }
}

/// Checks that `bbclient status --json` of extension `ext` shows do not disturb `on` or
/// `off`. Answers at once.
#[then(expr = "the status of extension {word} shows do not disturb {word}")]
async fn status_shows_dnd(w: &mut BbWorld, ext: String, on: String) -> Result<(), String> {
    let want = match on.as_str() {
        "on" => true,
        "off" => false,
        other => return Err(format!("'{other}': write on or off")),
    };
    let s = status_of(w, &ext).await?;
    if s["dnd"] == want {
        Ok(())
    } else {
        Err(format!("the status shows dnd = {}, not {on}", s["dnd"]))
    }
}

/// Checks that the simulator shows operator `op` in the ACD state `state`
/// (`available`, `not_available`, `after_call_work`, …). Waits up to 10 s; on failure
/// shows the simulator's view of the operator.
#[then(expr = "the simulator shows operator {word} as {word}")]
async fn shows_state(w: &mut BbWorld, op: String, state: String) -> Result<(), String> {
    super::acd::wait_operator(w, &op, &state, None).await
}
