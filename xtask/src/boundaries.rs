//! `cargo xtask check-boundaries`: the architecture rules the compiler cannot enforce alone.
//!
//! - The HTTP service (`crates/app`) and the black-box tests (`tests`) never use the ORM
//!   directly: no `sea-orm` / `sea-orm-migration` in any of their dependency tables.
//! - Entities stay private to their context: no `pub` / `pub(...)` module named `entity` or
//!   `entities` in `crates/*/src`, and no `pub use` that re-exports from one.
//! - Bounded contexts talk through ports, never by depending on each other's crate.
//!
//! Manifests are read with simple line logic (tables, dotted keys, inline tables, renamed
//! packages); sources with a small tokenizer that skips comments and literals.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::Outcome;

/// Crates that only the context crates, `persistence` and `migration` may depend on.
const ORM_CRATES: &[&str] = &["sea-orm", "sea-orm-migration"];
/// Manifests (relative to the workspace root) that must not list an [`ORM_CRATES`] entry.
const ORM_FREE_MANIFESTS: &[&str] = &["crates/app/Cargo.toml", "tests/Cargo.toml"];
/// `(manifest, crate it must not depend on)`: contexts talk through ports.
const CONTEXT_ISOLATION: &[(&str, &str)] = &[
    ("crates/orders/Cargo.toml", "users"),
    ("crates/users/Cargo.toml", "orders"),
];
/// Module names that hold a context's entities.
const ENTITY_MODULES: &[&str] = &["entity", "entities"];
/// The tables a dependency can be declared in (Cargo still accepts the underscore spellings).
const DEPENDENCY_TABLES: &[&str] = &[
    "dependencies",
    "dev-dependencies",
    "build-dependencies",
    "dev_dependencies",
    "build_dependencies",
];

pub fn run(root: &Path) -> anyhow::Result<Outcome> {
    let violations = check_workspace(root)?;
    if violations.is_empty() {
        println!("check-boundaries: ok");
        return Ok(Outcome::Success);
    }
    eprintln!(
        "check-boundaries: {} violation(s) of the crate boundaries:",
        violations.len()
    );
    for violation in &violations {
        eprintln!("  {violation}");
    }
    Ok(Outcome::Failed)
}

/// One broken rule, where it is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `path:line`, relative to the workspace root.
    pub location: String,
    /// What is wrong and what to do instead.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every violation in the workspace at `root`, in a stable order.
pub fn check_workspace(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let mut violations = Vec::new();

    for manifest in ORM_FREE_MANIFESTS {
        let text = read(&root.join(manifest))?;
        violations.extend(orm_dependencies(manifest, &text));
    }
    for (manifest, forbidden) in CONTEXT_ISOLATION {
        let path = root.join(manifest);
        if !path.exists() {
            continue;
        }
        let text = read(&path)?;
        violations.extend(context_dependencies(manifest, &text, forbidden));
    }

    let crates_dir = root.join("crates");
    let mut sources = Vec::new();
    for entry in read_dir_sorted(&crates_dir)? {
        let src = entry.join("src");
        if src.is_dir() {
            collect_rust_files(&src, &mut sources)?;
        }
    }
    for source in sources {
        let text = read(&source)?;
        let shown = source
            .strip_prefix(root)
            .unwrap_or(&source)
            .display()
            .to_string();
        violations.extend(
            public_entity_items(&text)
                .into_iter()
                .map(|(line, what)| Violation {
                    location: format!("{shown}:{line}"),
                    message: format!(
                        "`{what}` exposes a context's entities; keep them private to the \
                         context and expose domain types through its service instead"
                    ),
                }),
        );
    }
    Ok(violations)
}

/// The ORM entries of a manifest that must stay ORM-free.
pub fn orm_dependencies(manifest: &str, text: &str) -> Vec<Violation> {
    dependencies(text)
        .into_iter()
        .filter(|dep| ORM_CRATES.iter().any(|orm| same_crate(&dep.package, orm)))
        .map(|dep| Violation {
            location: format!("{manifest}:{}", dep.line),
            message: format!(
                "[{}] lists {}: only the context crates, persistence and migration may use the \
                 ORM; go through a context's service (or persistence / migration) instead",
                dep.table,
                dep.describe()
            ),
        })
        .collect()
}

