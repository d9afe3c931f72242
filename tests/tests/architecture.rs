//! The house rules of ARCHITECTURE.md, checked on the source itself so that they stay true:
//! no circle of files in a crate, no layer of server-stub importing one above it, no source file
//! too long to read whole, and the crates' dependency rules (core never reaches HTTP, GUI or async
//! crates; the WireMock engine never reaches core or a server stack; desktop never the server).
//!
//! The module graph is read from the text: every `crate::…`, `super::…` and `self::…` path, in
//! `use` trees and in expressions, names the longest module file it reaches. A parent `mod.rs`
//! re-exporting a child is an edge like any other, so a child importing from its parent while the
//! parent re-exports it is a circle — which is the point: shared items get a file of their own.

#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

type Module = Vec<String>;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file defines: `a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs` the root.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The text with comments, string and character literals blanked, so that a path in a doc
/// comment or a URL in a string is not read as an import.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if (rest.starts_with(b"r\"") || rest.starts_with(b"r#"))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // A raw string: r"…", r#"…"#, …
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            if rest.get(1 + hashes) != Some(&b'"') {
                out.push(b[i] as char);
                i += 1;
                continue;
            }
            let mut end = Vec::from(&b"\""[..]);
            end.extend(std::iter::repeat_n(b'#', hashes));
            i += 2 + hashes;
            while i < b.len() && !b[i..].starts_with(&end) {
                i += 1;
            }
            i += end.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && (rest.get(2) == Some(&b'\'') || rest.get(1) == Some(&b'\\')) {
            // A character literal ('x', '\n', '\u{..}'); a lifetime ('a) has no closing quote.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(' ');
        } else {
            // Keep multi-byte characters whole.
            let ch = text[i..].chars().next().expect("a character");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The code without its inline `#[cfg(test)] mod … { … }` blocks: what a test imports is not a
/// dependency of the shipped code (a test module in `x/tests.rs` is a module file of its own,
/// read like any other).
fn without_inline_tests(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        // Other attributes may stand between `#[cfg(test)]` and the module (`#[cfg(unix)]`).
        let mut head = after.trim_start();
        while head.starts_with("#[") {
            head = head
                .find(']')
                .map_or("", |end| head[end + 1..].trim_start());
        }
        let head = head.trim_start_matches("pub ").trim_start();
        let opens_block = head.starts_with("mod ")
            && head
                .find('{')
                .is_some_and(|b| head.find(';').is_none_or(|s| b < s));
        if !opens_block {
            out.push_str("#[cfg(test)]");
            rest = after;
            continue;
        }
        let start = after.len() - head.len() + head.find('{').unwrap_or(0);
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[start..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = start + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str, prefix: &[String], out: &mut Vec<Module>) {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in tree.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[start..]);
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if let Some(open) = part.find('{') {
            let mut p = prefix.to_vec();
            p.extend(segments(&part[..open]));
            let inner = part[open + 1..].trim_end().trim_end_matches('}');
            expand(inner, &p, out);
        } else {
            let path = part.split(" as ").next().unwrap_or(part);
            let mut p = prefix.to_vec();
            p.extend(segments(path));
            out.push(p);
        }
    }
}

