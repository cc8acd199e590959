//! The module graph of a crate, read from its source: which top-level modules and which files of
//! one folder refer to which (`crate::a::b`, `super::x`), and the first import cycle if there is
//! one. Pure file reading, shared by every crate's layering test (`testkit/tests/layers.rs`) and
//! the server's own house rules (`inference-server/tests/layers.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges between modules, by name.
pub type Edges = BTreeMap<String, BTreeSet<String>>;

pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
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
pub fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib" || l == "main") {
        parts.pop();
    }
    parts
}

/// Code without `//` comments (doc links name modules without using them).
pub fn code(file: &Path) -> String {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module paths a file refers to (`crate::a::b`, `super::x`), resolved to absolute paths.
pub fn references(src: &Path, file: &Path) -> Vec<Vec<String>> {
    let me = module_of(src, file);
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

pub fn cycle(edges: &Edges) -> Option<Vec<String>> {
    fn visit(n: &str, edges: &Edges, stack: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
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

/// The crate's module graph: edges between top-level modules, and, per folder, between the
/// files (sub-modules) of that folder.
pub fn module_graph(src: &Path) -> (Edges, BTreeMap<String, Edges>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut top = Edges::new();
    let mut inner: BTreeMap<String, Edges> = BTreeMap::new();
    for f in files {
        let me = module_of(src, &f);
        let Some(first) = me.first() else { continue };
        for r in references(src, &f) {
            if r[0] != *first {
                top.entry(first.clone()).or_default().insert(r[0].clone());
            } else if me.len() >= 2 && r.len() >= 2 && r[1] != me[1] {
                inner.entry(first.clone()).or_default().entry(me[1].clone()).or_default().insert(r[1].clone());
            }
        }
    }
    (top, inner)
}

/// The first import cycle of a crate, at the top or inside a folder, as a readable path.
pub fn first_cycle(src: &Path) -> Option<String> {
    let (top, inner) = module_graph(src);
    if let Some(c) = cycle(&top) {
        return Some(c.join(" -> "));
    }
    inner.iter().find_map(|(folder, edges)| cycle(edges).map(|c| format!("{folder}/: {}", c.join(" -> "))))
}

/// Used by callers that walk a tree themselves.
pub fn src_of(krate: &str) -> PathBuf {
    crate::repo_root().join(krate).join("src")
}
