//! `cargo xtask check-boundaries`: the architecture rules that neither the compiler nor
//! `cargo deny check bans` can enforce.
//!
//! Who may depend on whom is `deny.toml`'s job (`[bans] deny` with `wrappers`): only
//! `persistence`, the contexts and `migration` may depend on the ORM crates, and only `app`,
//! `xtask` and `api-tests` may depend on a context. cargo-deny cannot see two things, and this
//! module checks them:
//!
//! - **Entities stay private to their context**: no `pub` / `pub(...)` module named `entity` or
//!   `entities` in a crate under `crates/`, and no `pub use` that re-exports from one (`syn`
//!   reads the sources, so comments and literals are not code).
//! - **deny.toml keeps covering the workspace**: every context (discovered from `crates/`, so a
//!   new one is covered the day it is added) has a `[bans] deny` entry whose `wrappers` are only
//!   [`CONTEXT_CONSUMERS`], and every [`ORM_CRATES`] entry exists and never lists an
//!   [`ORM_FREE`] package as a wrapper. Without this, "fixing" a failing `cargo deny` by adding
//!   `app` to a wrapper list would pass review as a one-line config change.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;
use syn::ext::IdentExt;
use syn::visit::Visit;

use crate::Outcome;
use crate::workspace::Workspace;

/// Crates that must be denied in deny.toml, with only the ORM's own users as wrappers.
const ORM_CRATES: &[&str] = &[
    "sea-orm",
    "persistence-orm",
    "sea-orm-migration",
    "sea-query",
    "sqlx",
];
/// Packages that must never be allowed (as a `wrappers` entry) to depend on an ORM crate.
const ORM_FREE: &[&str] = &["app", "xtask", "api-tests"];
/// The only packages that may depend on a bounded context: the service, the automation, the
/// black-box tests and the benchmark (which seeds through the contexts' APIs).
const CONTEXT_CONSUMERS: &[&str] = &["app", "xtask", "api-tests", "bench"];
/// Module names that hold a context's entities.
const ENTITY_MODULES: &[&str] = &["entity", "entities"];
/// The cargo-deny configuration, relative to the workspace root.
const DENY_TOML: &str = "deny.toml";

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
    /// The file, relative to the workspace root.
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
    let workspace = Workspace::load(root)?;
    let deny_path = workspace.workspace_root.join(DENY_TOML);
    let deny = fs::read_to_string(&deny_path)
        .with_context(|| format!("cannot read {}", deny_path.display()))?;
    let contexts: Vec<&str> = workspace
        .contexts()
        .into_iter()
        .map(|p| p.name.as_str())
        .collect();
    let mut violations = deny_coverage(&deny, &contexts)?;

    for package in workspace.crates_dir_packages() {
        let mut sources = Vec::new();
        collect_rust_files(&package.dir().join("src"), &mut sources)?;
        sources.sort();
        for source in sources {
            let text = fs::read_to_string(&source)
                .with_context(|| format!("cannot read {}", source.display()))?;
            let items = public_entity_items(&text)
                .with_context(|| format!("cannot parse {}", source.display()))?;
            violations.extend(items.into_iter().map(|what| Violation {
                location: workspace.relative(&source),
                message: format!(
                    "`{what}` exposes a context's entities; keep them private to the context \
                     and expose domain types through its service instead"
                ),
            }));
        }
    }
    Ok(violations)
}

/// The part of deny.toml these rules read.
#[derive(Debug, Default, Deserialize)]
struct DenyConfig {
    #[serde(default)]
    bans: Bans,
}

#[derive(Debug, Default, Deserialize)]
struct Bans {
    #[serde(default)]
    deny: Vec<DenyEntry>,
}

/// A `[bans] deny` entry: a bare crate spec (`"name"`, `"name@1.2"`), or a table whose crate is
/// under `crate` (or the older `name`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DenyEntry {
    Spec(String),
    Table {
        #[serde(rename = "crate", alias = "name")]
        krate: String,
        #[serde(default)]
        wrappers: Vec<String>,
    },
}

impl DenyEntry {
    fn crate_name(&self) -> &str {
        match self {
            DenyEntry::Spec(spec) => spec_name(spec),
            DenyEntry::Table { krate, .. } => spec_name(krate),
        }
    }

