//! The fitness test of the crate's structure: imports only point down the layer list, and no
//! two top-level modules (nor two sibling files of one module) import each other in a cycle.
//!
//! It reads every `src/**/*.rs`, blanks comments and string literals, and collects each path
//! that starts with `crate::`, `super::` (resolved against the file's module path) or, in
//! `main.rs`, `facegate::` — in `use` lines, grouped `use crate::{a, b::c}` and paths in code.
//! The layer table below is the architecture (docs/architecture.md draws it); a new top-level
//! module must be given a layer here or the test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. A module may import its own layer (without a cycle) and any lower one.
const LAYERS: &[(&str, &[&str])] = &[
    // Leaves: domain types, the error, time, and the log sink (it imports nothing of the crate).
    ("leaves", &["model", "error", "clock", "logger"]),
    // Pure logic: no I/O.
    ("pure", &["protocol", "access", "board"]),
    // Effects: SQLite, the hardware, the configuration file, the control socket's wire format
    // and transport (used by both the daemon and the CLI, so it sits below both).
    ("effects", &["store", "hw", "signing", "config", "ctl", "firmware"]),
    ("settings", &["settings"]),
    ("gate", &["gate"]),
    ("cloud", &["cloud"]),
    // The top: the daemon wires the threads; the CLI (with `facegate status`) inspects.
    ("wiring", &["daemon", "cli", "status"]),
    ("main", &["main"]),
];

