//! `cti-latency`: how long the real `bbclient` takes to ring and to reach the
//! CRM, with N simultaneous incoming calls on loopback.
//!
//! It runs two softphones side by side against its own SIP user agent (which
//! also stands in for the registrar): one with hooks (a GET popup request to
//! an in-process HTTP server standing in for the CRM, and an `on_ring`
//! command, the argv recorder) and one without any. Each round sends N
//! INVITEs back to back to one softphone, waits for every 180 Ringing (and,
//! with hooks, every popup request), then cancels them all; rounds alternate
//! between the two softphones so both see the same machine noise.
//!
//! It reports, per N: INVITE sent → CRM request received (p50, p99) and
//! INVITE sent → 180 received (p50, p99) with and without hooks, each as the
//! median over rounds, and the with/without ratio per round (median). Every
//! timestamp is taken in this process on one monotonic clock: the INVITE just
//! before it is handed to the socket, the 180 right after it is read, the
//! popup request when its head has been parsed.
//!
//! With `--sustained M`, a round for N > 1 is instead: bring the softphone
//! to N ringing calls (a burst, not measured), then send M more INVITEs
//! `--spacing-us` apart and, as each of them rings, cancel the oldest
//! ringing call, so that N (to N + 1) calls ring throughout; only those M
//! calls are measured. That is "INVITE→CRM at N simultaneous ringing calls"
//! without the burst's arrival rate (N INVITEs back to back).
//!
//! ```text
//! cti-latency --bbclient target/release/bbclient --recorder target/release/argv-recorder \
//!             --calls 1,100 --rounds 15 --rounds-single 100 [--json out.json]
//! cti-latency … --calls 100 --rounds 10 --sustained 100 --spacing-us 10000
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{RawQuery, State};
use clap::Parser;
use conformance::uac::{Call, InviteSpec, Uac};
use serde_json::json;
use tokio::process::{Child, Command};

#[derive(Parser)]
#[command(
    name = "cti-latency",
    about = "INVITE→CRM and INVITE→180 latency of the real bbclient, with and without hooks"
)]
struct Args {
    /// The bbclient binary (a release build).
    #[arg(long)]
    bbclient: PathBuf,
    /// The argv-recorder binary, used as the on_ring command.
    #[arg(long)]
    recorder: PathBuf,
    /// Numbers of simultaneous calls, comma-separated.
    #[arg(long, default_value = "1,100", value_delimiter = ',')]
    calls: Vec<usize>,
    /// Rounds per softphone for N > 1 (each gives a p50 and a p99).
    #[arg(long, default_value_t = 15)]
    rounds: usize,
    /// Rounds per softphone for N = 1 (one sample each, pooled).
    #[arg(long, default_value_t = 100)]
    rounds_single: usize,
    /// Also write every sample as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Space the INVITEs of a round this many microseconds apart (0: one
    /// burst, as fast as the socket takes them).
    #[arg(long, default_value_t = 0)]
    spacing_us: u64,
    /// Which hooks the softphone with hooks runs: `popup`, `command` or both.
    #[arg(long, default_value = "popup,command", value_delimiter = ',')]
    hooks: Vec<String>,
    /// Start the on_ring command through `nice -n N` (what a softphone that
    /// lowers its hooks' CPU priority would do), to see what that buys.
    #[arg(long)]
    nice: Option<u8>,
    /// Keep the scratch folder (logs of both softphones).
    #[arg(long)]
    keep: bool,
    /// Sustained pattern for N > 1: after N calls ring, measure this many
    /// more INVITEs (`--spacing-us` apart), cancelling the oldest ringing
    /// call as each one rings. 0: the burst pattern.
    #[arg(long, default_value_t = 0)]
    sustained: usize,
}

/// Popup requests seen by the stand-in CRM: (when, raw query).
type Seen = Arc<Mutex<Vec<(Instant, String)>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn crm(State(seen): State<Seen>, RawQuery(q): RawQuery) -> &'static str {
    lock(&seen).push((Instant::now(), q.unwrap_or_default()));
    "<p>Customer card</p>"
}

/// The Call-ID in a popup query `cid=…&…` (our Call-IDs need no decoding
/// beyond `%40` for `@`).
fn cid_of(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|p| p.strip_prefix("cid="))
        .map(|v| v.replace("%40", "@"))
}

