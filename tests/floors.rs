//! The library's modules stand on floors that point one way: a module imports only modules on its own floor or
//! below, and no two top-level modules import each other, even through others (the only cycles left are
//! inside one folder). ARCHITECTURE.md describes the same floors; a module added to `src/` must be placed in
//! [`FLOORS`] before this test passes.
//!
//! It reads the sources as text: every `crate::X` path (in `use` lines, `use crate::{…}` groups spanning
//! lines, and paths in code), comments left out, unit tests included.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// The top-level modules of the library, bottom floor first.
const FLOORS: &[&[&str]] = &[
    // Shared things that import nothing above them.
    &[
        "validate",
        "proto",
        "clock",
        "time_zone",
        "secret",
        "delivery_channel",
        "egress",
        "telemetry",
    ],
    &["store"],
    &["cluster"],
    &["tenant"],
    &["notifier", "devices", "labels", "settings"],
    &["dispatch", "channel", "callback"],
    &["push"],
    &["tasks"],
    &["api"],
    &["rest"],
    &["config", "server"],
    &["sandbox"],
];

/// Files of the binaries (`pushgate` and `pushgate-bench`), which use the library as `pushgate::` and stand
/// above all of it.
const PROGRAMS: &[&str] = &["main.rs", "cli", "bin"];

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|f| f.contains(&module))
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` without `//` comments (whole-line ones and trailing ones outside string literals).
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut prev = ' ';
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            match c {
                '"' if prev != '\\' => in_string = !in_string,
                '/' if !in_string && prev == '/' => {
                    cut = i - 1;
                    break;
                }
                _ => {}
            }
            prev = c;
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules `text` names through `crate::`.
fn imported_modules(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(is_ident) {
            continue; // `pushgate_crate::` or the like
        }
        if let Some(group) = rest.strip_prefix('{') {
            // The first segment of each item of a `use crate::{…}` group.
            let mut depth = 1;
            let mut item_start = true;
            let mut ident = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if depth == 1 && item_start && is_ident(c) => ident.push(c),
                    c if depth == 1 && item_start && !ident.is_empty() && !is_ident(c) => {
                        found.insert(std::mem::take(&mut ident));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let ident: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !ident.is_empty() {
                found.insert(ident);
            }
        }
    }
    found
}

/// The top-level module a file of `src/` belongs to (`None` for `lib.rs`, and for the binaries).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative
        .components()
        .next()?
        .as_os_str()
        .to_str()?
        .to_owned();
    if first == "lib.rs" || PROGRAMS.contains(&first.as_str()) {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_owned())
}

/// Module → the other top-level modules it imports, with a file that does it.
fn import_graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let text = without_comments(&std::fs::read_to_string(&file).expect("read"));
        let edges = graph.entry(module.clone()).or_default();
        for target in imported_modules(&text) {
            if target != module && target != "self" && target != "super" {
                edges.entry(target).or_insert_with(|| file.clone());
            }
        }
    }
    graph
}

#[test]
fn every_module_imports_only_its_floor_and_below() {
    let graph = import_graph();
    let mut wrong = Vec::new();
    for (module, edges) in &graph {
        let Some(floor) = floor_of(module) else {
            wrong.push(format!(
                "{module} is on no floor: add it to FLOORS (and ARCHITECTURE.md)"
            ));
            continue;
        };
        for (target, file) in edges {
            match floor_of(target) {
                Some(f) if f <= floor => {}
                Some(f) => wrong.push(format!(
                    "{} imports {target} (floor {f}) from {module} (floor {floor})",
                    file.display()
                )),
                None => wrong.push(format!("{} imports {target}, on no floor", file.display())),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_two_modules_import_each_other_even_through_others() {
    let graph = import_graph();
    // A module that reaches itself again through the imports of others is in a cycle.
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(&str, Vec<&str>)> = vec![(start.as_str(), vec![start.as_str()])];
        while let Some((at, path)) = stack.pop() {
            for next in graph.get(at).into_iter().flat_map(|e| e.keys()) {
                if next == start {
                    panic!("import cycle: {} -> {start}", path.join(" -> "));
                }
                if seen.insert(next.as_str()) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
}

#[test]
fn the_reader_finds_imports_in_every_form() {
    let text = "use crate::a::b;\nuse crate::{\n    c::{d, e},\n    f,\n};\nlet x = crate::g::h();\n// crate::i\nlet s = \"https://x\"; // crate::j\nlet t = pushgate_crate::k;";
    let found = imported_modules(&without_comments(text));
    assert_eq!(found.into_iter().collect::<Vec<_>>(), ["a", "c", "f", "g"]);
}

/// Every integration test target that starts a server runs on both backends: beside `tests/<name>.rs` (or
/// `tests/<name>/`) there is `tests/<name>_pg.rs`, which includes it by `#[path]` in a crate whose name puts
/// its servers on PostgreSQL (`common::backend`). A new test file that starts a server without its twin
/// would run on sled only, silently; this test names it.
#[test]
fn every_server_test_target_has_a_postgres_twin() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&tests).expect("read tests") {
        let path = entry.expect("entry").path();
        let (target, file, texts) = if path.is_dir() {
            if !path.join("main.rs").exists() {
                continue;
            }
            let mut files = Vec::new();
            sources(&path, &mut files);
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name.clone(), format!("{name}/main.rs"), files)
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name.clone(), format!("{name}.rs"), vec![path.clone()])
        } else {
            continue;
        };
        let starts_a_server = texts.iter().any(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            text.contains("TestServer::start") || text.contains("Env::start")
        });
        // `postgres_*` targets are PostgreSQL's own, and store_copy moves a server from sled to PostgreSQL,
        // so it runs on both by nature (each one's module doc says why it has no twin); this file only names
        // what it looks for.
        let single =
            target.starts_with("postgres_") || ["store_copy", "floors"].contains(&target.as_str());
        if !starts_a_server || single {
            continue;
        }
        let twin = tests.join(format!("{target}_pg.rs"));
        let includes = std::fs::read_to_string(&twin)
            .is_ok_and(|text| text.contains(&format!("#[path = \"{file}\"]")));
        if !includes {
            missing.push(format!("tests/{target}_pg.rs including tests/{file}"));
        }
    }
    assert!(
        missing.is_empty(),
        "server tests without a PostgreSQL twin: {missing:?}"
    );
}
