//! The house rules of the server's module graph, checked on the source: no import cycles
//! between top-level modules or between the files of one folder (`testkit::layers`, which
//! checks every crate the same way), the batch queue never uses `http`, no HTTP file decides per
//! model kind, and the model kinds are defined once in the workspace. Pure file reading; no
//! server.

use std::path::{Path, PathBuf};
use testkit::layers::{code, cycle, module_graph, references, rust_files};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn module_of(file: &Path) -> Vec<String> {
    testkit::layers::module_of(&src(), file)
}

fn files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files
}

#[test]
fn the_module_graph_has_no_cycles_at_the_top_or_inside_a_folder() {
    let (top, inner) = module_graph(&src());
    assert!(top.contains_key("http"), "the scan found the http module's references: {top:?}");
    assert_eq!(cycle(&top), None, "import cycle between top-level modules");
    for (folder, edges) in &inner {
        assert_eq!(cycle(edges), None, "import cycle inside {folder}/");
    }
}

#[test]
fn the_batch_queue_uses_the_prediction_layer_and_never_http() {
    let jobs: Vec<PathBuf> =
        files().into_iter().filter(|f| module_of(f).first().is_some_and(|m| m == "jobs")).collect();
    assert!(!jobs.is_empty());
    for f in &jobs {
        let refs = references(&src(), f);
        assert!(!refs.iter().any(|r| r[0] == "http"), "{} uses http", f.display());
    }
    assert!(jobs.iter().any(|f| references(&src(), f).iter().any(|r| r[0] == "predict")), "jobs run through predict");
}

#[test]
fn no_http_file_decides_per_model_kind() {
    for f in files().into_iter().filter(|f| module_of(f).first().is_some_and(|m| m == "http")) {
        let text = code(&f);
        assert!(!text.contains("ModelKind::"), "{} matches on the model kind", f.display());
    }
}

#[test]
fn the_model_kinds_are_defined_once_in_the_workspace() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut all = Vec::new();
    for krate in ["monitoring", "inference-server", "operator", "generate", "e2e"] {
        let dir = root.join(krate).join("src");
        if dir.is_dir() {
            rust_files(&dir, &mut all);
        }
    }
    let defining: Vec<String> = all
        .iter()
        .filter(|f| {
            let t = code(f);
            t.contains("enum ModelKind") || t.contains("\"sentiment\", \"topic\", \"email\"")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert_eq!(defining.len(), 1, "model kinds defined in {defining:?}");
    assert!(defining[0].ends_with("monitoring/src/serving.rs"), "{defining:?}");
}
