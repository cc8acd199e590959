//! Generated files are generated: the committed copies must equal what the code renders.

#[test]
fn committed_generated_files_match_the_code() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut stale = Vec::new();
    for (path, contents) in inferwatch_generate::files().unwrap() {
        if std::fs::read_to_string(root.join(&path)).ok().as_deref() != Some(contents.as_str()) {
            stale.push(path);
        }
    }
    assert!(stale.is_empty(), "generated files are out of date: {stale:?}\nrun `make generate` and commit the result");
}

/// Every alert's `runbook_url` points at a runbook that says what it means, how to confirm it,
/// the likely causes and the fix.
#[test]
fn every_alert_has_a_complete_runbook() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/runbooks");
    for (name, severity) in inferwatch_monitoring::alerts::ALERTS {
        let path = root.join(format!("{name}.md"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.starts_with(&format!("# {name} ({})", severity.as_str())), "{name}: title and severity");
        for section in ["**Meaning.**", "**Confirm.**", "**Likely causes.**", "**Fix.**"] {
            assert!(text.contains(section), "{name}: missing {section}");
        }
    }
}
