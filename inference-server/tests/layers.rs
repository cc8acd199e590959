//! The house rules of the server's module graph, checked on the source: no import cycles
//! between top-level modules or between the files of one folder, the batch queue never uses
//! `http`, no HTTP file decides per model kind, and the model kinds are defined once in the
//! workspace. Pure file reading; no server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `http/v2/codec.rs` -> ["http", "v2", "codec"]; `http/mod.rs` -> ["http"].
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib" || l == "main") {
        parts.pop();
    }
    parts
}

/// Code without `//` comments (doc links name modules without using them).
fn code(file: &Path) -> String {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module paths a file refers to (`crate::a::b`, `super::x`), resolved to absolute paths.
fn references(file: &Path) -> Vec<Vec<String>> {
    let me = module_of(file);
    let text = code(file);
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", me[..me.len().saturating_sub(1)].to_vec())] {
        for (i, _) in text.match_indices(prefix) {
            if text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &text[i + prefix.len()..];
            let path: Vec<String> = rest
                .split("::")
                .map_while(|seg| {
                    let s: String = seg.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    (!s.is_empty() && s.chars().next().is_some_and(|c| c.is_lowercase())).then_some(s)
                })
                .collect();
            let mut full = base.clone();
            full.extend(path);
            if !full.is_empty() {
                out.push(full);
            }
        }
    }
    out
}

fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == n) {
            let mut c = stack[at..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

fn files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files
}

#[test]
fn the_module_graph_has_no_cycles_at_the_top_or_inside_a_folder() {
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut inner: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in files() {
        let me = module_of(&f);
        let Some(first) = me.first() else { continue };
        for r in references(&f) {
            if r[0] != *first {
                top.entry(first.clone()).or_default().insert(r[0].clone());
            } else if me.len() >= 2 && r.len() >= 2 && r[1] != me[1] {
                inner.entry(first.clone()).or_default().entry(me[1].clone()).or_default().insert(r[1].clone());
            }
        }
    }
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
        let refs = references(f);
        assert!(!refs.iter().any(|r| r[0] == "http"), "{} uses http", f.display());
    }
    assert!(jobs.iter().any(|f| references(f).iter().any(|r| r[0] == "predict")), "jobs run through predict");
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