/// The entries of a context's manifest that name another context.
pub fn context_dependencies(manifest: &str, text: &str, forbidden: &str) -> Vec<Violation> {
    dependencies(text)
        .into_iter()
        .filter(|dep| same_crate(&dep.package, forbidden))
        .map(|dep| Violation {
            location: format!("{manifest}:{}", dep.line),
            message: format!(
                "[{}] lists {}: bounded contexts must not depend on each other; define a port \
                 (a trait) in this context and let the app wire the other context into it",
                dep.table,
                dep.describe()
            ),
        })
        .collect()
}

/// Cargo treats `-` and `_` in registry crate names alike.
fn same_crate(a: &str, b: &str) -> bool {
    a.replace('_', "-") == b.replace('_', "-")
}

/// A dependency entry of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The table it is declared in: `dependencies`, `target.'cfg(unix)'.dev-dependencies`, ...
    pub table: String,
    /// The name it is declared under.
    pub key: String,
    /// The crate it really is (`package = "..."`, or the key).
    pub package: String,
    /// The 1-based line where it is first declared.
    pub line: usize,
}

impl Dependency {
    fn describe(&self) -> String {
        if self.key == self.package {
            format!("`{}`", self.key)
        } else {
            format!("`{}` (package `{}`)", self.key, self.package)
        }
    }
}

/// Every dependency declared in a `Cargo.toml`, in any dependency table (plain, dev, build,
/// target-specific, `[dependencies.name]` tables, dotted keys), with renames resolved.
pub fn dependencies(manifest: &str) -> Vec<Dependency> {
    let mut found: BTreeMap<(String, String), Dependency> = BTreeMap::new();
    let mut note = |path: &[String], line: usize, package: Option<String>| {
        let Some((table, name, _)) = dependency_at(path) else {
            return;
        };
        let entry = found
            .entry((table.clone(), name.clone()))
            .or_insert_with(|| Dependency {
                table,
                key: name.clone(),
                package: name,
                line,
            });
        if let Some(package) = package {
            entry.package = package;
        }
    };

    let lines: Vec<&str> = manifest.lines().collect();
    let mut header: Vec<String> = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line_no = index + 1;
        let mut statement = strip_comment(lines[index]).trim().to_owned();
        index += 1;
        if statement.is_empty() {
            continue;
        }
        if let Some(inner) = statement.strip_prefix("[[") {
            // An array of tables (`[[bin]]`, ...) is never a dependency table.
            header = split_keys(inner.trim_end().trim_end_matches("]]"));
            header.insert(0, String::new());
            continue;
        }
        if let Some(inner) = statement.strip_prefix('[') {
            header = split_keys(inner.trim_end().trim_end_matches(']'));
            note(&header, line_no, None);
            continue;
        }
        // A value may span lines (arrays; inline tables in TOML 1.1).
        while nesting(&statement) > 0 && index < lines.len() {
            statement.push('\n');
            statement.push_str(strip_comment(lines[index]));
            index += 1;
        }
        let Some((key, value)) = split_once_unquoted(&statement, '=') else {
            continue;
        };
        let mut path = header.clone();
        path.extend(split_keys(key));
        let value = value.trim();
        let package = match dependency_at(&path) {
            // `[dependencies.name]` + `package = ".."`, or `name.package = ".."`.
            Some((_, _, name_at))
                if path.len() == name_at + 2 && path.last().is_some_and(|k| k == "package") =>
            {
                path.pop();
                Some(unquote(value))
            }
            Some((_, _, name_at)) if path.len() == name_at + 1 && value.starts_with('{') => {
                inline_value(value, "package")
            }
            _ => None,
        };
        note(&path, line_no, package);
    }

    let mut deps: Vec<Dependency> = found.into_values().collect();
    deps.sort_by_key(|d| d.line);
    deps
}