struct Phone {
    user: &'static str,
    hooks: bool,
    popup: bool,
    child: Child,
    contact: SocketAddr,
}

async fn start_phone(
    bbclient: &Path,
    dir: &Path,
    registrar: SocketAddr,
    user: &'static str,
    hooks: Option<(&str, &Path, &[String])>,
    nice: Option<u8>,
    uac: &Uac,
) -> Result<Phone, String> {
    let mut text = format!(
        "[account]\nserver = \"{registrar}\"\nuser = \"{user}\"\npassword = \"x\"\nlocal_addr = \"127.0.0.1:0\"\n\n\
         [sip]\nmax_ringing = 1000\nring_timeout_s = 0\n\n"
    );
    let mut popup = false;
    if let Some((crm, recorder, which)) = hooks {
        if which.iter().any(|h| h == "popup") {
            popup = true;
            text.push_str(&format!(
                "[web]\nskip_internal = false\n\n[web.popup]\nmethod = \"GET\"\nurl = \"{crm}/popup\"\nparams = '''\ncid=%CallId%\nnumber=%CallerNumber%\n'''\n\n"
            ));
        }
        if which.iter().any(|h| h == "command") {
            let prefix = nice.map_or(String::new(), |n| format!("/usr/bin/nice -n {n} "));
            text.push_str(&format!(
                "[command]\nskip_internal = false\non_ring = \"{prefix}{} %CallId%\"\n",
                recorder.display()
            ));
        }
    }
    let config = dir.join(format!("{user}.toml"));
    std::fs::write(&config, text).map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    let log = |name: &str| {
        std::fs::File::create(dir.join(format!("{user}.{name}")))
            .map(Stdio::from)
            .map_err(|e| format!("cannot create a log file: {e}"))
    };
    let child = Command::new(bbclient)
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .env("BBCLIENT_LOG", "warn")
        .env("ARGV_RECORDER_OUT", dir.join(format!("{user}.ring.jsonl")))
        .args([
            "--instance",
            &format!("lat{user}"),
            "run",
            "--headless",
            "--config",
        ])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log("stdout")?)
        .stderr(log("stderr")?)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bbclient.display()))?;
    let contact = uac
        .wait_registration(user, Duration::from_secs(20))
        .await
        .ok_or_else(|| {
            format!(
                "bbclient {user} did not register within 20 s (see {})",
                dir.display()
            )
        })?;
    Ok(Phone {
        user,
        hooks: hooks.is_some(),
        popup,
        child,
        contact,
    })
}

/// One round's samples, in microseconds, in call order.
#[derive(Default, Debug, Clone, serde::Serialize)]
struct Round {
    ringing_us: Vec<u64>,
    crm_us: Vec<u64>,
    /// Calls whose INVITE had to be sent again (the softphone lost it).
    resent: usize,
}

