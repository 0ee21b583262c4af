//! A bounded fuzz loop that runs on stable Rust, for CI: seeded random bytes
//! and mutations of SIP messages (the torture corpus when it is found, plus
//! built-in seeds), each fed to `bb_fuzz::check_one` for `--seconds N`.
//!
//! ```text
//! replay [--seconds N] [--seed S] [--max-len N] [--corpus DIR]... [--keep-going] [FILE]...
//! ```
//!
//! With FILEs it runs each once (to reproduce a saved crash) and exits. A
//! failing input is saved under `fuzz/artifacts/replay/` and the exit status
//! is 1. Inputs on which rsipstack itself panics (before our classifier) are
//! findings, not failures: they are saved beside them and listed at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bb_fuzz::{Seen, check_one, stack_panics};
use sha2::{Digest as _, Sha256};

const USAGE: &str = "usage: replay [--seconds N] [--seed S] [--max-len N] [--corpus DIR]... [--keep-going] [FILE]...";

struct Args {
    seconds: u64,
    seed: u64,
    max_len: usize,
    corpus: Vec<PathBuf>,
    keep_going: bool,
    files: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 20,
        seed: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1,
        max_len: 4096,
        corpus: Vec::new(),
        keep_going: false,
        files: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value ({USAGE})"))
        };
        match a.as_str() {
            "--seconds" => {
                let v = value("--seconds")?;
                args.seconds = v
                    .parse()
                    .map_err(|_| format!("--seconds '{v}' is not a whole number"))?;
            }
            "--seed" => {
                let v = value("--seed")?;
                args.seed = v
                    .parse()
                    .map_err(|_| format!("--seed '{v}' is not a whole number"))?;
            }
            "--max-len" => {
                let v = value("--max-len")?;
                args.max_len = v
                    .parse()
                    .map_err(|_| format!("--max-len '{v}' is not a whole number"))?;
            }
            "--corpus" => args.corpus.push(PathBuf::from(value("--corpus")?)),
            "--keep-going" => args.keep_going = true,
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("unknown option '{s}' ({USAGE})")),
            file => args.files.push(PathBuf::from(file)),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("replay: {e}");
            return ExitCode::from(2);
        }
    };
    // Panics are caught and reported here; keep the default hook quiet but
    // remember the message and place.
    let last_panic: Arc<Mutex<String>> = Arc::default();
    let sink = last_panic.clone();
    panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        *sink.lock().unwrap_or_else(|p| p.into_inner()) = format!("{msg} (at {place})");
    }));
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/replay");

    if !args.files.is_empty() {
        return replay_files(&args.files, &last_panic);
    }

    let seeds = load_seeds(&args.corpus);
    println!(
        "replay: seed {} for {} s, {} seed messages, inputs up to {} octets",
        args.seed,
        args.seconds,
        seeds.len(),
        args.max_len
    );
    let mut rng = Rng(args.seed);
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut iterations: u64 = 0;
    let mut verdicts: BTreeMap<Seen, u64> = BTreeMap::new();
    let mut crashes = 0u64;
    let mut stack_findings: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut prev: Vec<u8> = Vec::new();
    loop {
        if iterations.is_multiple_of(256) && Instant::now() >= deadline {
            break;
        }
        iterations += 1;
        let input = generate(&mut rng, &seeds, &prev, args.max_len);
        match panic::catch_unwind(AssertUnwindSafe(|| check_one(&input))) {
            Ok(seen) => *verdicts.entry(seen).or_default() += 1,
            Err(_) => {
                crashes += 1;
                let why = last_panic.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let path = save(&artifacts, "crash", &input);
                println!("replay: CRASH after {iterations} inputs: {why}\n  input saved to {path}");
                if !args.keep_going {
                    break;
                }
            }
        }
        if let Some(msg) = stack_panics(&input) {
            let key = msg.split(" (at ").next().unwrap_or(&msg).to_string();
            stack_findings
                .entry(key)
                .or_insert_with(|| PathBuf::from(save(&artifacts, "rsipstack-panic", &input)));
        }
        if rng.below(4) == 0 {
            prev = input;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "replay: {iterations} inputs in {secs:.1} s ({:.0}/s), verdicts {verdicts:?}, {crashes} crash(es)",
        iterations as f64 / secs.max(1e-9)
    );
    if stack_findings.is_empty() {
        println!("replay: rsipstack did not panic on any raw input");
    } else {
        println!(
            "replay: rsipstack panicked on raw input ({} distinct message(s)); \
             check_datagram never passed such input on:",
            stack_findings.len()
        );
        for (msg, path) in &stack_findings {
            println!("  {msg}\n    input: {}", path.display());
        }
    }
    if crashes == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn replay_files(files: &[PathBuf], last_panic: &Mutex<String>) -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for path in files {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("replay: {}: {e}", path.display());
                status = ExitCode::FAILURE;
                continue;
            }
        };
        match panic::catch_unwind(AssertUnwindSafe(|| check_one(&bytes))) {
            Ok(seen) => println!("{}: {seen:?}", path.display()),
            Err(_) => {
                let why = last_panic.lock().unwrap_or_else(|p| p.into_inner()).clone();
                println!("{}: CRASH: {why}", path.display());
                status = ExitCode::FAILURE;
            }
        }
        if let Some(msg) = stack_panics(&bytes) {
            println!("{}: rsipstack alone panics: {msg}", path.display());
        }
    }
    status
}

