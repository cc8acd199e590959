//! No crate of the workspace has an import cycle, between its top-level modules or between the
//! files of one folder (the house rule the server's own layering test started with, now for
//! every crate).

use testkit::layers::{first_cycle, module_graph, src_of};

const CRATES: [&str; 7] = ["monitoring", "inference-server", "operator", "report", "generate", "e2e", "testkit"];

#[test]
fn no_crate_has_an_import_cycle() {
    let mut found = Vec::new();
    for krate in CRATES {
        let src = src_of(krate);
        assert!(src.is_dir(), "{krate} has a src/");
        let (top, _) = module_graph(&src);
        // The scan reads these crates' references (their modules use each other).
        if ["monitoring", "inference-server", "operator"].contains(&krate) {
            assert!(!top.is_empty(), "{krate}: the scan found no reference");
        }
        if let Some(c) = first_cycle(&src) {
            found.push(format!("{krate}: {c}"));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}