fn segments(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Every path a file names: each `use` tree's paths (marked `true`; they may also start at a
/// child module's name), and each `crate::`, `super::` or `self::` path in expressions.
fn paths_in(code: &str) -> Vec<(Module, bool)> {
    let mut out = Vec::new();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    for (at, _) in code.match_indices("use ") {
        if at > 0 && code[..at].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let Some(end) = code[at..].find(';') else {
            continue;
        };
        let mut tree = code[at + 4..at + end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for p in ["::", "{", "}", ","] {
            tree = tree
                .replace(&format!(" {p}"), p)
                .replace(&format!("{p} "), p);
        }
        for path in expand_all(&tree) {
            out.push((path, true));
        }
    }
    for root in ["crate::", "super::", "self::"] {
        for (at, _) in code.match_indices(root) {
            if at > 0 && code[..at].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            let path: String = code[at..]
                .chars()
                .take_while(|&c| is_ident(c) || c == ':')
                .collect();
            out.push((segments(&path).collect(), false));
        }
    }
    out
}

fn expand_all(tree: &str) -> Vec<Module> {
    let mut out = Vec::new();
    expand(tree, &[], &mut out);
    out
}

struct Graph {
    edges: BTreeMap<Module, BTreeSet<Module>>,
    lines: BTreeMap<PathBuf, usize>,
}

/// The module graph of one crate's `src/` (binaries, which are crates of their own, left out).
fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut lines = BTreeMap::new();
    let mut modules = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        lines.insert(file.clone(), text.lines().count());
        let is_binary =
            file.ends_with("main.rs") || file.components().any(|c| c.as_os_str() == "bin");
        if !is_binary {
            modules.insert(
                module_of(src, &file),
                without_inline_tests(&code_only(&text)),
            );
        }
    }
    // A path to an item the crate root re-exports (`crate::CoreError`) is an edge to the root.
    let resolve = |target: &[String]| -> Option<Module> {
        (0..=target.len())
            .rev()
            .map(|n| target[..n].to_vec())
            .find(|m| modules.contains_key(m))
    };
    let mut edges = BTreeMap::new();
    for (module, code) in &modules {
        let mut to = BTreeSet::new();
        // The folder a file's `self::` names is the file itself; `super::` its parent.
        for (path, in_use) in paths_in(code) {
            let child = path.first().map(|first| {
                let mut m = module.clone();
                m.push(first.clone());
                m
            });
            let target: Module = match path.first().map(String::as_str) {
                Some("crate") => path[1..].to_vec(),
                Some("super") => {
                    let mut base = module.clone();
                    let mut rest = &path[..];
                    while rest.first().map(String::as_str) == Some("super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    base.extend(rest.iter().cloned());
                    base
                }
                Some("self") => {
                    let mut base = module.clone();
                    base.extend(path[1..].iter().cloned());
                    base
                }
                // `use child::X;` names a child module without `self::` (Rust 2018 paths).
                _ if in_use && child.as_ref().is_some_and(|c| modules.contains_key(c)) => {
                    let mut base = module.clone();
                    base.extend(path.iter().cloned());
                    base
                }
                _ => continue,
            };
            // A `mod x;` line declares a module; it names no path, so it is no edge.
            if let Some(t) = resolve(&target)
                && t != *module
            {
                to.insert(t);
            }
        }
        edges.insert(module.clone(), to);
    }
    Graph { edges, lines }
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("/")
    }
}

/// The strongly connected components of more than one file (Tarjan's algorithm).
fn circles(g: &Graph) -> Vec<Vec<String>> {
    struct Walk<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a Module) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        for t in &w.g.edges[v] {
            if !w.index.contains_key(t) {
                visit(w, t);
                let l = w.low[t].min(w.low[v]);
                w.low.insert(v, l);
            } else if w.stack.contains(&t) {
                let l = w.index[t].min(w.low[v]);
                w.low.insert(v, l);
            }
        }
        if w.low[v] == w.index[v] {
            let mut comp = Vec::new();
            while let Some(t) = w.stack.pop() {
                comp.push(name(t));
                if t == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                w.found.push(comp);
            }
        }
    }
    let mut w = Walk {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in g.edges.keys() {
        if !w.index.contains_key(v) {
            visit(&mut w, v);
        }
    }
    w.found
}

fn assert_no_circle(src: &str) {
    let g = graph(&workspace().join(src));
    let found = circles(&g);
    assert!(
        found.is_empty(),
        "{src}: files that import each other in a circle: {found:#?}"
    );
}

fn assert_short_files(src: &str, limit: usize) {
    let g = graph(&workspace().join(src));
    let long: Vec<_> = g.lines.iter().filter(|&(_, &n)| n > limit).collect();
    assert!(
        long.is_empty(),
        "{src}: files over {limit} lines, too long to read whole: {long:#?}"
    );
}

#[test]
fn core_has_no_circle_of_files() {
    assert_no_circle("core/src");
}

#[test]
fn the_wiremock_engine_has_no_circle_of_files() {
    assert_no_circle("server-stub/wiremock/src");
}

#[test]
fn server_stub_has_no_circle_of_files() {
    assert_no_circle("server-stub/src");
}

#[test]
fn every_library_file_is_short_enough_to_read_whole() {
    for src in ["core/src", "server-stub/src", "server-stub/wiremock/src"] {
        assert_short_files(src, 620);
    }
}

/// server-stub's layers, bottom to top (ARCHITECTURE.md, "The layers of server-stub"). A module
/// may import its own layer and those below it, never one above; a new top-level module must be
/// given a rank here, which is the moment to decide where it belongs.
const STUB_LAYERS: &[(&str, u8)] = &[
    ("connection", 0),
    ("authentication", 0),
    ("mocks", 0),
    ("operations", 0),
    ("upstream", 0),
    ("config", 1),
    ("error", 1),
    ("state", 1),
    ("routes", 2),
    ("server", 3),
    ("testing", 4),
    ("cli", 5),
];

