//! The RFC 4475 / RFC 5118 torture corpus against `bb_sip::inbound` and
//! rsipstack 0.7.14.
//!
//! This test has its own `main` (`harness = false` in Cargo.toml) so that a
//! missing corpus is reported as *skipped*, never counted as passed, and
//! fails the run under `CI=true` (`bb_testenv::torture_corpus`). The corpus
//! is read from `$BB_SIP_TORTURE_DIR`, else `../shared/fixtures/sip-torture`
//! beside the workspace, else `fixtures/sip-torture` inside it. Its
//! `SHA256SUMS` is checked before anything else.
//!
//! Checks (each over every file):
//! - `parse`: valid and valid-but-odd files give the manifest's method or
//!   status, Call-ID, CSeq number and CSeq method from `parse_datagram`;
//!   invalid files give a defect, a Drop, or (liberal_ok=yes) acceptance.
//! - `stack`: what rsipstack does with the file alone (printed), and that
//!   whatever `check_datagram` hands the stack is read with the manifest's
//!   values.
//! - `classify`: `check_datagram`'s verdict matches `ua_action`.
//! - `mutations`: corpus files with random edits never panic and keep the
//!   verdict invariants (proptest, fixed seed).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use bb_sip::inbound::{Kind, StackOutcome, Verdict, check_datagram, parse_datagram, stack_outcome};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use sha2::{Digest as _, Sha256};

const CHECKS: [&str; 4] = ["parse", "stack", "classify", "mutations"];

fn main() -> ExitCode {
    // Missing corpus: a failure under CI=true, else SKIPPED and counted.
    let Some(dir) = bb_testenv::torture_corpus() else {
        println!(
            "skipped {} corpus checks ({}); 0 passed, 0 failed, {} skipped",
            CHECKS.len(),
            CHECKS.join(", "),
            CHECKS.len()
        );
        return ExitCode::SUCCESS;
    };
    println!("sip-torture corpus: {}", dir.display());
    let rows = load(&dir);
    let mut failed = Vec::new();
    let mut passed = 0;
    for (name, check) in [
        ("parse", check_parse as fn(&[Row]) -> Result<(), String>),
        ("stack", check_stack),
        ("classify", check_classify),
        ("mutations", check_mutations),
    ] {
        match check(&rows) {
            Ok(()) => {
                println!("check {name} ... ok");
                passed += 1;
            }
            Err(e) => {
                println!("check {name} ... FAILED\n{e}");
                failed.push(name);
            }
        }
    }
    println!(
        "torture checks: {passed} passed, {} failed{}, 0 skipped",
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" ({})", failed.join(", "))
        }
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ---------------------------------------------------------------------------
// Finding and loading the corpus.

struct Row {
    file: String,
    short: String,
    expected: String,
    ua_action: String,
    liberal_ok: bool,
    kind: String,
    method_or_status: String,
    call_id: String,
    cseq_num: String,
    cseq_method: String,
    bytes: Vec<u8>,
}

fn load(dir: &Path) -> Vec<Row> {
    verify_sums(dir);
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("MANIFEST.tsv").display()));
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("MANIFEST.tsv has no column '{name}'"))
    };
    let (c_file, c_short, c_exp, c_act, c_lib) = (
        col("file"),
        col("short_name"),
        col("expected"),
        col("ua_action"),
        col("liberal_ok"),
    );
    let (c_kind, c_ms, c_cid, c_num, c_meth) = (
        col("kind"),
        col("method_or_status"),
        col("call_id"),
        col("cseq_num"),
        col("cseq_method"),
    );
    let rows: Vec<Row> = lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let get = |i: usize| {
                f.get(i)
                    .unwrap_or_else(|| panic!("MANIFEST.tsv line '{line}' is short"))
                    .to_string()
            };
            let file = get(c_file);
            let bytes = std::fs::read(dir.join(&file))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(&file).display()));
            Row {
                short: get(c_short),
                expected: get(c_exp),
                ua_action: get(c_act),
                liberal_ok: get(c_lib) == "yes",
                kind: get(c_kind),
                method_or_status: get(c_ms),
                call_id: get(c_cid),
                cseq_num: get(c_num),
                cseq_method: get(c_meth),
                file,
                bytes,
            }
        })
        .collect();
    assert_eq!(rows.len(), 61, "MANIFEST.tsv should list 61 files");
    rows
}

