//! `cargo xtask migrate generate NAME --context users|orders|identity|catalog|inventory`: a new migration file from a
//! template, registered in `migration/src/lib.rs` above its two marker lines.
//!
//! Everything but [`generate`] is a pure function on strings, so it is tested without touching
//! the real crate.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};

/// The line in `lib.rs` above which new `mod` declarations go.
pub const MODS_MARKER: &str = "// @generated-mods";
/// The line in `lib.rs` above which new `Box::new(..::Migration),` entries go.
pub const LIST_MARKER: &str = "// @generated-list";

/// The bounded context that owns a migration; it is part of the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BoundedContext {
    Users,
    Orders,
    Identity,
    Catalog,
    Inventory,
}

impl BoundedContext {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Orders => "orders",
            Self::Identity => "identity",
            Self::Catalog => "catalog",
            Self::Inventory => "inventory",
        }
    }
}

/// A migration name is snake_case: one or more of `[a-z0-9_]`.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() {
        bail!("the migration name is empty: expected snake_case such as `add_orders_note`");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        bail!(
            "invalid migration name {name:?}: {bad:?} is not allowed; use snake_case \
             ([a-z0-9_]+), such as `add_orders_note`"
        );
    }
    Ok(())
}

/// The module (and file stem) name: `m<YYYYMMDD_HHMMSS>_<context>_<name>`.
pub fn module_name(now: DateTime<Utc>, context: BoundedContext, name: &str) -> String {
    format!(
        "m{}_{}_{name}",
        now.format("%Y%m%d_%H%M%S"),
        context.as_str()
    )
}

/// The new file's text: a migration that compiles and does nothing until its author fills in
/// `up` and `down`.
pub fn template(context: BoundedContext, name: &str) -> String {
    let context = context.as_str();
    let summary = name.replace('_', " ");
    format!(
        r#"//! The `{context}` context: {summary}.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {{
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {{
        // Write the schema change here through `manager` (`create_table`, `alter_table`,
        // `create_index`, ...); column shapes shared by both engines live in `crate::columns`.
        // It must work on SQLite and PostgreSQL alike, and it runs in one transaction.
        // Once applied anywhere this file is history: change the schema again in a new one.
        // Delete the `let _ = manager;` line once `manager` is used.
        let _ = manager;
        Ok(())
    }}

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {{
        // Undo exactly what `up` does, in reverse order (drop what it created, restore what
        // it changed), so `cargo xtask migrate down` returns the schema to its previous state.
        // Delete the `let _ = manager;` line once `manager` is used.
        let _ = manager;
        Ok(())
    }}

    fn use_transaction(&self) -> Option<bool> {{
        Some(true)
    }}
}}
"#
    )
}

/// `lib_rs` with `module` registered: `mod <module>;` inserted above the [`MODS_MARKER`] line
/// and `Box::new(<module>::Migration),` above the [`LIST_MARKER`] line, each indented like its
/// marker.
pub fn register(lib_rs: &str, module: &str) -> anyhow::Result<String> {
    let lines: Vec<&str> = lib_rs.split_inclusive('\n').collect();
    let mods_at = marker_line(&lines, MODS_MARKER)?;
    let list_at = marker_line(&lines, LIST_MARKER)?;

    for line in &lines {
        let code = line.trim();
        if let Some(existing) = code.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            if existing == module {
                bail!("{module} is already registered in lib.rs");
            }
            if timestamp_of(existing).is_some() && existing.get(16..) == module.get(16..) {
                bail!(
                    "a migration with this context and name already exists: {existing}; \
                     pick a name that says what this one does"
                );
            }
            if let (Some(theirs), Some(ours)) = (timestamp_of(existing), timestamp_of(module))
                && theirs > ours
            {
                bail!(
                    "{module} would sort before the registered migration {existing}; \
                     is the system clock right?"
                );
            }
        }
    }

    let mut out = String::with_capacity(lib_rs.len() + 2 * module.len() + 64);
    for (index, line) in lines.iter().enumerate() {
        if index == mods_at {
            push_line_like(&mut out, line, &format!("mod {module};"));
        }
        if index == list_at {
            push_line_like(&mut out, line, &format!("Box::new({module}::Migration),"));
        }
        out.push_str(line);
    }
    Ok(out)
}