/// `(table, dependency name, index of the name in path)` when a full key path lies inside a
/// dependency table.
fn dependency_at(path: &[String]) -> Option<(String, String, usize)> {
    let is_table = |key: &String| DEPENDENCY_TABLES.contains(&key.as_str());
    let (table, name_at) = match path {
        [first, ..] if is_table(first) => (first.clone(), 1),
        [target, cfg, kind, ..] if target == "target" && is_table(kind) => {
            (format!("target.'{cfg}'.{kind}"), 3)
        }
        [workspace, deps, ..] if workspace == "workspace" && deps == "dependencies" => {
            ("workspace.dependencies".to_owned(), 2)
        }
        _ => return None,
    };
    path.get(name_at).map(|name| (table, name.clone(), name_at))
}

/// The value of `key` in an inline table such as `{ version = "1", package = "x" }`.
fn inline_value(table: &str, key: &str) -> Option<String> {
    let inner = table.trim().strip_prefix('{')?.strip_suffix('}')?;
    split_unquoted(inner, ',').into_iter().find_map(|pair| {
        let (k, v) = split_once_unquoted(pair, '=')?;
        (split_keys(k) == [key]).then(|| unquote(v.trim()))
    })
}

/// `line` without its `#` comment.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (at, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return &line[..at],
            None => {}
        }
    }
    line
}

/// Splits `text` at every unquoted `sep` that is not inside brackets or braces.
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut depth = 0_i32;
    let mut start = 0;
    for (at, c) in text.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '{' => depth += 1,
                ']' | '}' => depth -= 1,
                _ if c == sep && depth == 0 => {
                    parts.push(&text[start..at]);
                    start = at + c.len_utf8();
                }
                _ => {}
            },
        }
    }
    parts.push(&text[start..]);
    parts
}

fn split_once_unquoted(text: &str, sep: char) -> Option<(&str, &str)> {
    let first = split_unquoted(text, sep).into_iter().next()?;
    (first.len() < text.len()).then(|| (first, &text[first.len() + sep.len_utf8()..]))
}

/// How many brackets and braces `text` leaves open.
fn nesting(text: &str) -> i32 {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut depth = 0;
    for c in text.chars() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '{' => depth += 1,
                ']' | '}' => depth -= 1,
                _ => {}
            },
        }
    }
    depth
}

/// A dotted key (`a."b.c".'d'`) as its parts, unquoted.
fn split_keys(key: &str) -> Vec<String> {
    split_unquoted(key, '.')
        .into_iter()
        .map(|part| unquote(part.trim()))
        .collect()
}

fn unquote(text: &str) -> String {
    let text = text.trim();
    for q in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    text.to_owned()
}

/// `(line, declaration)` for every `pub`/`pub(...)` module named `entity`/`entities`, and
/// every `pub use` re-exporting from one.
pub fn public_entity_items(source: &str) -> Vec<(usize, String)> {
    let tokens = tokenize(source);
    let text = |i: usize| tokens.get(i).map_or("", |t| t.text.as_str());
    let mut found = Vec::new();
    for (at, token) in tokens.iter().enumerate() {
        if token.text != "pub" {
            continue;
        }
        let mut next = at + 1;
        let mut visibility = String::from("pub");
        if text(next) == "(" {
            let Some(close) = (next..tokens.len()).find(|&i| text(i) == ")") else {
                continue;
            };
            visibility = format!("pub({})", render(&tokens[next + 1..close]));
            next = close + 1;
        }
        match text(next) {
            "mod" if ENTITY_MODULES.contains(&text(next + 1)) => {
                found.push((token.line, format!("{visibility} mod {}", text(next + 1))));
            }
            "use" if visibility == "pub" => {
                let end = (next..tokens.len())
                    .find(|&i| text(i) == ";")
                    .unwrap_or(tokens.len());
                if (next + 1..end).any(|i| ENTITY_MODULES.contains(&text(i))) {
                    let path = render(&tokens[next + 1..end]);
                    found.push((token.line, format!("pub use {path}")));
                }
            }
            _ => {}
        }
    }
    found
}