fn save(dir: &Path, prefix: &str, input: &[u8]) -> String {
    let name = format!("{prefix}-{}", &hex::encode(Sha256::digest(input))[..16]);
    let path = dir.join(name);
    match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, input)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(not saved: {}: {e})", path.display()),
    }
}

// ---------------------------------------------------------------------------
// Seeds.

const BUILTIN: [&[u8]; 3] = [
    b"INVITE sip:agent@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-1;rport\r\n\
      From: \"Caller\" <sip:0312345678@192.0.2.9>;tag=a1\r\nTo: <sip:agent@192.0.2.1>\r\n\
      Call-ID: c1@192.0.2.9\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
      Contact: <sip:0312345678@192.0.2.9:5060>\r\nContent-Type: application/sdp\r\n\
      Content-Length: 12\r\n\r\nv=0\r\ns=-\r\n\r\n",
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-3\r\n\
      From: <sip:agent@192.0.2.1>;tag=c3\r\nTo: <sip:pbx@192.0.2.9>;tag=d3\r\n\
      Call-ID: c3\r\nCSeq: 3 REGISTER\r\nContent-Length: 0\r\n\r\n",
    b"OPTIONS sip:agent@192.0.2.1 SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-2\r\n\
      f: sip:pbx@192.0.2.9;tag=b2\r\nt: sip:agent@192.0.2.1\r\ni: c2\r\nCSeq: 2 OPTIONS\r\nl: 0\r\n\r\n",
];

fn load_seeds(extra: &[PathBuf]) -> Vec<Vec<u8>> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = extra.to_vec();
    if let Some(d) = std::env::var_os("BB_SIP_TORTURE_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(here.join("../../shared/fixtures/sip-torture"));
    dirs.push(here.join("../fixtures/sip-torture"));
    dirs.push(here.join("corpus/inbound_datagram"));
    dirs.push(here.join("artifacts-known"));
    let mut seen = BTreeSet::new();
    let mut seeds: Vec<Vec<u8>> = BUILTIN.iter().map(|s| s.to_vec()).collect();
    for dir in dirs {
        for file in files_under(&dir, 2) {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.as_deref().is_some_and(|n| {
                n.ends_with(".md") || n.ends_with(".tsv") || n == "SHA256SUMS" || n.starts_with('.')
            }) {
                continue;
            }
            if let Ok(bytes) = std::fs::read(&file)
                && bytes.len() <= 65_535
                && seen.insert(Sha256::digest(&bytes).to_vec())
            {
                seeds.push(bytes);
            }
        }
    }
    seeds
}