/// The `m<YYYYMMDD_HHMMSS>` prefix of a migration module name.
fn timestamp_of(module: &str) -> Option<&str> {
    let prefix = module.get(..16)?;
    let bytes = prefix.as_bytes();
    let shaped = bytes[0] == b'm'
        && bytes[9] == b'_'
        && bytes[1..9]
            .iter()
            .chain(&bytes[10..16])
            .all(u8::is_ascii_digit);
    shaped.then_some(prefix)
}

/// The index of the one line containing `marker`.
fn marker_line(lines: &[&str], marker: &str) -> anyhow::Result<usize> {
    let mut found = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with(marker))
        .map(|(index, _)| index);
    match (found.next(), found.next()) {
        (Some(index), None) => Ok(index),
        (None, _) => bail!("lib.rs has no `{marker}` line to insert above"),
        (Some(_), Some(_)) => bail!("lib.rs has more than one `{marker}` line"),
    }
}

/// Appends `text` as a line with the indentation and line ending of `like`.
fn push_line_like(out: &mut String, like: &str, text: &str) {
    let indent_len = like.len() - like.trim_start().len();
    out.push_str(&like[..indent_len]);
    out.push_str(text);
    out.push_str(if like.ends_with("\r\n") { "\r\n" } else { "\n" });
}

