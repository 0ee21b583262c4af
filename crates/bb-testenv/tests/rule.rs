//! The skip rule end to end: the same skip fails under `CI=true` and is
//! printed and recorded elsewhere.

use std::process::Command;

const PROBE: &str = env!("CARGO_BIN_EXE_skip-probe");

#[test]
fn under_ci_a_skip_fails_and_says_why() {
    let out = Command::new(PROBE)
        .env("CI", "true")
        .env_remove("BB_TEST_SKIPS")
        .output()
        .expect("the probe runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stderr.contains(
            "CI=true: skip-probe cannot be skipped in CI: skip-probe: a test of the rule"
        ),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("went on"));
}

#[test]
fn outside_ci_a_skip_is_printed_and_recorded_then_the_test_returns() {
    let dir = std::env::temp_dir().join(format!("bb-testenv-rule-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let file = dir.join("skips.txt");
    for _ in 0..2 {
        let out = Command::new(PROBE)
            .env_remove("CI")
            .env("BB_TEST_SKIPS", &file)
            .output()
            .expect("the probe runs");
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("went on"));
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .starts_with("SKIPPED: skip-probe: skip-probe: a test of the rule itself"),
            "{out:?}"
        );
    }
    let recorded = std::fs::read_to_string(&file).expect("the skips file");
    assert_eq!(recorded.lines().count(), 2, "{recorded}");
    assert!(
        recorded
            .lines()
            .all(|l| l.starts_with("SKIPPED: skip-probe: "))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ci_false_is_not_ci() {
    let out = Command::new(PROBE)
        .env("CI", "false")
        .env_remove("BB_TEST_SKIPS")
        .output()
        .expect("the probe runs");
    assert!(out.status.success(), "{out:?}");
}
