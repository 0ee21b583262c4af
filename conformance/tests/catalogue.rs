//! `docs/steps.md` is the step catalogue generated from the step
//! definitions: this test fails when it is out of date, when a step has no
//! doc comment or no area, and when a step file is not in
//! `catalogue::SOURCES`. `cargo xtask steps` (this test with
//! `BB_WRITE_STEPS=1`) writes it.

use conformance::catalogue;

#[test]
fn the_step_catalogue_is_complete_and_up_to_date() {
    let root = conformance::procs::workspace_root();
    let dir = root.join("conformance/src/bin/bbfeatures/steps");
    let mut problems = Vec::new();
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".rs"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = catalogue::SOURCES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    listed.sort();
    if on_disk != listed {
        problems.push(format!(
            "the step files {on_disk:?} differ from catalogue::SOURCES {listed:?}: \
             list every file of {} there",
            dir.display()
        ));
    }
    let mut steps = catalogue::steps().unwrap_or_else(|e| panic!("{e}"));
    assert!(steps.len() > 100, "only {} steps found", steps.len());
    for s in &steps {
        if s.doc.trim().is_empty() {
            problems.push(format!(
                "steps/{}: the step '{}' has no doc comment: say above its attribute what it \
                 does or checks",
                s.file,
                s.pattern.text()
            ));
        }
        if catalogue::area_of(&s.file).is_none() {
            problems.push(format!(
                "steps/{} is in no area: add it to catalogue::AREAS",
                s.file
            ));
        }
        if let Err(e) = s.pattern.regex() {
            problems.push(format!("steps/{}: {e}", s.file));
        }
    }
    catalogue::find_examples(
        &mut steps,
        &[root.join("features"), root.join("docs/examples")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for s in &steps {
        if s.example.is_none() {
            problems.push(format!(
                "steps/{}: no feature file uses the step '{}'; use it in a scenario or remove it",
                s.file,
                s.pattern.text()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let md = catalogue::markdown(&steps);
    let path = root.join("docs/steps.md");
    if std::env::var_os("BB_WRITE_STEPS").is_some() {
        std::fs::write(&path, &md)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("wrote {} ({} steps)", path.display(), steps.len());
        return;
    }
    let on_file = std::fs::read_to_string(&path).unwrap_or_default();
    if on_file != md {
        let first = on_file
            .lines()
            .zip(md.lines())
            .position(|(a, b)| a != b)
            .map(|n| n + 1)
            .unwrap_or_else(|| on_file.lines().count().min(md.lines().count()) + 1);
        panic!(
            "{} is out of date (first difference at line {first}); run `cargo xtask steps` \
             and commit the result",
            path.display()
        );
    }
}