/// Creates the migration file in `migration_src` and registers it in `migration_src/lib.rs`;
/// returns the new file's path. Nothing is written unless everything checks out first.
pub fn generate(
    migration_src: &Path,
    context: BoundedContext,
    name: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<PathBuf> {
    validate_name(name)?;
    let module = module_name(now, context, name);
    let lib_path = migration_src.join("lib.rs");
    let lib_rs = fs::read_to_string(&lib_path)
        .with_context(|| format!("cannot read {}", lib_path.display()))?;
    let registered = register(&lib_rs, &module)
        .with_context(|| format!("cannot register {module} in {}", lib_path.display()))?;

    let file_path = migration_src.join(format!("{module}.rs"));
    let mut file = fs::File::create_new(&file_path)
        .with_context(|| format!("cannot create {}", file_path.display()))?;
    let written = file
        .write_all(template(context, name).as_bytes())
        .with_context(|| format!("cannot write {}", file_path.display()))
        .and_then(|()| {
            fs::write(&lib_path, registered)
                .with_context(|| format!("cannot update {}", lib_path.display()))
        });
    if let Err(err) = written {
        drop(file);
        // Best effort: leave no unregistered file behind.
        let _ = fs::remove_file(&file_path);
        return Err(err);
    }
    Ok(file_path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use clap::ValueEnum as _;

    const LIB_RS: &str = "\
mod runner;

mod m20261125_000001_users_create_users;
// @generated-mods: `cargo xtask migrate generate` inserts new modules above this line.

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_users_create_users::Migration),
            // @generated-list: `cargo xtask migrate generate` inserts new entries above this line.
        ]
    }
}
";

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid date")
    }

    #[test]
    fn every_context_is_a_context_choice_by_its_name() {
        use clap::ValueEnum as _;
        let names: Vec<&str> = BoundedContext::value_variants()
            .iter()
            .map(|c| c.as_str())
            .collect();
        assert_eq!(
            names,
            ["users", "orders", "identity", "catalog", "inventory"]
        );
        for context in BoundedContext::value_variants() {
            assert_eq!(
                BoundedContext::from_str(context.as_str(), false),
                Ok(*context)
            );
        }
        assert!(BoundedContext::from_str("billing", false).is_err());
    }

    #[test]
    fn names_are_snake_case() {
        for ok in [
            "add_orders_note",
            "x",
            "v2",
            "add_index_2",
            "_odd_but_valid_",
        ] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "AddNote", "add-note", "add note", "add.note", "ädd", "add_Note", "../x", "a/b",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn module_name_carries_timestamp_and_context() {
        assert_eq!(
            module_name(
                at(2026, 11, 25, 9, 5, 7),
                BoundedContext::Orders,
                "add_note"
            ),
            "m20261125_090507_orders_add_note"
        );
        assert_eq!(
            module_name(at(2027, 1, 2, 23, 59, 59), BoundedContext::Users, "x"),
            "m20270102_235959_users_x"
        );
        assert_eq!(
            module_name(
                at(2026, 12, 1, 0, 0, 0),
                BoundedContext::Identity,
                "add_mfa"
            ),
            "m20261201_000000_identity_add_mfa"
        );
    }

    #[test]
    fn template_says_which_context_and_what() {
        let text = template(BoundedContext::Users, "add_user_locale");
        assert!(text.starts_with("//! The `users` context: add user locale.\n"));
        let identity = template(BoundedContext::Identity, "add_mfa");
        assert!(identity.starts_with("//! The `identity` context: add mfa.\n"));
        assert!(!text.contains("todo!") && !text.contains("unimplemented!"));
    }

    #[test]
    fn register_inserts_above_both_markers() {
        let out = register(LIB_RS, "m20261125_120000_orders_add_note").expect("registers");
        let expected = LIB_RS
            .replace(
                "// @generated-mods",
                "mod m20261125_120000_orders_add_note;\n// @generated-mods",
            )
            .replace(
                "            // @generated-list",
                "            Box::new(m20261125_120000_orders_add_note::Migration),\n            // @generated-list",
            );
        assert_eq!(out, expected);
        // Registering twice in a row keeps the order.
        let again = register(&out, "m20261125_120001_users_add_locale").expect("registers");
        let mods: Vec<&str> = again.lines().filter(|l| l.starts_with("mod m")).collect();
        assert_eq!(
            mods,
            [
                "mod m20261125_000001_users_create_users;",
                "mod m20261125_120000_orders_add_note;",
                "mod m20261125_120001_users_add_locale;",
            ]
        );
        let boxes: Vec<&str> = again
            .lines()
            .filter(|l| l.contains("Box::new("))
            .map(str::trim)
            .collect();
        assert_eq!(
            boxes,
            [
                "Box::new(m20261125_000001_users_create_users::Migration),",
                "Box::new(m20261125_120000_orders_add_note::Migration),",
                "Box::new(m20261125_120001_users_add_locale::Migration),",
            ]
        );
    }

    #[test]
    fn register_keeps_crlf_line_endings() {
        let crlf = LIB_RS.replace('\n', "\r\n");
        let out = register(&crlf, "m20261125_120000_orders_add_note").expect("registers");
        assert!(out.contains("\r\nmod m20261125_120000_orders_add_note;\r\n// @generated-mods"));
        assert_eq!(out.matches('\n').count(), out.matches("\r\n").count());
    }

    #[test]
    fn register_refuses_what_it_cannot_do_cleanly() {
        let no_mods = LIB_RS.replace("// @generated-mods", "// mods");
        assert!(register(&no_mods, "m20261125_120000_orders_a").is_err());
        let no_list = LIB_RS.replace("// @generated-list", "// list");
        assert!(register(&no_list, "m20261125_120000_orders_a").is_err());
        let twice = format!("{LIB_RS}// @generated-mods\n");
        assert!(register(&twice, "m20261125_120000_orders_a").is_err());
        // Already there.
        assert!(register(LIB_RS, "m20261125_000001_users_create_users").is_err());
        // Would sort before an existing migration (a clock running behind).
        assert!(register(LIB_RS, "m20250101_000000_users_a").is_err());
        // The same context and name as an existing one, at another time.
        assert!(register(LIB_RS, "m20261125_120000_users_create_users").is_err());
        assert!(register(LIB_RS, "m20261125_120000_orders_create_users").is_ok());
        // The same second as an existing one is fine, whatever the context.
        assert!(register(LIB_RS, "m20261125_000001_orders_a").is_ok());
        assert_eq!(
            timestamp_of("m20261125_000001_users_x"),
            Some("m20261125_000001")
        );
        assert_eq!(timestamp_of("runner"), None);
        assert_eq!(timestamp_of("migrations_helpers_x"), None);
    }

    #[test]
    fn register_accepts_the_real_lib_rs() {
        // Reads the real file, writes nothing.
        let path = crate::workspace_root().join("migration/src/lib.rs");
        let real = fs::read_to_string(&path).expect("migration/src/lib.rs is readable");
        let module = "m99991231_235959_orders_xtask_probe";
        let out = register(&real, module).expect("markers present");
        assert_eq!(out.lines().count(), real.lines().count() + 2);
        assert_eq!(out.matches(&format!("mod {module};")).count(), 1);
        assert_eq!(
            out.matches(&format!("Box::new({module}::Migration),"))
                .count(),
            1
        );
    }

    /// A scratch directory removed on drop.
    struct ScratchDir(PathBuf);

    impl ScratchDir {
        fn new(label: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let path =
                std::env::temp_dir().join(format!("xtask-{label}-{}-{nanos}", std::process::id()));
            fs::create_dir_all(&path).expect("create scratch dir");
            Self(path)
        }
    }

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn generate_writes_the_file_and_registers_it_in_a_copy() {
        let dir = ScratchDir::new("generate");
        let real = crate::workspace_root().join("migration/src/lib.rs");
        fs::copy(&real, dir.0.join("lib.rs")).expect("copy lib.rs");
        let now = at(2099, 1, 2, 3, 4, 5);

        let path = generate(&dir.0, BoundedContext::Orders, "add_note", now).expect("generates");
        assert_eq!(path, dir.0.join("m20990102_030405_orders_add_note.rs"));
        assert_eq!(
            fs::read_to_string(&path).expect("read new file"),
            template(BoundedContext::Orders, "add_note")
        );
        let lib = fs::read_to_string(dir.0.join("lib.rs")).expect("read lib.rs");
        assert!(lib.contains("mod m20990102_030405_orders_add_note;\n// @generated-mods"));
        assert!(lib.contains("Box::new(m20990102_030405_orders_add_note::Migration),\n"));

        // The same name again, now or later: refused, nothing changes.
        assert!(generate(&dir.0, BoundedContext::Orders, "add_note", now).is_err());
        let later = at(2099, 1, 2, 3, 4, 6);
        assert!(generate(&dir.0, BoundedContext::Orders, "add_note", later).is_err());
        assert_eq!(
            fs::read_to_string(dir.0.join("lib.rs")).expect("read lib.rs"),
            lib
        );

        // A file already there (not registered) is never overwritten.
        let stray = dir.0.join("m20990102_030407_users_stray.rs");
        fs::write(&stray, "// someone's work\n").expect("write stray");
        let clash = generate(
            &dir.0,
            BoundedContext::Users,
            "stray",
            at(2099, 1, 2, 3, 4, 7),
        );
        assert!(clash.is_err());
        assert_eq!(
            fs::read_to_string(&stray).expect("read stray"),
            "// someone's work\n"
        );
        assert_eq!(
            fs::read_to_string(dir.0.join("lib.rs")).expect("read lib.rs"),
            lib
        );
        fs::remove_file(&stray).expect("remove stray");

        // A bad name writes nothing.
        assert!(generate(&dir.0, BoundedContext::Users, "Bad-Name", now).is_err());
        assert_eq!(fs::read_dir(&dir.0).expect("list").count(), 2);
    }

    /// The real workspace manifest, cut down to a workspace whose only member is the
    /// `migration` crate copied beside it: same dependency versions, features, lints and
    /// profiles (so the shared target directory's artifacts are reused), with the other
    /// workspace crates' paths made absolute.
    fn scratch_manifest(real: &str, root: &Path) -> String {
        real.lines()
            .filter(|line| !line.starts_with("default-members"))
            .map(|line| {
                if line.starts_with("members = ") {
                    "members = [\"migration\"]".to_owned()
                } else if line.contains("{ path = \"crates/") {
                    line.replace(
                        "{ path = \"crates/",
                        &format!("{{ path = \"{}/crates/", root.display()),
                    )
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn scratch_manifest_keeps_everything_but_the_members() {
        let real = "[workspace]\nmembers = [\"a\", \"migration\"]\ndefault-members = [\"a\"]\n\
                    persistence = { path = \"crates/persistence\" }\n\
                    migration = { path = \"migration\" }\n[profile.dev]\ndebug = false";
        assert_eq!(
            scratch_manifest(real, Path::new("/w")),
            "[workspace]\nmembers = [\"migration\"]\n\
             persistence = { path = \"/w/crates/persistence\" }\n\
             migration = { path = \"migration\" }\n[profile.dev]\ndebug = false"
        );
    }

    /// What `generate` writes compiles: a migration per context is generated into a scratch
    /// copy of the migration crate, which `cargo check` builds with the workspace's target
    /// directory (only the copied crate is compiled; dependencies are reused), and the new
    /// files are `rustfmt`-clean.
    #[test]
    fn generated_migrations_compile_in_a_copy_of_the_migration_crate() {
        let root = crate::workspace_root();
        let dir = ScratchDir::new("generate-compiles");
        let real = fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
        fs::write(dir.0.join("Cargo.toml"), scratch_manifest(&real, &root))
            .expect("write Cargo.toml");
        fs::copy(root.join("Cargo.lock"), dir.0.join("Cargo.lock")).expect("copy Cargo.lock");
        let src = dir.0.join("migration/src");
        fs::create_dir_all(&src).expect("create src");
        fs::copy(
            root.join("migration/Cargo.toml"),
            dir.0.join("migration/Cargo.toml"),
        )
        .expect("copy the crate manifest");
        for entry in fs::read_dir(root.join("migration/src")).expect("list migration/src") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "rs") {
                fs::copy(&path, src.join(path.file_name().expect("file name")))
                    .expect("copy a source file");
            }
        }

        let mut generated = Vec::new();
        for (second, context) in (0..).zip(BoundedContext::value_variants().iter().copied()) {
            let now = at(2099, 1, 2, 3, 4, second);
            generated.push(generate(&src, context, "probe_change", now).expect("generates"));
        }

        let rustfmt = std::process::Command::new("rustfmt")
            .args(["--edition", "2024", "--check"])
            .args(&generated)
            .output()
            .expect("run rustfmt");
        assert!(
            rustfmt.status.success(),
            "generated code is not rustfmt-clean:\n{}",
            String::from_utf8_lossy(&rustfmt.stdout)
        );

        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let mut check = std::process::Command::new("cargo");
        check
            .args(["check", "--offline", "--lib", "--message-format", "short"])
            .arg("--manifest-path")
            .arg(dir.0.join("migration/Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target);
        // Run it as a developer's shell would: without what `cargo test` sets for this test
        // process. Build scripts that watch the environment would otherwise see a change and
        // rebuild the dependencies instead of reusing the target directory's.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let set_by_cargo_test = name == "CARGO"
                || name == "LD_LIBRARY_PATH"
                || name == "OUT_DIR"
                || name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_BIN_")
                || name.starts_with("CARGO_MANIFEST_")
                || name.starts_with("CARGO_CRATE_")
                || name.starts_with("CARGO_PRIMARY_")
                || name.starts_with("CARGO_RUSTC_")
                || name.starts_with("CARGO_TARGET_TMPDIR")
                || name.starts_with("RUSTUP_TOOLCHAIN");
            if set_by_cargo_test {
                check.env_remove(&*name);
            }
        }
        let check = check.output().expect("run cargo check");
        let stderr = String::from_utf8_lossy(&check.stderr);
        assert!(
            check.status.success(),
            "generated code does not compile:\n{stderr}"
        );
        // (Cargo also warns that the profile overrides for crates outside this copy match
        // nothing; only the compiler's warnings about the copied crate count.)
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|line| line.contains("warning") && line.contains("migration/src/"))
            .collect();
        assert!(
            warnings.is_empty(),
            "generated code compiles with warnings:\n{stderr}"
        );
        let lib = fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
        assert_eq!(
            lib.matches("_probe_change::Migration),").count(),
            BoundedContext::value_variants().len()
        );
    }
}
