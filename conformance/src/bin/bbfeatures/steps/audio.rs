//! Steps about registration and two-way audio (CALL-1), with headless
//! `bbclient` processes: the softphone plays a tone from a WAV file as its
//! voice and records what it hears to another (its `[audio] input_wav` and
//! `output_wav`); the simulator's outside parties play their own tone and
//! report the tone they hear (`GET /api/calls/{id}/media`). Each direction
//! is asserted by tone detection (Goertzel) on what actually arrived.

use std::path::PathBuf;

use conformance::world::BbWorld;
use cucumber::{given, then, when};
use serde_json::{Value, json};

/// Writes one second of a `hz` sine (8 kHz, 16-bit mono, whole cycles, so
/// it loops without a click) and returns its path.
fn tone_wav(w: &BbWorld, hz: u32) -> Result<PathBuf, String> {
    let path = w.dir.join(format!("tone-{hz}.wav"));
    write_tone(&path, hz)?;
    Ok(path)
}

/// Writes one second of a `hz` sine to `path` (see [`tone_wav`]).
fn write_tone(path: &std::path::Path, hz: u32) -> Result<(), String> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = hound::WavWriter::create(path, spec)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    for i in 0..8000u32 {
        let t = f64::from(i) / 8000.0;
        let s = (std::f64::consts::TAU * f64::from(hz) * t).sin() * 0.3 * 32767.0;
        out.write_sample(s as i16)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    out.finalize()
        .map_err(|e| format!("cannot finish {}: {e}", path.display()))
}

fn heard_path(w: &BbWorld, ext: &str) -> PathBuf {
    w.dir.join(format!("heard-{ext}.wav"))
}

/// Starts a headless softphone for extension `ext` that sends a `hz` Hz tone as its voice
/// and records what it hears, and waits until it registered (up to 15 s).
/// "The softphone of extension … hears a … Hz tone" reads that recording.
#[given(
    expr = "a softphone for extension {word} is running that speaks a {int} Hz tone and records what it hears"
)]
async fn phone_with_tone(w: &mut BbWorld, ext: String, hz: u32) -> Result<(), String> {
    let tone = tone_wav(w, hz)?;
    let heard = heard_path(w, &ext);
    let extra = format!(
        "[audio]\ninput_wav = \"{}\"\noutput_wav = \"{}\"\n",
        tone.display(),
        heard.display()
    );
    w.start_phone(&ext, &extra).await
}

/// Writes one second of a `hz` Hz tone as the WAV file `name` in the scenario's folder,
/// for settings written in a doc string (`input_wav = "{dir}/NAME"`).
/// `name` must be a plain file name, without a folder.
#[given(expr = "the file {string} holds a {int} Hz tone")]
async fn tone_file(w: &mut BbWorld, name: String, hz: u32) -> Result<(), String> {
    // For settings written in a feature file: `input_wav = "{dir}/NAME"`.
    if name.contains('/') || name.contains("..") {
        return Err(format!("'{name}': a file name in the scenario's folder"));
    }
    write_tone(&w.dir.join(&name), hz)
}

/// Adds a party to the simulator: the outside number `number` answers calls after 0.3 s
/// and speaks a `hz` Hz tone.
/// Set it up before the call is placed.
#[given(expr = "the simulator's number {word} answers speaking a {int} Hz tone")]
async fn party_tone(w: &mut BbWorld, number: String, hz: u32) -> Result<(), String> {
    let (status, v) = w
        .api_call(
            "POST",
            "/api/parties",
            Some(json!({"number": number, "answer_after_ms": 300, "play": format!("tone:{hz}")})),
        )
        .await?;
    if status != 201 {
        return Err(format!(
            "the simulator refused the party rule ({status}): {v}"
        ));
    }
    Ok(())
}

/// Has the simulator place a call from the outside number `from`, whose caller speaks a
/// `hz` Hz tone, to the outside line `to`.
/// It becomes the current outside call. Does not wait for anything to ring.
#[when(expr = "an outside caller {word} speaking a {int} Hz tone calls the outside line {word}")]
async fn caller_tone(w: &mut BbWorld, from: String, hz: u32, to: String) -> Result<(), String> {
    let (status, v) = w
        .api_call(
            "POST",
            "/api/calls",
            Some(json!({"from": from, "to": to, "script": {"play": format!("tone:{hz}")}})),
        )
        .await?;
    if status != 201 {
        return Err(format!("the simulator refused the call ({status}): {v}"));
    }
    w.last_call = v["id"].as_u64();
    Ok(())
}