#[derive(Debug, Clone)]
struct Import {
    file: String,
    line: usize,
    /// The importing file's module path, e.g. `["cloud", "uploader"]`.
    from: Vec<String>,
    /// The imported module (the longest prefix of the path that is a module of the crate).
    to: Vec<String>,
    text: String,
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `src/cloud/uploader.rs` -> `cloud::uploader`; `src/hw/linux/mod.rs` -> `hw::linux`;
/// `src/main.rs` -> `main`; `src/lib.rs` -> the root (empty).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// The source with comments and the contents of string and char literals replaced by spaces
/// (newlines kept, so offsets still give line numbers).
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied().unwrap_or('\0');
        if c == '/' && next == '/' {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == '*' {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == '"' || next == '#') && (i == 0 || !is_ident(b[i - 1]) || b[i - 1] == 'b') {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push_str(&" ".repeat(j - i + 1));
            i = j + 1;
            while i < b.len() {
                if b[i] == '"' && (0..hashes).all(|k| b.get(i + 1 + k) == Some(&'#')) {
                    out.push_str(&" ".repeat(hashes + 1));
                    i += hashes + 1;
                    break;
                }
                out.push(blank(b[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == '\\' || b.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\u{..}'); a lifetime has no closing quote.
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '\'' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Every path starting at `start` (just after `prefix::`): `a::b::C`, or a group `{a, b::{c, d}}`.
/// Returns (segments, offset of the segment's start).
fn parse_paths(code: &[char], start: usize, prefix: Vec<String>, out: &mut Vec<(Vec<String>, usize)>) -> usize {
    let mut i = start;
    let mut segs = prefix;
    let skip_ws = |i: &mut usize| {
        while *i < code.len() && code[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i < code.len() && code[i] == '{' {
            i += 1;
            loop {
                skip_ws(&mut i);
                if i >= code.len() || code[i] == '}' {
                    return i + 1;
                }
                i = parse_paths(code, i, segs.clone(), out);
                skip_ws(&mut i);
                // Skip `as alias` and anything else up to the separator.
                while i < code.len() && code[i] != ',' && code[i] != '}' {
                    i += 1;
                }
                if i < code.len() && code[i] == ',' {
                    i += 1;
                }
            }
        }
        let seg_start = i;
        while i < code.len() && (code[i].is_alphanumeric() || code[i] == '_' || code[i] == '*') {
            i += 1;
        }
        let seg: String = code[seg_start..i].iter().collect();
        if seg.is_empty() {
            out.push((segs, seg_start));
            return i;
        }
        segs.push(seg);
        if code.get(i) == Some(&':') && code.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            out.push((segs, seg_start));
            return i;
        }
    }
}

struct Crate {
    /// Every module of the crate that is a file (`["cloud", "uploader"]`, `["hw", "linux"]`).
    modules: BTreeSet<Vec<String>>,
    /// Names the crate root re-exports (`Error` -> `error`).
    root_aliases: BTreeMap<String, Vec<String>>,
    files: Vec<(String, Vec<String>, String)>,
}

fn load_crate(src: &Path) -> Crate {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    let mut files = Vec::new();
    let mut modules = BTreeSet::new();
    for p in paths {
        let rel = p.strip_prefix(src).unwrap();
        let module = module_path(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        modules.insert(module.clone());
        files.push((format!("src/{}", rel.display()), module, text));
    }
    let mut root_aliases = BTreeMap::new();
    if let Some((_, _, lib)) = files.iter().find(|(f, _, _)| f == "src/lib.rs") {
        let code: Vec<char> = code_only(lib).chars().collect();
        let s: String = code.iter().collect();
        for (pos, _) in s.match_indices("pub use ") {
            let start = s[..pos].chars().count() + "pub use ".len();
            let mut found = Vec::new();
            parse_paths(&code, start, Vec::new(), &mut found);
            for (segs, _) in found {
                if let Some(last) = segs.last() {
                    root_aliases.insert(last.clone(), segs.clone());
                }
            }
        }
    }
    Crate { modules, root_aliases, files }
}

fn imports(krate: &Crate) -> Vec<Import> {
    let mut all = Vec::new();
    for (file, module, text) in &krate.files {
        if file == "src/lib.rs" {
            continue;
        }
        let code: Vec<char> = code_only(text).chars().collect();
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(code.iter().enumerate().filter(|(_, c)| **c == '\n').map(|(i, _)| i + 1))
            .collect();
        let line_of = |off: usize| line_starts.partition_point(|&s| s <= off);
        let mut i = 0;
        while i < code.len() {
            let before_ok = i == 0 || !(code[i - 1].is_alphanumeric() || code[i - 1] == '_' || code[i - 1] == '$');
            let rest = |w: &str| w.chars().enumerate().all(|(k, c)| code.get(i + k) == Some(&c));
            let base: Option<(Vec<String>, usize)> = if !before_ok {
                None
            } else if rest("crate::") {
                Some((Vec::new(), i + 7))
            } else if file == "src/main.rs" && rest("facegate::") {
                Some((Vec::new(), i + 10))
            } else if rest("super::") {
                // Each `super::` climbs one module from the file's own (inline `mod tests`
                // blocks are not tracked: their `super::*` resolves to a non-module and is
                // ignored).
                let mut base = module.clone();
                let mut j = i;
                while "super::".chars().enumerate().all(|(k, c)| code.get(j + k) == Some(&c)) {
                    base.pop();
                    j += 7;
                }
                Some((base, j))
            } else {
                None
            };
            let Some((base, start)) = base else {
                i += 1;
                continue;
            };
            let mut found = Vec::new();
            let end = parse_paths(&code, start, base, &mut found);
            for (mut segs, off) in found {
                if let Some(alias) = segs.first().and_then(|s| krate.root_aliases.get(s)) {
                    let mut full = alias.clone();
                    full.extend(segs.drain(1..));
                    segs = full;
                }
                let to = (1..=segs.len()).rev().map(|n| segs[..n].to_vec()).find(|p| krate.modules.contains(p));
                let Some(to) = to else { continue };
                let line = line_of(off);
                let text = text.lines().nth(line - 1).unwrap_or("").trim().to_string();
                all.push(Import { file: file.clone(), line, from: module.clone(), to, text });
            }
            i = end.max(i + 1);
        }
    }
    all
}

/// Strongly connected components of a graph with more than one node (Tarjan would do; the
/// graphs have a few dozen nodes, so reachability is enough).
fn cycles(edges: &BTreeSet<(Vec<String>, Vec<String>)>) -> BTreeSet<(Vec<String>, Vec<String>)> {
    let reach = |from: &Vec<String>, to: &Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            if &n == to {
                return true;
            }
            if seen.insert(n.clone()) {
                stack.extend(edges.iter().filter(|(a, _)| *a == n).map(|(_, b)| b.clone()));
            }
        }
        false
    };
    edges.iter().filter(|(a, b)| reach(b, a)).cloned().collect()
}

/// Every violation, one line each, naming file and line.
fn violations(krate: &Crate) -> Vec<String> {
    let mut imports: Vec<Import> = imports(krate);
    // `use crate::a::{B, C}` is one import of `a` on that line.
    imports.dedup_by(|a, b| a.file == b.file && a.line == b.line && a.to == b.to);
    let mut out = Vec::new();
    for m in krate.modules.iter().filter(|m| m.len() == 1) {
        if layer_of(&m[0]).is_none() {
            out.push(format!("src/{}: top-level module `{}` has no layer in tests/layers.rs", m[0], m[0]));
        }
    }
    // Up the layer list.
    for imp in &imports {
        let (Some(from), Some(to)) = (imp.from.first(), imp.to.first()) else { continue };
        if let (Some(lf), Some(lt)) = (layer_of(from), layer_of(to)) {
            if lt > lf {
                out.push(format!(
                    "{}:{}: `{from}` ({}) imports `{}` ({}), a higher layer: {}",
                    imp.file,
                    imp.line,
                    LAYERS[lf].0,
                    imp.to.join("::"),
                    LAYERS[lt].0,
                    imp.text
                ));
            }
        }
    }
    // Cycles between top-level modules.
    let top: BTreeSet<(Vec<String>, Vec<String>)> = imports
        .iter()
        .filter(|i| !i.from.is_empty() && i.from[0] != i.to[0])
        .map(|i| (vec![i.from[0].clone()], vec![i.to[0].clone()]))
        .collect();
    let cyclic = cycles(&top);
    for imp in &imports {
        if !imp.from.is_empty() && cyclic.contains(&(vec![imp.from[0].clone()], vec![imp.to[0].clone()])) {
            out.push(format!(
                "{}:{}: `{}` -> `{}` closes a cycle between top-level modules: {}",
                imp.file, imp.line, imp.from[0], imp.to[0], imp.text
            ));
        }
    }
    // Cycles between sibling files of one module (a parent `mod.rs` declaring its children is
    // not an import, and children using their parent's items is the normal direction).
    let sibling = |i: &Import| -> Option<(Vec<String>, Vec<String>)> {
        let n = i.from.len();
        if n < 2 || i.to.len() < n || i.from[..n - 1] != i.to[..n - 1] || i.from == i.to[..n] {
            return None;
        }
        Some((i.from.clone(), i.to[..n].to_vec()))
    };
    let siblings: BTreeSet<_> = imports.iter().filter_map(sibling).collect();
    let cyclic = cycles(&siblings);
    for imp in &imports {
        if let Some(edge) = sibling(imp).filter(|e| cyclic.contains(e)) {
            out.push(format!(
                "{}:{}: `{}` -> `{}` closes a cycle between sibling modules: {}",
                imp.file,
                imp.line,
                edge.0.join("::"),
                edge.1.join("::"),
                imp.text
            ));
        }
    }
    out
}

#[test]
fn imports_point_down_the_layers_without_cycles() {
    let krate = load_crate(&src_dir());
    assert!(krate.files.len() > 20, "src/ not found: {}", src_dir().display());
    let v = violations(&krate);
    assert!(v.is_empty(), "{} import(s) break the layers (docs/architecture.md):\n{}", v.len(), v.join("\n"));
}

/// The test's own parser, on a small crate written here: it must see grouped and nested
/// imports, `super::` and paths in code, and ignore comments and strings.
#[test]
fn the_checker_catches_upward_imports_and_cycles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("src");
    let write = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("lib.rs", "pub mod model;\npub mod store;\npub mod cloud;\npub use model::Thing;\n");
    write(
        "model.rs",
        "// use crate::cloud::X; in a comment\nconst S: &str = \"crate::cloud::Y\";\nuse crate::Thing;\n",
    );
    write("store/mod.rs", "pub mod a;\npub mod b;\nuse crate::{model, cloud::{Session,\n  x}};\n");
    write("store/a.rs", "use super::b::B;\nfn f() { crate::model::g(); }\n");
    write("store/b.rs", "fn f() -> super::a::A { todo!() }\n");
    write("cloud.rs", "use crate::store::Store;\nfn f<'a>(c: char) { let _ = 'x'; crate::store::a::f(); }\n");
    let krate = load_crate(&dir);
    let v = violations(&krate);
    let has = |needle: &str| v.iter().any(|l| l.contains(needle));
    assert!(has("src/store/mod.rs:3: `store` (effects) imports `cloud` (cloud), a higher layer"), "{v:#?}");
    assert!(has("src/store/mod.rs:3: `store` -> `cloud` closes a cycle between top-level modules"), "{v:#?}");
    assert!(has("src/cloud.rs:1: `cloud` -> `store` closes a cycle"), "{v:#?}");
    assert!(has("src/store/a.rs:1: `store::a` -> `store::b` closes a cycle between sibling modules"), "{v:#?}");
    assert!(has("src/store/b.rs:1: `store::b` -> `store::a` closes a cycle between sibling modules"), "{v:#?}");
    // Comments, strings, the root's re-export and downward imports are fine.
    assert!(!v.iter().any(|l| l.starts_with("src/model.rs")), "{v:#?}");
    assert_eq!(v.len(), 8, "{v:#?}");
}
