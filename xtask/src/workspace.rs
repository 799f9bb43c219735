//! The workspace as `cargo metadata` sees it, and the role each crate plays in the architecture.
//!
//! Roles are read from where a crate lives, not from a list to keep in sync: every library
//! under `crates/` except [`APP`] has a public API worth listing, and every one of those except
//! [`KERNEL`] is a bounded context. A new context is a new directory under `crates/`, and the
//! checks pick it up without edits here.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use serde::Deserialize;

/// The composition root: the HTTP service. It composes the contexts and has no API of its own
/// that other crates use.
pub const APP: &str = "app";
/// The shared kernel every context builds on.
pub const KERNEL: &str = "persistence";
/// The door to the SeaORM connection behind the kernel's handles. Its API is SeaORM by design,
/// so it has no listing; `deny.toml` limits who may depend on it to the contexts and migration.
pub const ORM_DOOR: &str = "persistence-orm";

/// The part of `cargo metadata --no-deps` output the checks need.
#[derive(Debug, Deserialize)]
pub struct Workspace {
    pub packages: Vec<Package>,
    pub workspace_root: PathBuf,
    pub target_directory: PathBuf,
}

#[derive(Debug, Deserialize)]
pub struct Package {
    pub name: String,
    pub manifest_path: PathBuf,
    pub targets: Vec<Target>,
}

#[derive(Debug, Deserialize)]
pub struct Target {
    pub name: String,
    pub kind: Vec<String>,
}

impl Package {
    /// The directory holding the manifest.
    pub fn dir(&self) -> &Path {
        self.manifest_path
            .parent()
            .unwrap_or(self.manifest_path.as_path())
    }

    /// The library target's crate name (`-` becomes `_`), if the package has a library.
    pub fn lib_name(&self) -> Option<String> {
        self.targets
            .iter()
            .find(|t| t.kind.iter().any(|k| k == "lib" || k == "rlib"))
            .map(|t| t.name.replace('-', "_"))
    }
}

impl Workspace {
    /// Runs `cargo metadata --no-deps` in `root`.
    pub fn load(root: &Path) -> anyhow::Result<Self> {
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
        serde_json::from_slice(&output.stdout).context("cannot read `cargo metadata` output")
    }

    /// `path` relative to the workspace root, with `/` separators.
    pub fn relative(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.workspace_root).unwrap_or(path);
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Every package under `crates/`, sorted by name.
    pub fn crates_dir_packages(&self) -> Vec<&Package> {
        let mut found: Vec<&Package> = self
            .packages
            .iter()
            .filter(|p| self.relative(p.dir()).starts_with("crates/"))
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    /// The crates whose public API is listed in `api/<crate>.txt`: every library under
    /// `crates/` except the service ([`APP`]) and the ORM door ([`ORM_DOOR`]). Sorted by name.
    pub fn api_crates(&self) -> Vec<&Package> {
        self.crates_dir_packages()
            .into_iter()
            .filter(|p| p.name != APP && p.name != ORM_DOOR && p.lib_name().is_some())
            .collect()
    }

    /// The bounded contexts: the API crates except the shared kernel ([`KERNEL`]).
    pub fn contexts(&self) -> Vec<&Package> {
        self.api_crates()
            .into_iter()
            .filter(|p| p.name != KERNEL)
            .collect()
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A workspace rooted at `/ws` with `(name, dir, has_lib)` packages.
    pub fn sample(packages: &[(&str, &str, bool)]) -> Workspace {
        let packages: Vec<serde_json::Value> = packages
            .iter()
            .map(|(name, dir, lib)| {
                let mut targets = vec![serde_json::json!({"name": name, "kind": ["bin"]})];
                if *lib {
                    targets.push(serde_json::json!({"name": name, "kind": ["lib"]}));
                }
                serde_json::json!({
                    "name": name,
                    "manifest_path": format!("/ws/{dir}/Cargo.toml"),
                    "targets": targets,
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "packages": packages,
            "workspace_root": "/ws",
            "target_directory": "/ws/target",
        }))
        .expect("sample metadata")
    }

    fn names(packages: Vec<&Package>) -> Vec<&str> {
        packages.into_iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn roles_come_from_the_directory_layout() {
        let ws = sample(&[
            ("app", "crates/app", true),
            ("users", "crates/users", true),
            ("persistence", "crates/persistence", true),
            ("persistence-orm", "crates/persistence-orm", true),
            ("billing", "crates/billing", true),
            ("migration", "migration", true),
            ("xtask", "xtask", false),
            ("api-tests", "tests", false),
        ]);
        assert_eq!(names(ws.api_crates()), ["billing", "persistence", "users"]);
        assert_eq!(names(ws.contexts()), ["billing", "users"]);
        assert_eq!(
            names(ws.crates_dir_packages()),
            ["app", "billing", "persistence", "persistence-orm", "users"]
        );
    }

    #[test]
    fn lib_names_use_underscores() {
        let ws = sample(&[("order-history", "crates/order-history", true)]);
        assert_eq!(ws.packages[0].lib_name().as_deref(), Some("order_history"));
        assert_eq!(
            ws.relative(Path::new("/ws/crates/x/src/lib.rs")),
            "crates/x/src/lib.rs"
        );
    }

    #[test]
    fn the_real_workspace_has_the_expected_roles() {
        let ws = Workspace::load(&crate::workspace_root()).expect("cargo metadata");
        let api = names(ws.api_crates());
        for expected in ["persistence", "users", "orders", "identity"] {
            assert!(api.contains(&expected), "{expected} missing from {api:?}");
        }
        assert!(!api.contains(&"app"));
        assert!(!api.contains(&"persistence-orm"));
        assert!(!names(ws.contexts()).contains(&"persistence"));
        assert!(!names(ws.contexts()).contains(&"persistence-orm"));
    }
}
