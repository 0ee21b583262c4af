//! The requirement ledger check: every scenario carries a requirement ID,
//! every ID a scenario carries is in `features/requirements.toml`, and every
//! ID of the ledger has a scenario unless it says why not yet (`pending`).

use std::collections::BTreeMap;

use conformance::ledger;

#[test]
fn every_scenario_names_a_known_requirement_and_every_requirement_is_covered() {
    let features = conformance::procs::workspace_root().join("features");
    let requirements = ledger::load(&features).unwrap_or_else(|e| panic!("{e}"));
    let scenarios = ledger::scenarios(&features).unwrap_or_else(|e| panic!("{e}"));
    let known: BTreeMap<&str, &ledger::Requirement> =
        requirements.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut problems = Vec::new();
    let mut covered: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &scenarios {
        if s.ids.is_empty() {
            problems.push(format!(
                "{}:{}: scenario '{}' carries no requirement ID tag (e.g. @WEB-1)",
                s.file, s.line, s.name
            ));
        }
        for id in &s.ids {
            if known.contains_key(id.as_str()) {
                *covered.entry(id.as_str()).or_default() += 1;
            } else {
                problems.push(format!(
                    "{}:{}: scenario '{}' carries @{id}, which is not in features/requirements.toml",
                    s.file, s.line, s.name
                ));
            }
        }
    }
    let mut pending = Vec::new();
    for r in &requirements {
        match (covered.get(r.id.as_str()), &r.pending) {
            (None, None) => problems.push(format!(
                "{} has no scenario (add one, or mark it pending with the reason)",
                r.id
            )),
            (None, Some(why)) => pending.push(format!("{}: {why}", r.id)),
            (Some(n), Some(_)) => problems.push(format!(
                "{} is marked pending but {n} scenario(s) cover it: remove `pending`",
                r.id
            )),
            (Some(_), None) => {}
        }
    }
    println!(
        "requirement ledger: {} IDs, {} covered by {} scenarios, {} pending",
        requirements.len(),
        requirements.len() - pending.len(),
        scenarios.len(),
        pending.len()
    );
    for p in &pending {
        println!("  pending {p}");
    }
    assert!(
        problems.is_empty(),
        "requirement ledger problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn requirement_tags_are_recognised() {
    assert_eq!(ledger::requirement_id("@WEB-2"), Some("WEB-2"));
    assert_eq!(ledger::requirement_id("@CALL-10"), Some("CALL-10"));
    assert_eq!(ledger::requirement_id("@slow"), None);
    assert_eq!(ledger::requirement_id("@WEB-"), None);
    assert_eq!(ledger::requirement_id("@FOO-1"), None);
}
