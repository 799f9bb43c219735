//! `cargo xtask check-boundaries`: the architecture rules the compiler cannot enforce alone.
//!
//! - The HTTP service (`app`) and the black-box tests (`api-tests`) never use the ORM directly:
//!   no `sea-orm` / `sea-orm-migration` among their dependencies of any kind.
//! - Bounded contexts talk through ports, never by depending on each other's crate.
//! - Entities stay private to their context: no `pub` / `pub(...)` module named `entity` or
//!   `entities` in a crate under `crates/`, and no `pub use` that re-exports from one.
//!
//! Cargo itself reads the manifests (`cargo metadata`: every dependency table, target-specific
//! tables and renames resolved) and `syn` reads the sources (comments and literals are not code),
//! so this module holds only the rules.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use serde::Deserialize;
use syn::ext::IdentExt;
use syn::visit::Visit;

use crate::Outcome;

/// Crates that only the context crates, `persistence` and `migration` may depend on.
const ORM_CRATES: &[&str] = &["sea-orm", "sea-orm-migration"];
/// Packages that must not depend on an [`ORM_CRATES`] entry.
const ORM_FREE_PACKAGES: &[&str] = &["app", "api-tests"];
/// The bounded contexts; none may depend on another.
const CONTEXTS: &[&str] = &["users", "orders", "identity"];
/// Module names that hold a context's entities.
const ENTITY_MODULES: &[&str] = &["entity", "entities"];

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
    /// The manifest or source file, relative to the workspace root.
    pub location: String,
    /// What is wrong and what to do instead.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// The part of `cargo metadata --no-deps` output the rules need.
#[derive(Debug, Deserialize)]
pub struct Metadata {
    packages: Vec<Package>,
}

#[derive(Debug, Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
    dependencies: Vec<Dependency>,
}

#[derive(Debug, Deserialize)]
struct Dependency {
    /// The package depended on (whatever it is renamed to).
    name: String,
    rename: Option<String>,
    /// `None` for normal dependencies, else `"dev"` or `"build"`.
    kind: Option<String>,
    /// A `cfg(...)` or target triple for target-specific dependencies.
    target: Option<String>,
}

impl Dependency {
    fn describe(&self) -> String {
        let table = match &self.kind {
            Some(kind) => format!("{kind}-dependencies"),
            None => "dependencies".to_owned(),
        };
        let table = match &self.target {
            Some(target) => format!("target.'{target}'.{table}"),
            None => table,
        };
        match &self.rename {
            Some(rename) => format!("[{table}] lists `{rename}` (package `{}`)", self.name),
            None => format!("[{table}] lists `{}`", self.name),
        }
    }
}