/// The simulator's id of the call: the last outside call placed, else the
/// newest call from `ext`.
pub(crate) async fn call_of(w: &BbWorld, ext: &str) -> Result<u64, String> {
    if let Some(id) = w.last_call {
        return Ok(id);
    }
    w.wait_for(&format!("a call from extension {ext}"), 10, || async {
        let (_, calls) = w.api_call("GET", "/api/calls", None).await.ok()?;
        calls
            .as_array()?
            .iter()
            .rev()
            .find(|c| c["from"] == ext)
            .and_then(|c| c["id"].as_u64())
    })
    .await
}

/// Checks that the outside party of extension `ext`'s call hears a `hz` Hz tone (within
/// 15 Hz, more than half of what it hears), as the simulator measures it.
/// The call is the current outside call, else the newest call that `ext` made. Waits up
/// to 15 s.
#[then(expr = "the outside party hears a {int} Hz tone from extension {word}")]
async fn party_hears(w: &mut BbWorld, hz: u32, ext: String) -> Result<(), String> {
    party_heard(w, hz, &ext).await
}

/// Waits until the outside party of extension `ext`'s call hears `hz`.
async fn party_heard(w: &BbWorld, hz: u32, ext: &str) -> Result<(), String> {
    let id = call_of(w, ext).await?;
    let last = std::sync::Mutex::new(Value::Null);
    let found = w
        .wait_for(
            &format!("the outside party of call {id} to hear {hz} Hz"),
            15,
            || async {
                let (_, media) = w
                    .api_call("GET", &format!("/api/calls/{id}/media"), None)
                    .await
                    .ok()?;
                if let Ok(mut l) = last.lock() {
                    *l = media.clone();
                }
                media.as_array()?.iter().find_map(|p| {
                    let f = p["tone_hz"].as_f64()?;
                    let share = p["tone_share"].as_f64()?;
                    ((f - f64::from(hz)).abs() <= 15.0 && share > 0.5).then_some(share)
                })
            },
        )
        .await;
    match found {
        Ok(share) => {
            println!("audio: the outside party heard {hz} Hz (share {share:.2} of the energy)");
            Ok(())
        }
        Err(e) => Err(format!(
            "{e}\nthe simulator's media report: {}",
            last.lock().map(|l| l.to_string()).unwrap_or_default()
        )),
    }
}

/// The last second of what the softphone recorded, and its rate.
fn last_second(path: &std::path::Path) -> Option<(Vec<i16>, u32)> {
    let reader = hound::WavReader::open(path).ok()?;
    let rate = reader.spec().sample_rate;
    let samples: Vec<i16> = reader.into_samples::<i16>().map_while(Result::ok).collect();
    let n = rate as usize;
    (samples.len() >= n).then(|| (samples[samples.len() - n..].to_vec(), rate))
}

/// Checks that the softphone of extension `ext` hears a `hz` Hz tone: the last second of
/// its recording carries it, more than half of the sound.
/// The recording must be `{dir}/heard-EXT.wav`, as "… speaks a … Hz tone and records what
/// it hears" sets it up (or `output_wav` in the settings). Waits up to 15 s.
#[then(expr = "the softphone of extension {word} hears a {int} Hz tone")]
async fn phone_hears(w: &mut BbWorld, ext: String, hz: u32) -> Result<(), String> {
    phone_heard(w, &ext, hz).await
}