fn files_under(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && depth > 0 {
            out.extend(files_under(&p, depth - 1));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// Input generation.

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: [&[u8]; 52] = [
    b"\r\n",
    b"\r\n ",
    b"\r\n\t",
    b"\r\n\r\n",
    b"\n",
    b"\r",
    b":",
    b";",
    b",",
    b"=",
    b"\"",
    b"\\",
    b"<",
    b">",
    b"[",
    b"]",
    b"%",
    b"%00",
    b"%zz",
    b"@",
    b" ",
    b"  ",
    b"\t",
    b"/",
    b"SIP/2.0",
    b"SIP/2.0/UDP ",
    b"sip:",
    b"sips:",
    b"tel:",
    b"x-y:",
    b";tag=",
    b";tag",
    b";branch=z9hG4bK",
    b"Via: ",
    b"From: ",
    b"To: ",
    b"Call-ID: ",
    b"CSeq: ",
    b"Content-Length: ",
    b"l: ",
    b"v: ",
    b"Max-Forwards: ",
    b"Require: ",
    b"Accept: ",
    b"Content-Type: ",
    b"INVITE",
    b"ACK",
    b"[::1]",
    b"[2001:db8:::1]",
    b"\xff\xfe",
    b"\xc3",
    b"\x00",
];

const NUMBERS: [&[u8]; 10] = [
    b"0",
    b"-1",
    b"00000000000000000001",
    b"255",
    b"256",
    b"65536",
    b"2147483647",
    b"2147483648",
    b"4294967296",
    b"99999999999999999999999",
];

fn generate(rng: &mut Rng, seeds: &[Vec<u8>], prev: &[u8], max_len: usize) -> Vec<u8> {
    if rng.below(20) == 0 {
        let len = rng.below(max_len.min(2048) + 1);
        return (0..len).map(|_| rng.next() as u8).collect();
    }
    let mut v = if !prev.is_empty() && rng.below(5) == 0 {
        prev.to_vec()
    } else {
        seeds[rng.below(seeds.len())].clone()
    };
    for _ in 0..=rng.below(8) {
        mutate(rng, &mut v, seeds);
    }
    v.truncate(max_len);
    v
}

fn mutate(rng: &mut Rng, v: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let at = rng.below(v.len() + 1);
    match rng.below(10) {
        0 => {
            if at < v.len() {
                v[at] = rng.next() as u8;
            }
        }
        1 => {
            if at < v.len() {
                let t = TOKENS[rng.below(TOKENS.len())];
                v[at] = t.first().copied().unwrap_or(b' ');
            }
        }
        2 | 3 => {
            let t = TOKENS[rng.below(TOKENS.len())];
            v.splice(at..at, t.iter().copied());
        }
        4 => {
            let end = (at + rng.below(32)).min(v.len());
            v.drain(at..end);
        }
        5 => {
            let end = (at + rng.below(128)).min(v.len());
            let chunk = v[at..end].to_vec();
            v.splice(end..end, chunk);
        }
        6 => {
            let other = &seeds[rng.below(seeds.len())];
            if !other.is_empty() {
                let from = rng.below(other.len());
                let to = (from + rng.below(256)).min(other.len());
                v.splice(at..at, other[from..to].iter().copied());
            }
        }
        7 => v.truncate(at),
        8 => {
            // Replace the run of digits nearest `at` with an edge-case number.
            if let Some(start) = v[at..].iter().position(u8::is_ascii_digit).map(|i| at + i) {
                let end = v[start..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(v.len(), |i| start + i);
                let n = NUMBERS[rng.below(NUMBERS.len())];
                v.splice(start..end, n.iter().copied());
            }
        }
        _ => {
            // Swap two header lines.
            let lines: Vec<usize> = v
                .windows(2)
                .enumerate()
                .filter(|(_, w)| w == b"\r\n")
                .map(|(i, _)| i + 2)
                .collect();
            if lines.len() >= 3 {
                let a = lines[rng.below(lines.len() - 1)];
                let b = lines[rng.below(lines.len() - 1)];
                let (a, b) = (a.min(b), a.max(b));
                let a_end = lines.iter().copied().find(|&l| l > a).unwrap_or(a);
                let b_end = lines.iter().copied().find(|&l| l > b).unwrap_or(b);
                if a_end <= b && b_end <= v.len() {
                    let line_a = v[a..a_end].to_vec();
                    let line_b = v[b..b_end].to_vec();
                    v.splice(b..b_end, line_a);
                    v.splice(a..a_end, line_b);
                }
            }
        }
    }
}