    fn wrappers(&self) -> Vec<&str> {
        match self {
            DenyEntry::Spec(_) => Vec::new(),
            DenyEntry::Table { wrappers, .. } => wrappers.iter().map(|w| spec_name(w)).collect(),
        }
    }
}

/// The crate name of a package spec: `sea-orm@2.0.4` and `sea-orm:<3` are `sea-orm`.
fn spec_name(spec: &str) -> &str {
    spec.split(['@', ':']).next().unwrap_or(spec).trim()
}

/// Whether `deny_toml` still encodes the dependency rules for these `contexts`.
pub fn deny_coverage(deny_toml: &str, contexts: &[&str]) -> anyhow::Result<Vec<Violation>> {
    let config: DenyConfig =
        toml::from_str(deny_toml).with_context(|| format!("cannot parse {DENY_TOML}"))?;
    let violation = |message: String| Violation {
        location: DENY_TOML.to_owned(),
        message,
    };
    let entry = |name: &str| {
        config
            .bans
            .deny
            .iter()
            .find(|entry| entry.crate_name() == name)
    };
    let mut violations = Vec::new();
    for orm in ORM_CRATES {
        match entry(orm) {
            None => violations.push(violation(format!(
                "no [bans] deny entry for `{orm}`; add `{{ crate = \"{orm}\", wrappers = [...] }}` \
                 listing the crates allowed to depend on it directly"
            ))),
            Some(entry) => {
                for wrapper in entry.wrappers() {
                    if ORM_FREE.contains(&wrapper) {
                        violations.push(violation(format!(
                            "`{wrapper}` is allowed to depend on `{orm}`, but {} never use the \
                             ORM directly: go through a context's service (or persistence / \
                             migration) instead",
                            ORM_FREE.join(", ")
                        )));
                    }
                }
            }
        }
    }
    for context in contexts {
        match entry(context) {
            None => violations.push(violation(format!(
                "no [bans] deny entry for the context `{context}`; add `{{ crate = \
                 \"{context}\", wrappers = [{}] }}` so no other context can depend on it",
                CONTEXT_CONSUMERS
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            Some(entry) => {
                for wrapper in entry.wrappers() {
                    if !CONTEXT_CONSUMERS.contains(&wrapper) {
                        violations.push(violation(format!(
                            "`{wrapper}` is allowed to depend on the context `{context}`, but \
                             only {} may: bounded contexts talk through ports, so define a \
                             trait in `{wrapper}` and let the app wire `{context}` into it",
                            CONTEXT_CONSUMERS.join(", ")
                        )));
                    }
                }
            }
        }
    }
    Ok(violations)
}

/// The items of a source file that expose an entity module: a non-private `mod entity` /
/// `mod entities` (at any depth), or a `pub use` that re-exports from one.
pub fn public_entity_items(source: &str) -> syn::Result<Vec<String>> {
    let file = syn::parse_file(source)?;
    let mut finder = EntityExposure::default();
    finder.visit_file(&file);
    Ok(finder.found)
}

#[derive(Default)]
struct EntityExposure {
    found: Vec<String>,
}

impl<'ast> Visit<'ast> for EntityExposure {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        let name = item.ident.unraw().to_string();
        if ENTITY_MODULES.contains(&name.as_str())
            && !matches!(item.vis, syn::Visibility::Inherited)
        {
            self.found
                .push(format!("{} mod {name}", visibility(&item.vis)));
        }
        syn::visit::visit_item_mod(self, item);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if matches!(item.vis, syn::Visibility::Public(_)) && names_entity_module(&item.tree) {
            self.found.push(format!("pub use {}", render(&item.tree)));
        }
    }
}

fn visibility(vis: &syn::Visibility) -> String {
    match vis {
        syn::Visibility::Public(_) => "pub".to_owned(),
        syn::Visibility::Restricted(restricted) => {
            let path = restricted
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect::<Vec<_>>()
                .join("::");
            match restricted.in_token {
                Some(_) => format!("pub(in {path})"),
                None => format!("pub({path})"),
            }
        }
        syn::Visibility::Inherited => String::new(),
    }
}

/// Whether a `use` tree passes through a module named like an entity module.
fn names_entity_module(tree: &syn::UseTree) -> bool {
    match tree {
        syn::UseTree::Path(path) => {
            ENTITY_MODULES.contains(&path.ident.unraw().to_string().as_str())
                || names_entity_module(&path.tree)
        }
        syn::UseTree::Group(group) => group.items.iter().any(names_entity_module),
        syn::UseTree::Name(_) | syn::UseTree::Rename(_) | syn::UseTree::Glob(_) => false,
    }
}

fn render(tree: &syn::UseTree) -> String {
    match tree {
        syn::UseTree::Path(path) => format!("{}::{}", path.ident, render(&path.tree)),
        syn::UseTree::Name(name) => name.ident.to_string(),
        syn::UseTree::Rename(rename) => format!("{} as {}", rename.ident, rename.rename),
        syn::UseTree::Glob(_) => "*".to_owned(),
        syn::UseTree::Group(group) => format!(
            "{{{}}}",
            group
                .items
                .iter()
                .map(render)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
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

    /// The deny.toml rules of this workspace, for two contexts.
    const GOOD: &str = r#"
[bans]
deny = [
    { crate = "sea-orm", wrappers = ["persistence", "users", "orders", "migration", "sea-orm-migration"] },
    { crate = "persistence-orm", wrappers = ["persistence", "users", "orders", "migration"] },
    { crate = "sea-orm-migration", wrappers = ["migration"] },
    { crate = "sea-query", wrappers = ["sea-orm"] },
    { crate = "sqlx@0.9", wrappers = ["sea-orm"] },
    { crate = "users", wrappers = ["app", "xtask", "api-tests"] },
    { name = "orders", wrappers = ["app"] },
]
"#;

    fn messages(deny: &str, contexts: &[&str]) -> Vec<String> {
        deny_coverage(deny, contexts)
            .expect("parses")
            .into_iter()
            .map(|v| {
                assert_eq!(v.location, "deny.toml");
                v.message
            })
            .collect()
    }

    #[test]
    fn a_complete_deny_toml_passes() {
        assert!(messages(GOOD, &["users", "orders"]).is_empty());
    }

    #[test]
    fn a_new_context_without_a_deny_entry_is_reported() {
        let found = messages(GOOD, &["users", "orders", "billing"]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("context `billing`"), "{found:?}");
        assert!(found[0].contains(r#"crate = "billing""#), "{found:?}");
    }

    #[test]
    fn letting_a_context_depend_on_another_is_reported() {
        let deny = GOOD.replace(
            r#"{ name = "orders", wrappers = ["app"] }"#,
            r#"{ crate = "orders", wrappers = ["app", "users@0.1.0"] }"#,
        );
        let found = messages(&deny, &["users", "orders"]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("`users` is allowed to depend on the context `orders`"),
            "{found:?}"
        );
    }

    #[test]
    fn letting_the_app_use_the_orm_is_reported() {
        let deny = GOOD
            .replace(
                r#"wrappers = ["sea-orm"] }"#,
                r#"wrappers = ["sea-orm", "app"] }"#,
            )
            .replace(
                r#"wrappers = ["migration"]"#,
                r#"wrappers = ["migration", "xtask"]"#,
            );
        let found = messages(&deny, &["users", "orders"]);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found
                .iter()
                .any(|m| m.starts_with("`app` is allowed to depend on `sqlx`"))
        );
        assert!(
            found
                .iter()
                .any(|m| m.starts_with("`app` is allowed to depend on `sea-query`"))
        );
        assert!(
            found
                .iter()
                .any(|m| m.starts_with("`xtask` is allowed to depend on `sea-orm-migration`"))
        );
    }

    #[test]
    fn a_missing_orm_ban_is_reported() {
        let found = messages("[bans]\ndeny = [\"sea-orm\"]\n", &[]);
        assert_eq!(found.len(), ORM_CRATES.len() - 1, "{found:?}");
        assert!(
            found
                .iter()
                .all(|m| m.starts_with("no [bans] deny entry for `"))
        );
        assert!(messages("", &[]).len() == ORM_CRATES.len());
        assert!(deny_coverage("[bans\n", &[]).is_err());
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
mod outer { pub mod entity {} }
"##;
        assert_eq!(
            public_entity_items(source).expect("parses"),
            [
                "pub mod entity",
                "pub(crate) mod entities",
                "pub(in crate::x) mod entity",
                "pub(super) mod entity",
                "pub use entity::Model as UserRow",
                "pub mod entity",
            ]
        );
    }

    #[test]
    fn private_entity_modules_pass() {
        let source = "mod entity;\nmod entities { pub struct Model; }\npub use domain::User;\n";
        assert!(public_entity_items(source).expect("parses").is_empty());
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