/// Checks that audio flows both ways while a slow hook is still running: extension `ext`
/// has started the hook `kind`, its outside party hears `party_hz` Hz and extension
/// `listener` hears `phone_hz` Hz.
/// `kind` as the softphone prints it, e.g. "ring command", "popup request". Fails if the
/// hook had ended by the time both tones were heard. Waits up to 15 s for the tones.
#[then(
    expr = "while the {string} hook is still running, the outside party hears a {int} Hz tone from extension {word} and extension {word} hears a {int} Hz tone"
)]
async fn both_ways_during_hook(
    w: &mut BbWorld,
    kind: String,
    party_hz: u32,
    ext: String,
    listener: String,
    phone_hz: u32,
) -> Result<(), String> {
    if !hook_lines(w, &ext, &kind).0 {
        return Err(format!(
            "extension {ext} has not started a {kind} hook, so no audio can be heard during it"
        ));
    }
    // Both directions at once: each is polled until its tone arrives, side
    // by side, so the check takes as long as the slower direction.
    let w = &*w;
    tokio::try_join!(
        party_heard(w, party_hz, &ext),
        phone_heard(w, &listener, phone_hz)
    )?;
    // Heard, and the hook still running: the audio did not wait for it. (A
    // line printed just now may still be in the pipe; the scenario's later
    // "still running when the call ended" settles the order for good.)
    let (_, ended) = hook_lines(w, &ext, &kind);
    if let Some(line) = ended {
        return Err(format!(
            "the tones were heard only once the {kind} hook had ended ({line}): the audio waited for the hook"
        ));
    }
    Ok(())
}

/// Whether the softphone of `ext` said that a `kind` hook (`popup request`,
/// `ring command`, …) started, and its line saying that one ended.
fn hook_lines(w: &BbWorld, ext: &str, kind: &str) -> (bool, Option<String>) {
    let lines = w
        .phones
        .get(ext)
        .and_then(|p| p.proc.output.lock().ok().map(|o| o.clone()))
        .unwrap_or_default();
    let hook = |l: &&String| l.starts_with("bbclient: hook:") && l.contains(&format!(": {kind} #"));
    let started = lines.iter().filter(hook).any(|l| l.contains(" started: "));
    let ended = lines
        .iter()
        .filter(hook)
        .find(|l| {
            l.contains(" finished in ") || l.contains(" failed in ") || l.contains(" timed out ")
        })
        .cloned();
    (started, ended)
}

/// Waits until the recording of what extension `ext` heard holds `hz`.
async fn phone_heard(w: &BbWorld, ext: &str, hz: u32) -> Result<(), String> {
    let path = heard_path(w, ext);
    let last = std::sync::Mutex::new(String::from("nothing recorded yet"));
    let found = w
        .wait_for(
            &format!("extension {ext} to hear {hz} Hz in {}", path.display()),
            15,
            || async {
                let (x, rate) = last_second(&path)?;
                let r = bb_media::tone::detect(&x, rate, f64::from(hz));
                if let Ok(mut l) = last.lock() {
                    *l = format!("{hz} Hz share {:.3} at {:.1} dBFS", r.ratio, r.level_dbfs);
                }
                (r.ratio > 0.5).then_some(r)
            },
        )
        .await;
    match found {
        Ok(r) => {
            println!(
                "audio: extension {ext} heard {hz} Hz (share {:.2}, {:.1} dBFS)",
                r.ratio, r.level_dbfs
            );
            Ok(())
        }
        Err(e) => Err(format!(
            "{e}\nlast measurement: {}",
            last.lock().map(|l| l.clone()).unwrap_or_default()
        )),
    }
}

/// Starts a headless softphone for extension `ext` with a wrong SIP password.
/// Does not wait for anything: its registration is expected to fail.
#[given(expr = "a softphone for extension {word} is started with a wrong SIP password")]
async fn phone_wrong_password(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let config = w.dir.join(format!("bbclient-{ext}-wrong.toml"));
    let text = format!(
        "[account]\nserver = \"{}\"\nuser = \"{ext}\"\npassword = \"not-the-password\"\n",
        w.sip()?
    );
    std::fs::write(&config, text).map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    w.spawn_phone_from(&ext, &config).await
}

/// Checks that the simulator refused a registration of extension `ext` for wrong
/// credentials.
/// Waits up to 15 s.
#[then(expr = "the simulator refuses the registration of extension {word} for wrong credentials")]
async fn registration_refused(w: &mut BbWorld, ext: String) -> Result<(), String> {
    w.wait_for(
        &format!("the simulator to refuse the registration of {ext}"),
        15,
        || async {
            let (_, evs) = w
                .api_call("GET", "/api/events?since=0&kind=register_failed", None)
                .await
                .ok()?;
            evs.as_array()?
                .iter()
                .any(|e| {
                    e["detail"]["extension"] == ext.as_str()
                        && e["detail"]["reason"]
                            .as_str()
                            .is_some_and(|r| r.contains("wrong credentials"))
                })
                .then_some(())
        },
    )
    .await
}

