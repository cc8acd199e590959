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