/// Fails loudly when any file differs from SHA256SUMS or is not listed there.
fn verify_sums(dir: &Path) {
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("SHA256SUMS").display()));
    let mut listed = 0;
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (want, path) = line
            .split_once(char::is_whitespace)
            .unwrap_or_else(|| panic!("SHA256SUMS line '{line}' is not '<hash>  <path>'"));
        let path = path.trim_start().trim_start_matches('*');
        let bytes = std::fs::read(dir.join(path))
            .unwrap_or_else(|e| panic!("SHA256SUMS lists {path}: {e}"));
        let got = hex::encode(Sha256::digest(&bytes));
        assert_eq!(
            got,
            want.to_ascii_lowercase(),
            "sip-torture corpus file {path} does not match SHA256SUMS: \
             the corpus was modified (line endings?); restore it byte for byte"
        );
        listed += 1;
    }
    assert!(
        listed >= 61,
        "SHA256SUMS lists {listed} files, expected 61 or more"
    );
}

// ---------------------------------------------------------------------------
// (a)/(b) parse.

fn manifest_values(r: &Row) -> (String, String, String, String, String) {
    (
        r.kind.clone(),
        r.method_or_status.clone(),
        r.call_id.clone(),
        r.cseq_num.clone(),
        r.cseq_method.clone(),
    )
}

fn our_values(bytes: &[u8]) -> Option<(String, String, String, String, String)> {
    let s = parse_datagram(bytes).summary()?;
    let or_dash = |v: Vec<String>| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(",")
        }
    };
    Some((
        match s.kind {
            Kind::Request => "request".into(),
            Kind::Response => "response".into(),
        },
        s.method_or_status,
        or_dash(s.call_ids),
        or_dash(s.cseqs.iter().map(|c| c.number.clone()).collect()),
        or_dash(s.cseqs.iter().map(|c| c.method.clone()).collect()),
    ))
}