/// Checks, at once, that the simulator lists no registered address for extension `ext`.
/// Put it after a step that proves the registration was tried, e.g. the refusal.
#[then(expr = "the simulator lists no registration for extension {word}")]
async fn no_registration(w: &mut BbWorld, ext: String) -> Result<(), String> {
    let (_, regs) = w.api_call("GET", "/api/registrations", None).await?;
    let listed = regs.as_array().is_some_and(|a| {
        a.iter().any(|r| {
            r["extension"] == ext.as_str()
                && r["contacts"].as_array().is_some_and(|c| !c.is_empty())
        })
    });
    if listed {
        Err(format!("extension {ext} is registered: {regs}"))
    } else {
        Ok(())
    }
}

/// Checks that the simulator lists extension `ext` as registered.
/// Waits up to 15 s.
#[then(expr = "the simulator lists extension {word} as registered")]
async fn registered(w: &mut BbWorld, ext: String) -> Result<(), String> {
    w.contact_of(&ext).await.map(|_| ())
}

// ---------------------------------------------------------------------------
// Early media (CALL-1): a 183 with SDP before the answer
// ---------------------------------------------------------------------------

/// Adds a party to the simulator: calls to the outside number `number` first get `secs`
/// seconds of early media (a 183 with audio) playing an `early_hz` Hz tone.
/// Then the party answers and speaks a `hz` Hz tone. Set it up before the call is placed.
#[given(
    expr = "the simulator's number {word} plays early media of a {int} Hz tone for {int} s, then answers speaking a {int} Hz tone"
)]
async fn party_early_media(
    w: &mut BbWorld,
    number: String,
    early_hz: u32,
    secs: u64,
    hz: u32,
) -> Result<(), String> {
    let rule = json!({
        "number": number,
        "early_media_ms": secs * 1000,
        "early_play": format!("tone:{early_hz}"),
        "play": format!("tone:{hz}"),
    });
    let (status, v) = w.api_call("POST", "/api/parties", Some(rule)).await?;
    if status != 201 {
        return Err(format!(
            "the simulator refused the party rule ({status}): {v}"
        ));
    }
    Ok(())
}

/// The simulator's state of call `id` (`ringing`, `answered`, …).
async fn sim_call_state(w: &BbWorld, id: u64) -> Option<String> {
    let (_, c) = w
        .api_call("GET", &format!("/api/calls/{id}"), None)
        .await
        .ok()?;
    c["state"].as_str().map(str::to_string)
}

/// Checks that the softphone of extension `ext` hears a `hz` Hz tone while its call still
/// rings, i.e. early media before the answer.
/// Reads the recording as "the softphone of extension … hears a … Hz tone" does. Fails if
/// the tone came only after the answer. Waits up to 15 s.
#[then(
    expr = "the softphone of extension {word} hears a {int} Hz tone before the call is answered"
)]
async fn phone_hears_early(w: &mut BbWorld, ext: String, hz: u32) -> Result<(), String> {
    let id = call_of(w, &ext).await?;
    let path = heard_path(w, &ext);
    let last = std::sync::Mutex::new(String::from("nothing recorded yet"));
    // The tone is looked for first and the call's state read after it: a
    // call still ringing then was not answered when that audio arrived.
    let found = w
        .wait_for(
            &format!(
                "extension {ext} to hear {hz} Hz of early media in {}",
                path.display()
            ),
            15,
            || async {
                let (x, rate) = last_second(&path)?;
                let r = bb_media::tone::detect(&x, rate, f64::from(hz));
                if let Ok(mut l) = last.lock() {
                    *l = format!("{hz} Hz share {:.3} at {:.1} dBFS", r.ratio, r.level_dbfs);
                }
                if r.ratio <= 0.5 {
                    return None;
                }
                let state = sim_call_state(w, id).await?;
                Some((r, state))
            },
        )
        .await;
    match found {
        Ok((r, state)) if state == "ringing" => {
            println!(
                "CALL-1: extension {ext} heard {hz} Hz of early media while the call rang (share {:.2}, {:.1} dBFS)",
                r.ratio, r.level_dbfs
            );
            Ok(())
        }
        Ok((_, state)) => Err(format!(
            "extension {ext} heard {hz} Hz only once the call was {state}, not before the answer"
        )),
        Err(e) => Err(format!(
            "{e}\nlast measurement: {}",
            last.lock().map(|l| l.clone()).unwrap_or_default()
        )),
    }
}
