//! Q-4 under real crashes: a separate process saves the settings in a loop
//! through the product's own save (`softphone::settings_store::save`, the
//! code behind the window's Save) and is killed with SIGKILL at random
//! moments, hundreds of times. After each kill the settings file must be
//! byte for byte one of the two versions being saved, read as valid
//! settings, and private (0600); the only other files may be the killed
//! saves' temporary files (0600), which the next save removes.
//!
//! The saving process is this very test binary, started again with
//! [`SAVER_ENV`] set: `bbfeatures` (`main.rs`) then runs [`saver_child`]
//! instead of the scenarios. It prints one line when its loop starts, so
//! every kill lands while it saves (not while it starts).

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use conformance::world::BbWorld;
use cucumber::{given, then, when};

use softphone::config::{RawSettings, Settings};

/// Set in the environment of the saving process: the settings file and
/// the two versions to save in turn, one path per line.
pub const SAVER_ENV: &str = "BB_CONFORMANCE_SETTINGS_SAVER";

/// The saving process: saves the two versions in turn until killed.
pub fn saver_child(spec: &str) -> ! {
    let paths: Vec<&str> = spec.lines().collect();
    let [target, a, b] = paths[..] else {
        eprintln!("{SAVER_ENV}: expected three paths, got {spec:?}");
        std::process::exit(3);
    };
    let load = |p: &str| -> RawSettings {
        match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!("{SAVER_ENV}: cannot read {p}: {e}");
                std::process::exit(3);
            }
        }
    };
    let (a, b) = (load(a), load(b));
    let target = Path::new(target);
    println!("saving");
    loop {
        for raw in [&b, &a] {
            if let Err(e) = softphone::settings_store::save(target, raw) {
                eprintln!("{SAVER_ENV}: {e}");
                std::process::exit(4);
            }
        }
    }
}

/// What was found after one kill.
#[derive(Debug, Clone)]
struct AfterKill {
    kill: usize,
    /// Microseconds between the loop's start and the SIGKILL.
    delay_us: u64,
    /// Which version the file holds (`old`/`new`), or what is wrong.
    file: Result<&'static str, String>,
    /// Whether it is read as valid settings (`Err`: why not).
    valid: Result<(), String>,
    /// The file's mode bits.
    mode: u32,
    /// The temporary files beside it: name, mode, whether a killed saver
    /// made it, whether the one just killed did.
    temps: Vec<(String, u32, bool, bool)>,
}

#[derive(Debug, Default)]
struct Run {
    dir: PathBuf,
    target: PathBuf,
    versions: Vec<(RawSettings, Vec<u8>)>,
    after: Vec<AfterKill>,
    seed: u64,
}

type Shared = Arc<Mutex<Run>>;

static RUNS: LazyLock<Mutex<std::collections::HashMap<PathBuf, Shared>>> =
    LazyLock::new(Default::default);

fn run_of(w: &BbWorld) -> Shared {
    let mut all = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|dir, _| dir.exists());
    all.entry(w.dir.clone()).or_default().clone()
}

fn lock(r: &Shared) -> std::sync::MutexGuard<'_, Run> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// A version of the settings: long popup parameters, so that a file
/// written in place would be caught half written.
fn version(server: &str, tag: &str) -> RawSettings {
    let mut raw: RawSettings = toml::from_str(&format!(
        "[account]\nserver = \"{server}\"\nuser = \"1910\"\npassword = \"pw-{tag}\"\n"
    ))
    .unwrap_or_default();
    let params: Vec<String> = (0..200)
        .map(|i| format!("p{i}_{tag}=%CallerNumber%"))
        .collect();
    raw.web.popup = Some(softphone::config::Popup {
        method: "POST".into(),
        url: format!("http://127.0.0.1:9/{tag}"),
        params: params.join("\n"),
    });
    raw
}