#[test]
fn no_layer_of_server_stub_imports_one_above_it() {
    let g = graph(&workspace().join("server-stub/src"));
    let rank = |m: &Module| -> Option<u8> {
        let top = m.first()?;
        STUB_LAYERS.iter().find(|(l, _)| l == top).map(|&(_, r)| r)
    };
    let mut unranked = BTreeSet::new();
    let mut upward = Vec::new();
    for (from, targets) in &g.edges {
        if from.is_empty() {
            continue;
        }
        let Some(rf) = rank(from) else {
            unranked.insert(name(from));
            continue;
        };
        for to in targets {
            match rank(to) {
                Some(rt) if rt > rf => upward.push(format!("{} imports {}", name(from), name(to))),
                Some(_) => {}
                None if !to.is_empty() => {
                    unranked.insert(name(to));
                }
                None => upward.push(format!("{} imports the crate root", name(from))),
            }
        }
    }
    assert!(
        unranked.is_empty(),
        "modules with no layer in STUB_LAYERS: {unranked:?}"
    );
    assert!(
        upward.is_empty(),
        "imports that go up the layers: {upward:#?}"
    );
}

/// The resolved dependency graph, by package name: for each package, the names it depends on
/// with the kinds (`normal`, `build`, `dev`).
fn dependencies() -> BTreeMap<String, Vec<(String, String)>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .current_dir(workspace())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id"),
                p["name"].as_str().expect("name"),
            )
        })
        .collect();
    let mut graph = BTreeMap::new();
    for node in meta["resolve"]["nodes"]
        .as_array()
        .expect("a resolved graph")
    {
        let from = names[node["id"].as_str().expect("id")].to_owned();
        let mut deps = Vec::new();
        for dep in node["deps"].as_array().expect("deps") {
            let to = names[dep["pkg"].as_str().expect("pkg")].to_owned();
            for kind in dep["dep_kinds"].as_array().expect("kinds") {
                deps.push((
                    to.clone(),
                    kind["kind"].as_str().unwrap_or("normal").to_owned(),
                ));
            }
        }
        graph.entry(from).or_insert_with(Vec::new).extend(deps);
    }
    graph
}

/// Every package `root` reaches: through any kind of dependency from `root` itself when
/// `with_dev`, and through normal and build dependencies beyond it (what ships, or what its own
/// tests pull in).
fn reached(
    graph: &BTreeMap<String, Vec<(String, String)>>,
    root: &str,
    with_dev: bool,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = graph[root]
        .iter()
        .filter(|(_, k)| with_dev || k != "dev")
        .map(|(n, _)| n.clone())
        .collect();
    while let Some(p) = todo.pop() {
        if seen.insert(p.clone()) {
            todo.extend(
                graph[&p]
                    .iter()
                    .filter(|(_, k)| k != "dev")
                    .map(|(n, _)| n.clone()),
            );
        }
    }
    seen
}

fn assert_never_reaches(root: &str, with_dev: bool, forbidden: &[&str]) {
    let graph = dependencies();
    let reach = reached(&graph, root, with_dev);
    let bad: Vec<_> = forbidden.iter().filter(|f| reach.contains(**f)).collect();
    assert!(
        bad.is_empty(),
        "{root} depends on {bad:?} (ARCHITECTURE.md: what may never import what)"
    );
}

#[test]
fn core_never_depends_on_http_gui_async_or_the_other_crates() {
    assert_never_reaches(
        "tokenauth-core",
        false,
        &[
            "axum",
            "hyper",
            "tokio",
            "reqwest",
            "egui",
            "eframe",
            "tokenauth-stub",
            "tokenauth-desktop",
            "wiremock-engine",
        ],
    );
}

#[test]
fn the_wiremock_engine_never_depends_on_core_or_a_server_stack() {
    assert_never_reaches(
        "wiremock-engine",
        false,
        &["tokenauth-core", "axum", "hyper", "tokio", "reqwest"],
    );
}

#[test]
fn desktop_never_depends_on_the_server() {
    assert_never_reaches("tokenauth-desktop", true, &["tokenauth-stub"]);
}

#[test]
fn the_graph_reader_sees_what_it_must() {
    // The reader itself, on a made-up crate: a circle through a grouped `use` and a `super::`
    // path, nothing from comments or strings.
    let code = code_only(
        "use crate::{a::{X, y::Z}, b};\n// use crate::c;\nlet s = \"crate::d\"; super::e::f();",
    );
    let names: Vec<String> = paths_in(&code).iter().map(|(p, _)| p.join("::")).collect();
    assert!(names.contains(&"crate::a::X".to_owned()), "{names:?}");
    assert!(names.contains(&"crate::a::y::Z".to_owned()), "{names:?}");
    assert!(names.contains(&"crate::b".to_owned()), "{names:?}");
    assert!(names.contains(&"super::e::f".to_owned()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("::c") || n.contains("::d")),
        "{names:?}"
    );
}