/// Every violation in the workspace at `root`, in a stable order.
pub fn check_workspace(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("cannot run `cargo metadata`")?;
    anyhow::ensure!(
        output.status.success(),
        "`cargo metadata` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("cannot read `cargo metadata` output")?;

    let mut violations = dependency_violations(&metadata, root);
    for package in &metadata.packages {
        let dir = package.manifest_path.parent().unwrap_or(root);
        if !relative(dir, root).starts_with("crates/") {
            continue;
        }
        let mut sources = Vec::new();
        collect_rust_files(&dir.join("src"), &mut sources)?;
        sources.sort();
        for source in sources {
            let text = fs::read_to_string(&source)
                .with_context(|| format!("cannot read {}", source.display()))?;
            let items = public_entity_items(&text)
                .with_context(|| format!("cannot parse {}", source.display()))?;
            violations.extend(items.into_iter().map(|what| Violation {
                location: relative(&source, root),
                message: format!(
                    "`{what}` exposes a context's entities; keep them private to the context \
                     and expose domain types through its service instead"
                ),
            }));
        }
    }
    Ok(violations)
}

/// The dependency rules: ORM-free packages and isolated contexts.
pub fn dependency_violations(metadata: &Metadata, root: &Path) -> Vec<Violation> {
    let mut violations = Vec::new();
    for package in &metadata.packages {
        let location = relative(&package.manifest_path, root);
        let orm_free = ORM_FREE_PACKAGES.contains(&package.name.as_str());
        let context = CONTEXTS.contains(&package.name.as_str());
        for dep in &package.dependencies {
            if orm_free && ORM_CRATES.contains(&dep.name.as_str()) {
                violations.push(Violation {
                    location: location.clone(),
                    message: format!(
                        "{}: only the context crates, persistence and migration may use the \
                         ORM; go through a context's service (or persistence / migration)",
                        dep.describe()
                    ),
                });
            }
            if context && dep.name != package.name && CONTEXTS.contains(&dep.name.as_str()) {
                violations.push(Violation {
                    location: location.clone(),
                    message: format!(
                        "{}: bounded contexts must not depend on each other; define a port \
                         (a trait) in this context and let the app wire the other one into it",
                        dep.describe()
                    ),
                });
            }
        }
    }
    violations
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

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
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

    /// A dependency as `(name, rename, kind, target)`.
    type Dep<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);

    /// A package as `cargo metadata` reports it.
    fn package(name: &str, deps: &[Dep]) -> String {
        let deps: Vec<String> = deps
            .iter()
            .map(|(dep, rename, kind, target)| {
                serde_json::json!({
                    "name": dep, "rename": rename, "kind": kind, "target": target,
                    "req": "*", "optional": false
                })
                .to_string()
            })
            .collect();
        format!(
            r#"{{"name":"{name}","manifest_path":"/ws/crates/{name}/Cargo.toml","dependencies":[{}]}}"#,
            deps.join(",")
        )
    }

    fn check(packages: &[String]) -> Vec<Violation> {
        let json = format!(r#"{{"packages":[{}]}}"#, packages.join(","));
        let metadata: Metadata = serde_json::from_str(&json).expect("metadata");
        dependency_violations(&metadata, Path::new("/ws"))
    }

    #[test]
    fn orm_is_reported_wherever_it_hides() {
        let clean = package(
            "app",
            &[
                ("persistence", None, None, None),
                ("sea-query", None, None, None),
            ],
        );
        assert!(check(&[clean]).is_empty());

        for dep in [
            ("sea-orm", None, None, None),
            ("sea-orm-migration", None, Some("dev"), None),
            ("sea-orm", None, Some("build"), None),
            ("sea-orm", Some("orm"), None, None),
            ("sea-orm", None, Some("dev"), Some("cfg(unix)")),
        ] {
            let found = check(&[package("api-tests", &[dep])]);
            assert_eq!(found.len(), 1, "{dep:?}");
            assert_eq!(found[0].location, "crates/api-tests/Cargo.toml");
            assert!(found[0].message.contains("sea-orm"), "{dep:?}");
        }
        let renamed = check(&[package("app", &[("sea-orm", Some("orm"), None, None)])]);
        assert!(renamed[0].message.contains("`orm` (package `sea-orm`)"));
        let target = check(&[package(
            "app",
            &[("sea-orm", None, Some("dev"), Some("cfg(unix)"))],
        )]);
        assert!(
            target[0]
                .message
                .contains("[target.'cfg(unix)'.dev-dependencies]")
        );
        // The contexts, persistence and migration may use the ORM.
        assert!(check(&[package("users", &[("sea-orm", None, None, None)])]).is_empty());
    }

    #[test]
    fn contexts_must_not_depend_on_each_other() {
        let orders = package(
            "orders",
            &[
                ("persistence", None, None, None),
                ("users", None, Some("dev"), None),
            ],
        );
        let found = check(&[orders]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].location, "crates/orders/Cargo.toml");
        assert!(found[0].message.contains("`users`"));
        assert_eq!(
            check(&[package("users", &[("orders", None, None, None)])]).len(),
            1
        );
        // Identity is a context too: it neither depends on users nor is depended on by one.
        let identity = check(&[package("identity", &[("users", None, None, None)])]);
        assert_eq!(identity.len(), 1);
        assert_eq!(identity[0].location, "crates/identity/Cargo.toml");
        assert_eq!(
            check(&[package("orders", &[("identity", None, Some("dev"), None)])]).len(),
            1
        );
        assert!(check(&[package("identity", &[("persistence", None, None, None)])]).is_empty());
        // The app composes contexts; a crate merely named like one is fine.
        assert!(check(&[package("app", &[("users", None, None, None)])]).is_empty());
        assert!(check(&[package("app", &[("identity", None, None, None)])]).is_empty());
        assert!(check(&[package("orders", &[("users-api-docs", None, None, None)])]).is_empty());
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