fn temp_files(dir: &Path, name: &str) -> Vec<(String, u32)> {
    let prefix = format!(".{name}.tmp-");
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let mode = e.metadata().ok()?.permissions().mode() & 0o777;
                    n.starts_with(&prefix).then_some((n, mode))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Prepares the crash test: a settings file saved once with the product's own save, and
/// an old and a new version of the settings to save in turn.
/// Both versions have long popup parameters, so a half-written file would show.
#[given("a settings file and two versions of the settings for a process to save in turn")]
async fn prepare(w: &mut BbWorld) -> Result<(), String> {
    let dir = w.dir.join("crash");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let target = dir.join("bbclient.toml");
    let mut versions = Vec::new();
    for tag in ["old", "new"] {
        let raw = version("127.0.0.1:5060", tag);
        let bytes = toml::to_string(&raw)
            .map_err(|e| format!("cannot write the {tag} version: {e}"))?
            .into_bytes();
        let file = w.dir.join(format!("version-{tag}.toml"));
        std::fs::write(&file, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        versions.push((raw, bytes));
    }
    softphone::settings_store::save(&target, &versions[0].0)
        .map_err(|e| format!("the first save failed: {e}"))?;
    let run = run_of(w);
    let mut r = lock(&run);
    r.dir = dir;
    r.target = target;
    r.versions = versions;
    r.after.clear();
    Ok(())
}

/// A small xorshift generator: the kills' timing, reproducible from the
/// seed printed.
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// Runs a process that saves the two versions in turn with the product's own save, kills
/// it with SIGKILL 0–3 ms into its loop, and repeats that `kills` times, noting the
/// settings folder after each kill.
/// Prints the random seed; set `BB_CRASH_SEED` to repeat a run.
#[when(
    expr = "a process saving them in a loop is killed with SIGKILL at a random moment, {int} times, started again after each kill"
)]
async fn kill_loop(w: &mut BbWorld, kills: usize) -> Result<(), String> {
    let run = run_of(w);
    let spec = {
        let r = lock(&run);
        if r.versions.len() != 2 {
            return Err("no step prepared the settings file and its versions".into());
        }
        [
            r.target.clone(),
            w.dir.join("version-old.toml"),
            w.dir.join("version-new.toml"),
        ]
        .map(|p| p.to_string_lossy().into_owned())
        .join("\n")
    };
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this test binary: {e}"))?;
    let seed = std::env::var("BB_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    let started = Instant::now();
    let shared = run.clone();
    tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut rng = seed;
        lock(&shared).seed = seed;
        let mut killed_pids = Vec::new();
        for kill in 0..kills {
            let mut child = Command::new(&exe)
                .env(SAVER_ENV, &spec)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start the saving process: {e}"))?;
            let mut line = String::new();
            if let Some(out) = child.stdout.take() {
                let _ = BufReader::new(out).read_line(&mut line);
            }
            if line.trim() != "saving" {
                let _ = child.kill();
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                return Err(format!(
                    "the saving process did not start its loop: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let delay_us = next(&mut rng) % 3000;
            std::thread::sleep(Duration::from_micros(delay_us));
            // SIGKILL, as std's `kill` sends on Unix; then reap it, so its
            // pid is gone when the next save looks.
            child
                .kill()
                .map_err(|e| format!("cannot kill the saving process: {e}"))?;
            let pid = child.id();
            let status = child.wait().map_err(|e| e.to_string())?;
            if status.code().is_some() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return Err(format!(
                    "the saving process ended by itself ({status}) before the kill: {err}"
                ));
            }
            killed_pids.push(pid);
            let mut r = lock(&shared);
            let after = observe(&r, kill, delay_us, pid, &killed_pids);
            r.after.push(after);
        }
        Ok(())
    })
    .await
    .map_err(|e| format!("the kill loop stopped: {e}"))??;
    let r = lock(&run);
    println!(
        "Q-4: {kills} saving processes killed with SIGKILL in {:.1} s (seed {}, BB_CRASH_SEED to repeat)",
        started.elapsed().as_secs_f64(),
        r.seed
    );
    Ok(())
}

/// Looks at the settings file and its neighbours after kill `kill` of
/// process `pid`.
fn observe(r: &Run, kill: usize, delay_us: u64, pid: u32, killed: &[u32]) -> AfterKill {
    let bytes = std::fs::read(&r.target);
    let file = match &bytes {
        Ok(b) if *b == r.versions[0].1 => Ok("old"),
        Ok(b) if *b == r.versions[1].1 => Ok("new"),
        Ok(b) => Err(format!(
            "{} bytes that are neither version: {:?}…",
            b.len(),
            String::from_utf8_lossy(&b[..b.len().min(60)])
        )),
        Err(e) => Err(format!("cannot be read: {e}")),
    };
    let valid = match &bytes {
        Ok(b) => String::from_utf8(b.clone())
            .map_err(|e| e.to_string())
            .and_then(|t| {
                Settings::from_toml(&t, &r.target)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        Err(e) => Err(e.to_string()),
    };
    let mode = std::fs::metadata(&r.target)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    let owner = |n: &str| {
        n.split(".tmp-")
            .nth(1)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
    };
    let temps = temp_files(&r.dir, "bbclient.toml")
        .into_iter()
        .map(|(n, m)| {
            let o = owner(&n);
            let by_killed = o.is_some_and(|o| killed.contains(&o));
            (n, m, by_killed, o == Some(pid))
        })
        .collect();
    AfterKill {
        kill,
        delay_us,
        file,
        valid,
        mode,
        temps,
    }
}

fn failures(r: &Run, bad: impl Fn(&AfterKill) -> Option<String>) -> Result<(), String> {
    if r.after.is_empty() {
        return Err("no process was killed".into());
    }
    let wrong: Vec<String> = r
        .after
        .iter()
        .filter_map(|a| {
            bad(a).map(|why| format!("kill {} (after {} µs): {why}", a.kill + 1, a.delay_us))
        })
        .collect();
    if wrong.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} of {} kills (seed {}):\n{}",
        wrong.len(),
        r.after.len(),
        r.seed,
        wrong.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    ))
}