fn check_parse(rows: &[Row]) -> Result<(), String> {
    let mut errors = String::new();
    for r in rows {
        let parsed = parse_datagram(&r.bytes);
        let ours = our_values(&r.bytes);
        // The summary is compared for every file: the manifest lists the
        // values for invalid files too.
        if ours.as_ref() != Some(&manifest_values(r)) {
            let _ = writeln!(
                errors,
                "  {}: summary {:?}, manifest {:?}",
                r.file,
                ours,
                manifest_values(r)
            );
        }
        let valid = r.expected != "invalid";
        let defects = parsed.defects();
        let verdict = check_datagram(&r.bytes);
        if valid {
            // Defects of policy classes (416/420/415/406) are fine for
            // valid-but-odd files; syntax defects are not.
            if let Some(d) = defects
                .iter()
                .find(|d| d.class.status() == 400 || d.class.status() == 505)
            {
                let _ = writeln!(
                    errors,
                    "  {} ({}): unexpected defect: {d}",
                    r.file, r.expected
                );
            }
        } else {
            let rejected = !defects.is_empty() || matches!(verdict, Verdict::Drop(_));
            if !rejected && !r.liberal_ok {
                let _ = writeln!(errors, "  {} (invalid): no defect and {verdict:?}", r.file);
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------------------
// Stack: alone, and after check_datagram.

fn describe_stack(o: &StackOutcome) -> String {
    match o {
        StackOutcome::Ignored => "ignored".into(),
        StackOutcome::Delivered {
            method_or_status,
            headers,
            body,
            ..
        } => format!("delivered {method_or_status} ({headers} hdrs, {body} B body)"),
        StackOutcome::Dropped { stage, error } => format!("DROPPED at {stage}: {error}"),
    }
}

fn stack_values(o: &StackOutcome) -> Option<(String, String, String, String)> {
    let StackOutcome::Delivered {
        method_or_status,
        call_id,
        cseq,
        ..
    } = o
    else {
        return None;
    };
    let cseq = cseq.clone().unwrap_or_default();
    let mut parts = cseq.split_whitespace();
    let num = parts.next().unwrap_or("").trim_start_matches('0');
    Some((
        method_or_status.clone(),
        call_id.clone().unwrap_or_else(|| "-".into()),
        if num.is_empty() {
            "0".into()
        } else {
            num.into()
        },
        parts.next().unwrap_or("").to_string(),
    ))
}

fn check_stack(rows: &[Row]) -> Result<(), String> {
    let mut errors = String::new();
    println!("  what rsipstack 0.7.14 does with each file on its own:");
    for r in rows {
        let alone = stack_outcome(&r.bytes);
        println!("    {:<40} {}", r.file, describe_stack(&alone));
        let handed = match check_datagram(&r.bytes) {
            Verdict::Pass => Some(r.bytes.clone()),
            Verdict::Rewrite(rw) => Some(rw.bytes),
            Verdict::Reply(_) | Verdict::Drop(_) => None,
        };
        let Some(handed) = handed else { continue };
        let seen = stack_outcome(&handed);
        // Multiple values (multi01) are never handed on, so the first-value
        // view of the stack is comparable with the manifest.
        let want = (
            r.method_or_status.clone(),
            r.call_id.clone(),
            r.cseq_num.clone(),
            r.cseq_method.clone(),
        );
        if stack_values(&seen).as_ref() != Some(&want) {
            let _ = writeln!(
                errors,
                "  {}: handed to the stack, which gives {} / {:?}, manifest {want:?}",
                r.file,
                describe_stack(&seen),
                stack_values(&seen)
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------------------
// (c) classify: the ua_action mapper.

/// What `ua_action` allows for one row.
#[derive(Debug, Default)]
struct Expect {
    /// Acceptable response codes, the RFC's first choice first.
    statuses: Vec<u16>,
    /// Handing the request to the stack/application is acceptable.
    pass: bool,
    /// Saying nothing is acceptable.
    drop: bool,
    /// The first choice.
    first: Outcome,
    /// Why the alternatives are allowed.
    notes: Vec<&'static str>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    #[default]
    Pass,
    Reply(u16),
    Drop,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Pass => f.write_str("pass"),
            Outcome::Reply(n) => write!(f, "{n}"),
            Outcome::Drop => f.write_str("drop"),
        }
    }
}

/// Reads `ua_action`: response codes are the numbers after "reject",
/// "respond" or "or", or before "also acceptable"; numbers after a role
/// ("proxy: 483", "registrar: 200", "dialog: 481") are what the application
/// or another role sends, not this classifier.
fn expectation(r: &Row) -> Expect {
    let a = r.ua_action.as_str();
    let mut e = Expect::default();
    let words: Vec<&str> = a
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| "(),;".contains(c)))
        .collect();
    for (i, w) in words.iter().enumerate() {
        let Ok(n) = w.parse::<u16>() else { continue };
        if !(400..=699).contains(&n) {
            continue;
        }
        let before = i.checked_sub(1).map(|j| words[j]);
        let after = words.get(i + 1).copied();
        if matches!(before, Some("reject" | "respond" | "or")) || after == Some("also") {
            e.statuses.push(n);
        }
    }
    if r.kind == "response" {
        e.pass = true;
        e.drop = true;
        e.first = if a.starts_with("drop") {
            Outcome::Drop
        } else {
            Outcome::Pass
        };
        e.notes
            .push("responses are never answered; the stack discards strays");
        return e;
    }
    if a.starts_with("process") {
        e.pass = true;
        e.first = Outcome::Pass;
    } else if a.starts_with("drop") {
        e.drop = true;
        e.first = Outcome::Drop;
    } else if let Some(&n) = e.statuses.first() {
        e.first = Outcome::Reply(n);
    }
    if a.contains("registrar") || a.contains("proxy: process") {
        e.pass = true;
        e.notes
            .push("role-specific: the application answers (registrar, 405)");
    }
    if a.contains("fall back") {
        e.pass = true;
        e.notes.push("RFC 2543 fallback matching is allowed");
    }
    if r.liberal_ok {
        e.pass = true;
        e.notes.push("liberal_ok=yes");
    }
    if r.call_id == "-" {
        e.drop = true;
        e.notes
            .push("no Call-ID/From/To: no response can be formed");
    }
    e
}

fn outcome(v: &Verdict) -> Outcome {
    match v {
        Verdict::Pass | Verdict::Rewrite(_) => Outcome::Pass,
        Verdict::Reply(r) => Outcome::Reply(r.status),
        Verdict::Drop(_) => Outcome::Drop,
    }
}

fn check_classify(rows: &[Row]) -> Result<(), String> {
    let mut first = 0;
    let mut alternative = Vec::new();
    let mut differ = Vec::new();
    println!(
        "  {:<34} {:<10} {:<8} {:<8} verdict detail",
        "file", "expected", "first", "ours"
    );
    for r in rows {
        let e = expectation(r);
        let verdict = check_datagram(&r.bytes);
        let got = outcome(&verdict);
        let allowed = match got {
            Outcome::Pass => e.pass,
            Outcome::Drop => e.drop,
            Outcome::Reply(n) => e.statuses.contains(&n),
        };
        let mark = if got == e.first {
            first += 1;
            "first"
        } else if allowed {
            alternative.push(format!("{} ({got}: {})", r.short, e.notes.join("; ")));
            "alt"
        } else {
            differ.push(format!(
                "{} (ours {got}, manifest '{}')",
                r.short, r.ua_action
            ));
            "DIFFERS"
        };
        let detail = match &verdict {
            Verdict::Pass => String::new(),
            Verdict::Rewrite(rw) => format!("rewritten: {}", rw.why),
            Verdict::Reply(rep) => {
                String::from_utf8_lossy(rep.bytes.split(|&b| b == b'\r').next().unwrap_or_default())
                    .into_owned()
            }
            Verdict::Drop(why) => why.to_string(),
        };
        println!(
            "  {:<34} {:<10} {:<8} {:<8} {mark:<7} {detail}",
            r.file,
            &r.expected[..r.expected.len().min(10)],
            e.first.to_string(),
            got.to_string()
        );
    }
    println!(
        "torture corpus: {} files, {} match the manifest ({} first choice, {} alternative), {} differ{}",
        rows.len(),
        first + alternative.len(),
        first,
        alternative.len(),
        differ.len(),
        if differ.is_empty() {
            String::new()
        } else {
            format!(": {}", differ.join("; "))
        }
    );
    for a in &alternative {
        println!("  alternative: {a}");
    }
    if differ.is_empty() {
        Ok(())
    } else {
        Err(format!("  differ: {}", differ.join("\n  differ: ")))
    }
}

// ---------------------------------------------------------------------------
// Mutations (proptest with a fixed seed, so a failure reproduces).

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
    Splice(usize, usize, usize),
}

fn apply(base: &[u8], other: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut v = base.to_vec();
    for e in edits {
        let len = v.len().max(1);
        match *e {
            Edit::Flip(i, b) => {
                if let Some(x) = v.get_mut(i % len) {
                    *x = b;
                }
            }
            Edit::Insert(i, b) => v.insert((i % len).min(v.len()), b),
            Edit::Delete(i, n) => {
                let start = (i % len).min(v.len());
                let end = (start + n % 64).min(v.len());
                v.drain(start..end);
            }
            Edit::Duplicate(i, n) => {
                let start = (i % len).min(v.len());
                let end = (start + n % 256).min(v.len());
                let chunk = v[start..end].to_vec();
                let at = end;
                v.splice(at..at, chunk);
            }
            Edit::Truncate(i) => v.truncate(i % len),
            Edit::Splice(i, j, n) => {
                if !other.is_empty() {
                    let from = j % other.len();
                    let to = (from + n % 256).min(other.len());
                    let at = (i % len).min(v.len());
                    v.splice(at..at, other[from..to].iter().copied());
                }
            }
        }
    }
    v
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (
            any::<usize>(),
            prop::sample::select(vec![
                b' ', b'\t', b'\r', b'\n', b':', b';', b',', b'"', b'<', b'>', b'\\', b'0', b'9',
                b'-', b'%', b'@', b'[', b']', 0x00, 0x80, 0xC3, 0xFF
            ])
        )
            .prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(i, j, n)| Edit::Splice(i, j, n)),
    ]
}

fn check_mutations(rows: &[Row]) -> Result<(), String> {
    let files: Vec<Vec<u8>> = rows.iter().map(|r| r.bytes.clone()).collect();
    let n = files.len();
    let cases = std::env::var("BB_SIP_MUTATION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let tally: RefCell<BTreeMap<&'static str, usize>> = RefCell::new(BTreeMap::new());
    let strategy = (0..n, 0..n, prop::collection::vec(edit(), 1..6));
    let result = runner.run(&strategy, |(a, b, edits)| {
        let bytes = apply(&files[a], &files[b], &edits);
        let verdict = check_datagram(&bytes);
        *tally
            .borrow_mut()
            .entry(match &verdict {
                Verdict::Pass => "pass",
                Verdict::Rewrite(_) => "rewrite",
                Verdict::Reply(_) => "reply",
                Verdict::Drop(_) => "drop",
            })
            .or_default() += 1;
        common::verdict_invariants(&bytes, &verdict).map_err(TestCaseError::fail)?;
        Ok(())
    });
    println!("  {cases} mutated corpus messages: {:?}", tally.borrow());
    result.map_err(|e| format!("  {e}"))
}

mod common;