async fn round(
    uac: &Uac,
    phone: &Phone,
    n: usize,
    tag: &str,
    seen: &Seen,
    spacing: Duration,
) -> Result<Round, String> {
    let mut calls: Vec<Call> = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        // Spin rather than sleep: timers are far coarser than the spacing.
        let at = start + spacing * i as u32;
        while Instant::now() < at {
            std::hint::spin_loop();
        }
        let spec = InviteSpec {
            request_user: phone.user.to_string(),
            from_user: format!("0901{:07}", i),
            pai_user: Some(format!("0901{:07}", i)),
            to_user: phone.user.to_string(),
            called_party_user: Some("0312345678".into()),
            call_id: Some(format!("{tag}-{i}@bench")),
            ..InviteSpec::default()
        };
        calls.push(
            uac.invite(phone.contact, &spec)
                .await
                .map_err(|e| format!("cannot send INVITE: {e}"))?,
        );
    }
    let mut out = Round::default();
    for c in &mut calls {
        let r = c.wait_status(180, Duration::from_secs(20)).await?;
        out.ringing_us
            .push(r.at.saturating_duration_since(c.sent_at).as_micros() as u64);
    }
    out.resent = calls.iter().filter(|c| c.retransmissions > 0).count();
    if phone.popup {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got: Vec<(Instant, String)> = lock(seen).clone();
            let times: Vec<Option<Instant>> = calls
                .iter()
                .map(|c| {
                    got.iter()
                        .find(|(_, q)| cid_of(q).as_deref() == Some(c.call_id.as_str()))
                        .map(|(t, _)| *t)
                })
                .collect();
            if times.iter().all(Option::is_some) {
                for (c, t) in calls.iter().zip(times.into_iter().flatten()) {
                    out.crm_us
                        .push(t.saturating_duration_since(c.sent_at).as_micros() as u64);
                }
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "round {tag}: only {} of {n} popup requests arrived",
                    times.iter().filter(|t| t.is_some()).count()
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // End every call: CANCEL, 487, ACK.
    let mut set = tokio::task::JoinSet::new();
    for mut c in calls {
        set.spawn(async move { c.cancel(Duration::from_secs(20)).await });
    }
    all_cancelled(set).await?;
    // Let the softphone finish the hang-ups and the hooks (not measured).
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(out)
}

/// The sustained pattern: `n` calls ringing (a burst, not measured), then
/// `measured` INVITEs `spacing` apart; as each rings, the oldest ringing
/// call is cancelled. Only the `measured` calls are in the round's samples.
async fn sustained_round(
    uac: &Uac,
    phone: &Phone,
    n: usize,
    measured: usize,
    tag: &str,
    seen: &Seen,
    spacing: Duration,
) -> Result<Round, String> {
    let spec = |i: usize, id: String| InviteSpec {
        request_user: phone.user.to_string(),
        from_user: format!("0901{:07}", i),
        pai_user: Some(format!("0901{:07}", i)),
        to_user: phone.user.to_string(),
        called_party_user: Some("0312345678".into()),
        call_id: Some(id),
        ..InviteSpec::default()
    };
    // 1. N ringing calls (and their popups), not measured.
    let mut ringing = std::collections::VecDeque::with_capacity(n + 1);
    for i in 0..n {
        ringing.push_back(
            uac.invite(phone.contact, &spec(i, format!("{tag}-base{i}@bench")))
                .await
                .map_err(|e| format!("cannot send INVITE: {e}"))?,
        );
    }
    for c in ringing.iter_mut() {
        c.wait_status(180, Duration::from_secs(20)).await?;
    }
    if phone.popup {
        wait_popups(seen, ringing.iter().map(|c| c.call_id.as_str()), tag).await?;
    }
    // 2. The measured INVITEs; each one that rings ends the oldest call.
    let (rung_tx, mut rung_rx) = tokio::sync::mpsc::unbounded_channel::<Result<Call, String>>();
    let mut cancels = tokio::task::JoinSet::new();
    let mut out = Round::default();
    let mut measured_calls: Vec<(String, Instant)> = Vec::with_capacity(measured);
    let start = Instant::now();
    let mut sent = 0;
    while out.ringing_us.len() < measured {
        let next = (sent < measured).then(|| start + spacing * sent as u32);
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(next.unwrap_or(start))), if next.is_some() => {
                let mut c = uac
                    .invite(phone.contact, &spec(n + sent, format!("{tag}-{sent}@bench")))
                    .await
                    .map_err(|e| format!("cannot send INVITE: {e}"))?;
                measured_calls.push((c.call_id.clone(), c.sent_at));
                sent += 1;
                let tx = rung_tx.clone();
                tokio::spawn(async move {
                    let r = c.wait_status(180, Duration::from_secs(20)).await.map(|_| c);
                    let _ = tx.send(r);
                });
            }
            Some(rung) = rung_rx.recv() => {
                let c = rung?;
                let r = c.response(180).ok_or("a call rang without a 180 (internal error)")?;
                out.ringing_us.push(r.at.saturating_duration_since(c.sent_at).as_micros() as u64);
                if c.retransmissions > 0 {
                    out.resent += 1;
                }
                ringing.push_back(c);
                if let Some(mut oldest) = ringing.pop_front() {
                    cancels.spawn(async move { oldest.cancel(Duration::from_secs(20)).await });
                }
            }
        }
    }
    if phone.popup {
        let times =
            wait_popups(seen, measured_calls.iter().map(|(id, _)| id.as_str()), tag).await?;
        out.crm_us = measured_calls
            .iter()
            .zip(times)
            .map(|((_, sent_at), t)| t.saturating_duration_since(*sent_at).as_micros() as u64)
            .collect();
    }
    // 3. End the rest.
    for mut c in ringing {
        cancels.spawn(async move { c.cancel(Duration::from_secs(20)).await });
    }
    all_cancelled(cancels).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(out)
}