/// Checks that after every kill the settings file was byte for byte the old or the new
/// version, read as valid settings, with mode 600.
/// Both versions must have been found at least once, proving the saves ran. Lists up to 8
/// failing kills, with the seed.
#[then(
    "after every kill the settings file is byte for byte the old or the new version, valid settings, mode 600"
)]
async fn always_whole(w: &mut BbWorld) -> Result<(), String> {
    let run = run_of(w);
    let r = lock(&run);
    failures(&r, |a| match (&a.file, &a.valid) {
        (Err(e), _) => Some(format!("the settings file has {e}")),
        (_, Err(e)) => Some(format!("the settings file is not valid settings: {e}")),
        _ if a.mode != 0o600 => Some(format!("the settings file has mode {:o}", a.mode)),
        _ => None,
    })?;
    let old = r.after.iter().filter(|a| a.file == Ok("old")).count();
    let new = r.after.iter().filter(|a| a.file == Ok("new")).count();
    println!(
        "Q-4: after the kills the file held the old version {old} times, the new one {new} times"
    );
    if old == 0 || new == 0 {
        return Err(format!(
            "the kills always found the {} version: the process never got to save",
            if old == 0 { "new" } else { "old" }
        ));
    }
    Ok(())
}

/// Checks that the settings folder holds nothing but the settings file and temporary
/// files of killed saves, each of mode 600.
/// Lists up to 8 failing kills, with the seed.
#[then("after every kill the only other files are killed saves' temporary files, mode 600")]
async fn only_temps(w: &mut BbWorld) -> Result<(), String> {
    let run = run_of(w);
    let r = lock(&run);
    let names: Vec<String> = std::fs::read_dir(&r.dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let strays: Vec<&String> = names
        .iter()
        .filter(|n| *n != "bbclient.toml" && !n.starts_with(".bbclient.toml.tmp-"))
        .collect();
    if !strays.is_empty() {
        return Err(format!("other files beside the settings: {strays:?}"));
    }
    failures(&r, |a| {
        a.temps.iter().find_map(|(n, mode, by_killed, _)| {
            if !by_killed {
                Some(format!("'{n}' was not made by a killed save"))
            } else if *mode != 0o600 {
                Some(format!("'{n}' has mode {mode:o}"))
            } else {
                None
            }
        })
    })
}

/// Checks that at least one kill left the killed save's own temporary file, i.e. landed
/// between writing it and renaming it.
/// Proves that the test really interrupted saves midway.
#[then("some kills landed inside a save, between its temporary file and its rename")]
async fn inside_a_save(w: &mut BbWorld) -> Result<(), String> {
    let run = run_of(w);
    let r = lock(&run);
    let inside = r
        .after
        .iter()
        .filter(|a| a.temps.iter().any(|t| t.3))
        .count();
    println!(
        "Q-4: {inside} of {} kills left the killed save's temporary file (killed inside a save)",
        r.after.len()
    );
    if inside == 0 {
        return Err(format!(
            "none of the {} kills landed between a save's temporary file and its rename",
            r.after.len()
        ));
    }
    Ok(())
}

/// Saves the old version once more with the product's own save, then checks that no
/// temporary file of the killed saves is left beside the settings file.
/// Prints how many temporary files there were before and after.
#[then("the next save leaves no temporary file beside the settings file")]
async fn next_save_cleans(w: &mut BbWorld) -> Result<(), String> {
    let run = run_of(w);
    let r = lock(&run);
    let before = temp_files(&r.dir, "bbclient.toml").len();
    softphone::settings_store::save(&r.target, &r.versions[0].0)
        .map_err(|e| format!("the next save failed: {e}"))?;
    let left = temp_files(&r.dir, "bbclient.toml");
    println!(
        "Q-4: {before} temporary files of killed saves before the next save, {} after",
        left.len()
    );
    if !left.is_empty() {
        let names: Vec<&str> = left.iter().take(5).map(|(n, _)| n.as_str()).collect();
        return Err(format!(
            "the next save left {} temporary files of killed saves, e.g. {names:?}",
            left.len()
        ));
    }
    Ok(())
}