/// Tokens back as text, with a space only between two words.
fn render(tokens: &[Token]) -> String {
    let is_word = |t: &Token| t.text.chars().all(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::new();
    for (index, token) in tokens.iter().enumerate() {
        if index > 0 && is_word(&tokens[index - 1]) && is_word(token) {
            out.push(' ');
        }
        out.push_str(&token.text);
    }
    out
}

#[derive(Debug)]
struct Token {
    text: String,
    line: usize,
}

/// Identifiers and punctuation of Rust source, without comments, string/char literals and
/// lifetimes. Raw identifiers lose their `r#`.
fn tokenize(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let is_ident_start = |c: char| c.is_alphabetic() || c == '_';
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Skips to the end of a string starting at its opening quote `i`; returns the index after.
    let skip_string = |mut i: usize, line: &mut usize| {
        i += 1;
        while i < chars.len() && chars[i] != '"' {
            if chars[i] == '\\' {
                i += 1;
            }
            if at(i) == '\n' {
                *line += 1;
            }
            i += 1;
        }
        i + 1
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(i, &mut line);
        } else if c == '\'' {
            if at(i + 1) == '\\' {
                // An escaped char literal: '\n', '\'', '\u{..}'.
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                // A lifetime or label: the name that follows is harmless.
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
            if raw_prefix && (at(i) == '"' || (at(i) == '#' && !is_ident_start(at(i + 1)))) {
                // A raw string: r"..", r#".."#, ...
                let mut hashes = 0;
                while at(i) == '#' {
                    hashes += 1;
                    i += 1;
                }
                i += 1;
                while i < chars.len() {
                    if chars[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#') {
                        i += 1 + hashes;
                        break;
                    }
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            } else if word == "r" && at(i) == '#' && is_ident_start(at(i + 1)) {
                let start = i + 1;
                i += 1;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                tokens.push(Token {
                    text: chars[start..i].iter().collect(),
                    line,
                });
            } else if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                i = skip_string(i, &mut line);
            } else {
                tokens.push(Token { text: word, line });
            }
        } else if c.is_ascii_digit() {
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
        } else {
            tokens.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    tokens
}

fn read(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_dir_sorted(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut paths = fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    paths.sort();
    Ok(paths)
}

fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for path in read_dir_sorted(dir)? {
        if path.is_dir() {
            collect_rust_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(manifest: &str) -> Vec<(String, String, String, usize)> {
        dependencies(manifest)
            .into_iter()
            .map(|d| (d.table, d.key, d.package, d.line))
            .collect()
    }

    fn dep(table: &str, key: &str, package: &str, line: usize) -> (String, String, String, usize) {
        (table.into(), key.into(), package.into(), line)
    }

    #[test]
    fn finds_dependencies_in_every_table_shape() {
        let manifest = r#"
[package]
name = "app"            # sea-orm in a comment is not a dependency
description = "uses sea-orm = never"

[dependencies]
serde.workspace = true
"sea-orm" = { workspace = true }
db = { package = "sea-orm-migration", version = "2" }
tokio = { version = "1", features = [
    "macros", # a comment inside an array
    "rt",
] }

[dev-dependencies.users]
path = "../users"

[dev-dependencies.store]
package = "sea_orm"
version = "2"

[target.'cfg(unix)'.build-dependencies]
cc = "1"

[[bin]]
name = "dependencies"

[features]
orm = ["dep:sea-orm"]
"#;
        assert_eq!(
            names(manifest),
            [
                dep("dependencies", "serde", "serde", 7),
                dep("dependencies", "sea-orm", "sea-orm", 8),
                dep("dependencies", "db", "sea-orm-migration", 9),
                dep("dependencies", "tokio", "tokio", 10),
                dep("dev-dependencies", "users", "users", 15),
                dep("dev-dependencies", "store", "sea_orm", 18),
                dep("target.'cfg(unix)'.build-dependencies", "cc", "cc", 23),
            ]
        );
    }

    #[test]
    fn orm_is_reported_wherever_it_hides() {
        let clean = "[dependencies]\npersistence.workspace = true\nmigration.workspace = true\n";
        assert!(orm_dependencies("crates/app/Cargo.toml", clean).is_empty());

        for bad in [
            "[dependencies]\nsea-orm.workspace = true\n",
            "[dependencies]\nsea-orm = \"2\"\n",
            "[dev-dependencies]\nsea-orm-migration = { workspace = true }\n",
            "[build-dependencies]\nsea_orm = \"2\"\n",
            "[dependencies]\norm = { package = \"sea-orm\", version = \"2\" }\n",
            "[dependencies.sea-orm]\nversion = \"2\"\n",
            "[dependencies.orm]\nversion = \"2\"\npackage = \"sea-orm\"\n",
            "[target.'cfg(unix)'.dev-dependencies]\nsea-orm = \"2\"\n",
            "dependencies.sea-orm = \"2\"\n",
        ] {
            let found = orm_dependencies("tests/Cargo.toml", bad);
            assert_eq!(found.len(), 1, "{bad}");
            assert!(found[0].location.starts_with("tests/Cargo.toml:"), "{bad}");
            assert!(found[0].message.contains("sea"), "{bad}");
        }
        // Other sea-* crates and features named after the ORM are not dependencies on it.
        let near_misses = "[dependencies]\nsea-query = \"0.32\"\n[features]\nsea-orm = []\n";
        assert!(orm_dependencies("tests/Cargo.toml", near_misses).is_empty());
    }

    #[test]
    fn contexts_must_not_depend_on_each_other() {
        let manifest = "[dependencies]\npersistence.workspace = true\n\n[dev-dependencies]\nusers = { path = \"../users\" }\n";
        let found = context_dependencies("crates/orders/Cargo.toml", manifest, "users");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].location, "crates/orders/Cargo.toml:5");
        assert!(found[0].message.contains("`users`"));
        assert!(context_dependencies("crates/orders/Cargo.toml", manifest, "orders").is_empty());
        // A crate whose name merely contains the context's is fine.
        let near = "[dependencies]\nusers-api-docs = \"1\"\n";
        assert!(context_dependencies("crates/orders/Cargo.toml", near, "users").is_empty());
    }

    #[test]
    fn public_entity_modules_are_found() {
        let source = r##"//! Docs may say `pub mod entity` freely.
mod entity;
pub mod domain;
/* pub mod entity; in a block comment /* nested */ pub mod entities; */
const S: &str = "pub mod entity;";
const R: &str = r#"pub mod entity;"#;
fn f<'a>(x: &'a str) -> char { let _ = x; 'e' }
pub mod entity;
pub(crate) mod entities {}
pub(in crate::x) mod r#entity;
  #[cfg(test)] pub(super) mod entity;
pub mod entity_helpers;
pub use entity::Model as UserRow;
pub(crate) use entity::Model;
pub use domain::Entity;
"##;
        let found = public_entity_items(source);
        assert_eq!(
            found,
            [
                (8, "pub mod entity".to_owned()),
                (9, "pub(crate) mod entities".to_owned()),
                (10, "pub(in crate::x) mod entity".to_owned()),
                (11, "pub(super) mod entity".to_owned()),
                (13, "pub use entity::Model as UserRow".to_owned()),
            ]
        );
    }

    #[test]
    fn private_entity_modules_pass() {
        let source = "mod entity;\nmod entities { pub struct Model; }\npub use domain::User;\n";
        assert!(public_entity_items(source).is_empty());
    }

    #[test]
    fn tokenizer_skips_literals_and_keeps_lines() {
        let tokens = tokenize(
            "let s = b\"pub\";\nlet c = '\\'';\nlet r = br##\"x\"#y\"##;\n'l: loop {}\npub",
        );
        let last = tokens.last().expect("tokens");
        assert_eq!((last.text.as_str(), last.line), ("pub", 5));
        assert!(!tokens.iter().any(|t| t.text == "x" || t.text == "y"));
        assert_eq!(tokens.iter().filter(|t| t.text == "pub").count(), 1);
    }

    #[test]
    fn the_real_workspace_respects_its_boundaries() {
        let violations = check_workspace(&crate::workspace_root()).expect("workspace is readable");
        assert!(
            violations.is_empty(),
            "boundary violations:\n{}",
            violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