/// Waits (20 s at most) until the stand-in CRM has seen a popup request for
/// each Call-ID; returns when each arrived, in the same order.
async fn wait_popups<'a>(
    seen: &Seen,
    call_ids: impl Iterator<Item = &'a str>,
    tag: &str,
) -> Result<Vec<Instant>, String> {
    let ids: Vec<&str> = call_ids.collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got: std::collections::HashMap<String, Instant> = lock(seen)
            .iter()
            .filter_map(|(t, q)| cid_of(q).map(|c| (c, *t)))
            .collect();
        let times: Vec<Option<Instant>> = ids.iter().map(|id| got.get(*id).copied()).collect();
        if times.iter().all(Option::is_some) {
            return Ok(times.into_iter().flatten().collect());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "round {tag}: only {} of {} popup requests arrived",
                times.iter().filter(|t| t.is_some()).count(),
                ids.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median_f(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn ms(us: f64) -> String {
    format!("{:.2}", us / 1000.0)
}

#[derive(Debug, Default, serde::Serialize)]
struct Summary {
    calls: usize,
    rounds: usize,
    crm_p50_us: f64,
    crm_p99_us: f64,
    ring_hooks_p50_us: f64,
    ring_hooks_p99_us: f64,
    ring_plain_p50_us: f64,
    ring_plain_p99_us: f64,
    ratio_p50: f64,
    ratio_p99: f64,
    resent_with: usize,
    resent_without: usize,
}

/// Per round p50/p99 (for N = 1, rounds are pooled first: one sample each).
fn summarise(n: usize, hooks: &[Round], plain: &[Round]) -> Summary {
    let stat = |rounds: &[Round], crm: bool, p: f64| -> Vec<f64> {
        let pick = |r: &Round| {
            if crm {
                r.crm_us.clone()
            } else {
                r.ringing_us.clone()
            }
        };
        if n == 1 {
            let mut all: Vec<u64> = rounds.iter().flat_map(pick).collect();
            all.sort_unstable();
            vec![percentile(&all, p) as f64]
        } else {
            rounds
                .iter()
                .map(|r| {
                    let mut v = pick(r);
                    v.sort_unstable();
                    percentile(&v, p) as f64
                })
                .collect()
        }
    };
    let ratio = |p: f64| -> f64 {
        if n == 1 {
            // Pair round k with hooks with round k without.
            let mut v = Vec::new();
            let h: Vec<u64> = hooks.iter().flat_map(|r| r.ringing_us.clone()).collect();
            let w: Vec<u64> = plain.iter().flat_map(|r| r.ringing_us.clone()).collect();
            let (mut hs, mut ws) = (h.clone(), w.clone());
            hs.sort_unstable();
            ws.sort_unstable();
            v.push(percentile(&hs, p) as f64 / percentile(&ws, p).max(1) as f64);
            median_f(v)
        } else {
            median_f(
                hooks
                    .iter()
                    .zip(plain)
                    .map(|(h, w)| {
                        let (mut a, mut b) = (h.ringing_us.clone(), w.ringing_us.clone());
                        a.sort_unstable();
                        b.sort_unstable();
                        percentile(&a, p) as f64 / percentile(&b, p).max(1) as f64
                    })
                    .collect(),
            )
        }
    };
    Summary {
        calls: n,
        rounds: hooks.len(),
        crm_p50_us: median_f(stat(hooks, true, 50.0)),
        crm_p99_us: median_f(stat(hooks, true, 99.0)),
        ring_hooks_p50_us: median_f(stat(hooks, false, 50.0)),
        ring_hooks_p99_us: median_f(stat(hooks, false, 99.0)),
        ring_plain_p50_us: median_f(stat(plain, false, 50.0)),
        ring_plain_p99_us: median_f(stat(plain, false, 99.0)),
        ratio_p50: ratio(50.0),
        ratio_p99: ratio(99.0),
        resent_with: hooks.iter().map(|r| r.resent).sum(),
        resent_without: plain.iter().map(|r| r.resent).sum(),
    }
}

async fn run(args: Args) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("cti-latency-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("run"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind the stand-in CRM: {e}"))?;
    let crm_addr = listener
        .local_addr()
        .map_err(|e| format!("stand-in CRM address: {e}"))?;
    let app = Router::new().fallback(crm).with_state(seen.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let uac = Uac::bind(IpAddr::V4(Ipv4Addr::LOCALHOST), true)
        .await
        .map_err(|e| format!("cannot bind the SIP user agent: {e}"))?;
    let registrar = uac.local_addr();
    let crm_url = format!("http://{crm_addr}");
    let mut with = start_phone(
        &args.bbclient,
        &dir,
        registrar,
        "1910",
        Some((&crm_url, &args.recorder, &args.hooks)),
        args.nice,
        &uac,
    )
    .await?;
    let mut without =
        start_phone(&args.bbclient, &dir, registrar, "1911", None, None, &uac).await?;

    let spacing = Duration::from_micros(args.spacing_us);
    // Warm-up: connections, page cache, first spawn.
    for k in 0..3 {
        round(&uac, &with, 1, &format!("warm-h{k}"), &seen, spacing).await?;
        round(&uac, &without, 1, &format!("warm-p{k}"), &seen, spacing).await?;
    }

    let mut summaries = Vec::new();
    let mut samples = Vec::new();
    for &n in &args.calls {
        let (mut hooks, mut plain) = (Vec::new(), Vec::new());
        let rounds = if n == 1 {
            args.rounds_single
        } else {
            args.rounds
        };
        for r in 0..rounds {
            // Alternate which softphone goes first.
            let order: [&Phone; 2] = if r % 2 == 0 {
                [&with, &without]
            } else {
                [&without, &with]
            };
            for phone in order {
                let tag = format!("n{n}-r{r}-{}", phone.user);
                lock(&seen).clear();
                let res = if n > 1 && args.sustained > 0 {
                    sustained_round(&uac, phone, n, args.sustained, &tag, &seen, spacing).await?
                } else {
                    round(&uac, phone, n, &tag, &seen, spacing).await?
                };
                if phone.hooks {
                    hooks.push(res);
                } else {
                    plain.push(res);
                }
            }
            if (r + 1) % 5 == 0 {
                eprintln!("cti-latency: N={n} round {}/{rounds} done", r + 1);
            }
        }
        let s = summarise(n, &hooks, &plain);
        samples.push(json!({"calls": n, "with_hooks": hooks, "without_hooks": plain}));
        summaries.push(s);
    }

    println!(
        "| N calls | rounds | INVITE→CRM p50 (ms) | INVITE→CRM p99 (ms) | INVITE→180 p50 with / without hooks (ms) | INVITE→180 p99 with / without hooks (ms) | ratio p50 | ratio p99 | INVITEs resent with / without |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for s in &summaries {
        println!(
            "| {} | {} | {} | {} | {} / {} | {} / {} | {:.3} | {:.3} | {} / {} |",
            s.calls,
            s.rounds,
            ms(s.crm_p50_us),
            ms(s.crm_p99_us),
            ms(s.ring_hooks_p50_us),
            ms(s.ring_plain_p50_us),
            ms(s.ring_hooks_p99_us),
            ms(s.ring_plain_p99_us),
            s.ratio_p50,
            s.ratio_p99,
            s.resent_with,
            s.resent_without
        );
    }
    if let Some(path) = &args.json {
        let doc = json!({"summaries": summaries, "samples": samples});
        std::fs::write(path, doc.to_string())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let _ = with.child.start_kill();
    let _ = without.child.start_kill();
    let _ = with.child.wait().await;
    let _ = without.child.wait().await;
    if args.keep {
        eprintln!("cti-latency: logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// Waits for every CANCEL of `set`; each call must end with 487.
async fn all_cancelled(mut set: tokio::task::JoinSet<Result<u16, String>>) -> Result<(), String> {
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(487)) => {}
            Ok(Ok(code)) => return Err(format!("a cancelled call ended with {code}")),
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(format!("cancel task: {e}")),
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    // The settings files it writes are the user's alone (the softphone
    // refuses others).
    // SAFETY: umask only sets the process's file mode mask.
    unsafe {
        libc::umask(0o077);
    }
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cti-latency: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cti-latency: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
