//! The requirement ledger check: every scenario carries a requirement ID,
//! every ID a scenario carries is in `features/requirements.toml`, and every
//! ID of the ledger has a scenario unless it says why not yet (`pending`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cucumber::gherkin::{Feature, GherkinEnv};

/// Tags that name a requirement look like `@WEB-2`.
fn requirement_id(tag: &str) -> Option<&str> {
    let t = tag.trim_start_matches('@');
    let (prefix, num) = t.split_once('-')?;
    (matches!(
        prefix,
        "UI" | "ACD" | "WEB" | "CMD" | "URI" | "CLI" | "CALL" | "Q"
    ) && !num.is_empty()
        && num.chars().all(|c| c.is_ascii_digit()))
    .then_some(t)
}

struct Ledger {
    ids: BTreeMap<String, Option<String>>,
}

fn ledger(root: &Path) -> Ledger {
    let path = root.join("features/requirements.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let table: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    let mut ids = BTreeMap::new();
    for (id, entry) in table {
        assert!(
            requirement_id(&id).is_some(),
            "{}: '{id}' is not a requirement ID (UI-n, ACD-n, WEB-n, CMD-n, URI-n, CLI-n, CALL-n, Q-n)",
            path.display()
        );
        let statement = entry
            .get("statement")
            .and_then(|s| s.as_str())
            .unwrap_or("");
        assert!(
            !statement.trim().is_empty(),
            "{}: {id} has no statement",
            path.display()
        );
        let pending = entry
            .get("pending")
            .and_then(|p| p.as_str())
            .map(str::to_string);
        ids.insert(id, pending);
    }
    Ledger { ids }
}

/// (feature file, scenario name) → requirement IDs it carries.
fn scenarios(root: &Path) -> Vec<(String, String, BTreeSet<String>)> {
    let dir = root.join("features");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "feature"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let feature = Feature::parse_path(&file, GherkinEnv::default())
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ids = |tags: &[String]| -> BTreeSet<String> {
            tags.iter()
                .filter_map(|t| requirement_id(t))
                .map(str::to_string)
                .collect()
        };
        let feature_ids = ids(&feature.tags);
        let mut push = |scenario: &cucumber::gherkin::Scenario, extra: &BTreeSet<String>| {
            let mut all = feature_ids.clone();
            all.extend(extra.iter().cloned());
            all.extend(ids(&scenario.tags));
            for ex in &scenario.examples {
                all.extend(ids(&ex.tags));
            }
            out.push((name.clone(), scenario.name.clone(), all));
        };
        for s in &feature.scenarios {
            push(s, &BTreeSet::new());
        }
        for rule in &feature.rules {
            let rule_ids = ids(&rule.tags);
            for s in &rule.scenarios {
                push(s, &rule_ids);
            }
        }
    }
    out
}

#[test]
fn every_scenario_names_a_known_requirement_and_every_requirement_is_covered() {
    let root = conformance::procs::workspace_root();
    let ledger = ledger(&root);
    let scenarios = scenarios(&root);
    let mut problems = Vec::new();
    let mut covered: BTreeMap<&str, usize> = BTreeMap::new();
    for (file, name, ids) in &scenarios {
        if ids.is_empty() {
            problems.push(format!(
                "{file}: scenario '{name}' carries no requirement ID tag (e.g. @WEB-1)"
            ));
        }
        for id in ids {
            if ledger.ids.contains_key(id) {
                *covered.entry(id.as_str()).or_default() += 1;
            } else {
                problems.push(format!("{file}: scenario '{name}' carries @{id}, which is not in features/requirements.toml"));
            }
        }
    }
    let mut pending = Vec::new();
    for (id, why) in &ledger.ids {
        match (covered.get(id.as_str()), why) {
            (None, None) => problems.push(format!(
                "{id} has no scenario (add one, or mark it pending with the reason)"
            )),
            (None, Some(why)) => pending.push(format!("{id}: {why}")),
            (Some(n), Some(_)) => problems.push(format!(
                "{id} is marked pending but {n} scenario(s) cover it: remove `pending`"
            )),
            (Some(_), None) => {}
        }
    }
    println!(
        "requirement ledger: {} IDs, {} covered by {} scenarios, {} pending",
        ledger.ids.len(),
        ledger.ids.len() - pending.len(),
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
    assert_eq!(requirement_id("@WEB-2"), Some("WEB-2"));
    assert_eq!(requirement_id("@CALL-10"), Some("CALL-10"));
    assert_eq!(requirement_id("@slow"), None);
    assert_eq!(requirement_id("@WEB-"), None);
    assert_eq!(requirement_id("@FOO-1"), None);
}
