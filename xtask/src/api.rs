//! `cargo xtask api [--bless]`: the public API of every library crate, one item per line,
//! committed as `api/<crate>.txt` so that every API change shows up in review.
//!
//! - `cargo xtask api` regenerates the listings in memory and exits 1 with a diff when one
//!   differs from its committed file (or a file is missing or stale).
//! - `cargo xtask api --bless` writes the listings.
//! - Both exit 1 when a listed item names the ORM (`sea_orm`, `sea_query`, `sqlx` or one of
//!   their sub-crates) or an `entity` / `entities` module: the contexts' APIs are plain domain
//!   types, and blessing cannot make such a line acceptable.
//!
//! The crates are every library under `crates/` except `app` (see [`crate::workspace`]), with
//! default features (no `testing`). The listing comes from rustdoc JSON, which only the nightly
//! toolchain emits: one `cargo +nightly doc --no-deps` for all crates, into
//! `<target-dir>/nightly-doc` so stable artifacts stay untouched. `#[doc(hidden)]` items are
//! listed too: hidden from the docs is not hidden from the compiler. The `public-api` crate
//! (the engine of `cargo public-api`) renders the JSON; blanket impls (`impl<T> From<T> for T`
//! and the like) are left out as noise that follows from the rest.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use clap::Args;
use serde::Deserialize;

use crate::Outcome;
use crate::workspace::{Package, Workspace};

/// Where the listings live, relative to the workspace root.
const API_DIR: &str = "api";
/// Crates whose names must not appear in a public API. A name also covers its sub-crates
/// (`sqlx_core`, `sea_orm_migration`, `sea_query_derive`, …): rustdoc names a re-exported type
/// by the crate that defines it.
const FORBIDDEN_CRATES: &[&str] = &["sea_orm", "sea_query", "sqlx"];
/// Module names that hold a context's entities.
const ENTITY_MODULES: &[&str] = &["entity", "entities"];
/// Traits the toolchain implements for every type as compiler plumbing: unstable, invisible in
/// stable code, and changing from one nightly to the next (`UnsafeUnpin` and `TrivialClone` are
/// recent). Listing their impls would make every nightly update an API change. The stable auto
/// traits (`Send`, `Sync`, `Unpin`, `UnwindSafe`, `RefUnwindSafe`) stay: losing one breaks
/// callers.
const TOOLCHAIN_INTERNAL_TRAITS: &[&str] = &[
    "core::marker::Freeze",
    "core::marker::UnsafeUnpin",
    "core::marker::StructuralPartialEq",
    "core::clone::TrivialClone",
];
/// `#[doc(hidden)]` methods that derives add to standard traits (listed because hidden items
/// are, see the module docs).
const TOOLCHAIN_INTERNAL_METHODS: &[&str] =
    &["assert_fields_are_eq", "assert_receiver_is_total_eq"];
/// What `--bless` means, for every message that needs it.
const BLESS: &str = "cargo xtask api --bless";

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Write `api/<crate>.txt` instead of comparing against it.
    #[arg(long)]
    pub bless: bool,
    /// The toolchain that builds rustdoc JSON (`cargo +TOOLCHAIN doc`).
    #[arg(long, default_value = "nightly")]
    pub toolchain: String,
}

pub fn run(root: &Path, args: &ApiArgs) -> anyhow::Result<Outcome> {
    let workspace = Workspace::load(root)?;
    let crates = workspace.api_crates();
    anyhow::ensure!(!crates.is_empty(), "no library crates under crates/");
    let doc_dir = build_rustdoc_json(&workspace, &crates, &args.toolchain)?;

    let mut listings = BTreeMap::new();
    for package in &crates {
        let lib = package
            .lib_name()
            .with_context(|| format!("{} has no library target", package.name))?;
        let json = doc_dir.join(format!("{lib}.json"));
        let items = public_items(&json)?;
        listings.insert(package.name.clone(), render_listing(&package.name, &items));
    }

    let api_dir = workspace.workspace_root.join(API_DIR);
    let committed = read_committed(&api_dir)?;
    let forbidden: Vec<(String, String)> = listings
        .iter()
        .flat_map(|(name, text)| {
            forbidden_lines(text)
                .into_iter()
                .map(move |line| (name.clone(), line))
        })
        .collect();

    let mut failed = false;
    if args.bless {
        bless(&api_dir, &listings, &committed)?;
    } else {
        let report = compare(&listings, &committed);
        if report.is_empty() {
            println!(
                "api: {} listing(s) up to date ({})",
                listings.len(),
                listings.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        } else {
            eprint!("{report}");
            eprintln!(
                "api: the public API changed. If that is intended, run `{BLESS}` and commit \
                 the api/ changes with the code."
            );
            failed = true;
        }
    }
    if !forbidden.is_empty() {
        eprintln!(
            "api: {} public item(s) name the ORM or an entity module; a context's API must \
             speak in plain domain types (keep the ORM behind the service, map errors to the \
             context's own error type):",
            forbidden.len()
        );
        for (name, line) in &forbidden {
            eprintln!("  api/{name}.txt: {line}");
        }
        failed = true;
    }
    Ok(if failed {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

/// Runs one `cargo +<toolchain> doc` over all `crates` and returns the directory holding
/// `<crate>.json`.
fn build_rustdoc_json(
    workspace: &Workspace,
    crates: &[&Package],
    toolchain: &str,
) -> anyhow::Result<PathBuf> {
    let target_dir = workspace.target_directory.join("nightly-doc");
    let mut command = Command::new("cargo");
    command
        .arg(format!("+{toolchain}"))
        .args(["doc", "--no-deps", "--lib", "--quiet", "--target-dir"])
        .arg(&target_dir);
    for package in crates {
        command.args(["--package", &package.name]);
    }
    // Only the rustdoc runs of the listed crates see these flags (`--no-deps`); the outer
    // cargo's toolchain choice must not leak into the nightly one.
    command
        .env(
            "RUSTDOCFLAGS",
            "-Z unstable-options --output-format json --document-hidden-items",
        )
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("RUSTC_WRAPPER")
        .current_dir(&workspace.workspace_root);
    eprintln!(
        "api: building rustdoc JSON with `cargo +{toolchain} doc` into {}",
        target_dir.display()
    );
    let status = command.status().with_context(|| {
        format!("cannot run `cargo +{toolchain} doc`; is the {toolchain} toolchain installed?")
    })?;
    anyhow::ensure!(
        status.success(),
        "`cargo +{toolchain} doc` failed ({status}); rustdoc JSON needs the {toolchain} \
         toolchain (`rustup toolchain list`)"
    );
    Ok(target_dir.join("doc"))
}

/// The public items of one crate's rustdoc JSON, rendered one per line in public-api's order.
fn public_items(json: &Path) -> anyhow::Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Header {
        format_version: u32,
    }
    let text =
        fs::read_to_string(json).with_context(|| format!("cannot read {}", json.display()))?;
    // Read the version alone first: a format mismatch otherwise surfaces as an obscure
    // "missing field" error deep inside the document.
    let header: Header = serde_json::from_str(&text)
        .with_context(|| format!("{} is not rustdoc JSON", json.display()))?;
    anyhow::ensure!(
        header.format_version == rustdoc_types::FORMAT_VERSION,
        "{} is rustdoc JSON format {}, but xtask reads format {} (public-api / rustdoc-types in \
         xtask/Cargo.toml). Either use a nightly that emits format {} (`cargo xtask api \
         --toolchain nightly-YYYY-MM-DD`), or bump public-api and rustdoc-types to the \
         versions that read format {} and re-bless.",
        json.display(),
        header.format_version,
        rustdoc_types::FORMAT_VERSION,
        rustdoc_types::FORMAT_VERSION,
        header.format_version,
    );
    let api = public_api::Builder::from_rustdoc_json(json)
        .omit_blanket_impls(true)
        .build()
        .with_context(|| format!("cannot read the public API from {}", json.display()))?;
    Ok(api
        .items()
        .map(ToString::to_string)
        .filter(|line| !is_toolchain_internal(line))
        .collect())
}

/// Whether a rendered item is compiler plumbing rather than this crate's API (see
/// [`TOOLCHAIN_INTERNAL_TRAITS`]).
pub fn is_toolchain_internal(line: &str) -> bool {
    let internal_impl = line.starts_with("impl")
        && TOOLCHAIN_INTERNAL_TRAITS.iter().any(|name| {
            line.contains(&format!(" {name} for ")) || line.contains(&format!("!{name} for "))
        });
    let internal_method = line.starts_with("pub fn ")
        && TOOLCHAIN_INTERNAL_METHODS
            .iter()
            .any(|name| line.contains(&format!("::{name}(")));
    internal_impl || internal_method
}

/// The text of `api/<name>.txt`.
pub fn render_listing(name: &str, items: &[String]) -> String {
    let mut text = format!(
        "# The public API of `{name}` (default features), one item per line.\n\
         # Generated by `{BLESS}`; `cargo xtask api` fails when it differs from the code.\n"
    );
    for item in items {
        text.push_str(item);
        text.push('\n');
    }
    text
}

/// Every `api/*.txt`, keyed by crate name.
fn read_committed(api_dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut committed = BTreeMap::new();
    if !api_dir.is_dir() {
        return Ok(committed);
    }
    for entry in fs::read_dir(api_dir).with_context(|| format!("cannot list {API_DIR}/"))? {
        let path = entry
            .with_context(|| format!("cannot list {API_DIR}/"))?
            .path();
        if path.extension().is_some_and(|ext| ext == "txt")
            && let Some(stem) = path.file_stem()
        {
            let text = fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            committed.insert(stem.to_string_lossy().into_owned(), text);
        }
    }
    Ok(committed)
}

fn bless(
    api_dir: &Path,
    listings: &BTreeMap<String, String>,
    committed: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    fs::create_dir_all(api_dir).with_context(|| format!("cannot create {API_DIR}/"))?;
    for (name, text) in listings {
        let path = api_dir.join(format!("{name}.txt"));
        if committed.get(name) == Some(text) {
            println!("api: {API_DIR}/{name}.txt unchanged");
            continue;
        }
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("api: wrote {API_DIR}/{name}.txt");
    }
    for name in committed
        .keys()
        .filter(|name| !listings.contains_key(*name))
    {
        let path = api_dir.join(format!("{name}.txt"));
        fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        println!("api: removed {API_DIR}/{name}.txt (no such crate any more)");
    }
    Ok(())
}

/// A readable report of every difference between the generated and the committed listings;
/// empty when they agree.
pub fn compare(
    generated: &BTreeMap<String, String>,
    committed: &BTreeMap<String, String>,
) -> String {
    let mut report = String::new();
    for (name, text) in generated {
        let file = format!("{API_DIR}/{name}.txt");
        match committed.get(name) {
            None => {
                let _ = writeln!(
                    report,
                    "{file} is missing: `{name}` has a public API that is not committed yet"
                );
            }
            Some(old) if old == text => {}
            Some(old) => {
                let old: Vec<&str> = old.lines().collect();
                let new: Vec<&str> = text.lines().collect();
                let _ = writeln!(report, "--- {file} (committed)\n+++ {file} (from the code)");
                for change in diff_lines(&old, &new) {
                    let _ = writeln!(report, "{change}");
                }
            }
        }
    }
    for name in committed
        .keys()
        .filter(|name| !generated.contains_key(*name))
    {
        let _ = writeln!(
            report,
            "{API_DIR}/{name}.txt is stale: no library crate `{name}` under crates/"
        );
    }
    report
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    Removed(&'a str),
    Added(&'a str),
}

impl std::fmt::Display for Change<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Removed(line) => write!(f, "-{line}"),
            Change::Added(line) => write!(f, "+{line}"),
        }
    }
}

/// The lines removed from `old` and added in `new`, in file order (a longest-common-
/// subsequence diff; unchanged lines are left out, since every line names its item in full).
pub fn diff_lines<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<Change<'a>> {
    // lcs[i][j]: length of the longest common subsequence of old[i..] and new[j..].
    let mut lcs = vec![vec![0u32; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut changes = Vec::new();
    while i < old.len() && j < new.len() {
        if old[i] == new[j] {
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            changes.push(Change::Removed(old[i]));
            i += 1;
        } else {
            changes.push(Change::Added(new[j]));
            j += 1;
        }
    }
    changes.extend(old[i..].iter().map(|line| Change::Removed(line)));
    changes.extend(new[j..].iter().map(|line| Change::Added(line)));
    changes
}

/// The lines of a listing that name a forbidden crate or an entity module.
pub fn forbidden_lines(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter(|line| !line.starts_with("# "))
        .filter(|line| names_forbidden(line))
        .map(str::to_owned)
        .collect()
}

/// Whether one rendered item names a forbidden crate (or a sub-crate of one) or passes through
/// an entity module.
pub fn names_forbidden(line: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut rest = line;
    let mut offset = 0;
    while let Some(start) = rest.find(is_ident) {
        let word_start = offset + start;
        let tail = &rest[start..];
        let len = tail.find(|c: char| !is_ident(c)).unwrap_or(tail.len());
        let word = &tail[..len];
        let after = &line[word_start + len..];
        let before = &line[..word_start];

        let crate_name = FORBIDDEN_CRATES
            .iter()
            .any(|name| word == *name || word.starts_with(&format!("{name}_")));
        // `users::entity::Model`, or the module itself: `pub mod users::entity`.
        let entity_module = ENTITY_MODULES.contains(&word)
            && (after.starts_with("::")
                || (before.ends_with("::") && line.trim_start().starts_with("pub mod ")));
        if crate_name || entity_module {
            return true;
        }
        offset = word_start + len;
        rest = &line[offset..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orm_names_are_forbidden_wherever_they_appear() {
        for line in [
            "pub fn persistence::Db::orm(&self) -> &sea_orm::database::db_connection::DatabaseConnection",
            "impl core::convert::From<sea_orm::error::DbErr> for users::UsersError",
            "pub fn users::Users::list_query_statement(&self) -> sea_query::backend::Statement",
            "pub fn orders::x() -> sqlx_core::error::Error",
            "pub fn orders::y(&sqlx::PgPool)",
            "pub use persistence::sea_orm_migration",
            "pub struct users::entity::Model",
            "pub mod users::entity",
            "pub mod identity::entities",
            "pub fn users::f() -> users::entities::user::Model",
        ] {
            assert!(names_forbidden(line), "{line}");
        }
    }

    #[test]
    fn lookalikes_pass() {
        for line in [
            "pub struct users::User",
            "pub fn users::Users::register(&self, users::Email) -> users::UsersResult",
            "pub fn orders::Orders::entity(&self) -> u32",
            "pub struct orders::Entity",
            "pub fn users::seaorm_free() -> bool",
            "pub mod users::entity_helpers",
            "pub fn persistence::Db::sqlxish(&self)",
            "pub fn persistence::Tx::my_sqlx(&self)",
            "pub enum persistence::StoreError",
        ] {
            assert!(!names_forbidden(line), "{line}");
        }
    }

    #[test]
    fn toolchain_plumbing_is_left_out_and_stable_auto_traits_stay() {
        for line in [
            "impl core::marker::Freeze for users::User",
            "impl core::marker::UnsafeUnpin for users::User",
            "impl<T> core::marker::UnsafeUnpin for users::Page<T> where T: core::marker::UnsafeUnpin",
            "impl !core::marker::Freeze for persistence::Db",
            "impl core::marker::StructuralPartialEq for users::UserId",
            "impl core::clone::TrivialClone for users::UserId",
            "pub fn users::UserId::assert_fields_are_eq(&self)",
            "pub fn users::UserId::assert_receiver_is_total_eq(&self)",
        ] {
            assert!(is_toolchain_internal(line), "{line}");
        }
        for line in [
            "impl core::marker::Send for users::User",
            "impl !core::panic::unwind_safe::UnwindSafe for users::UsersError",
            "impl core::marker::Unpin for users::User",
            "impl core::clone::Clone for users::UserId",
            "impl core::cmp::PartialEq for users::UserId",
            "pub fn users::UserId::eq(&self, &users::UserId) -> bool",
            "pub struct users::Freeze",
            "pub fn users::Users::assert_fields_are_eq_but_ours()",
        ] {
            assert!(!is_toolchain_internal(line), "{line}");
        }
    }

    #[test]
    fn the_header_is_not_scanned_but_every_item_is() {
        let listing = render_listing(
            "users",
            &[
                "pub struct users::User".to_owned(),
                "impl core::convert::From<sea_orm::error::DbErr> for users::UsersError".to_owned(),
            ],
        );
        assert!(listing.starts_with("# The public API of `users`"));
        assert!(listing.ends_with("for users::UsersError\n"));
        assert_eq!(
            forbidden_lines(&listing),
            ["impl core::convert::From<sea_orm::error::DbErr> for users::UsersError"]
        );
    }

    #[test]
    fn diffs_show_only_what_changed_in_file_order() {
        let old = ["a", "b", "c", "d"];
        let new = ["a", "c", "c2", "d", "e"];
        assert_eq!(
            diff_lines(&old, &new),
            [
                Change::Removed("b"),
                Change::Added("c2"),
                Change::Added("e")
            ]
        );
        assert!(diff_lines(&old, &old).is_empty());
        assert_eq!(diff_lines(&[], &["x"]), [Change::Added("x")]);
        assert_eq!(diff_lines(&["x"], &[]), [Change::Removed("x")]);
        // A changed signature is one line out, one line in.
        assert_eq!(
            diff_lines(&["pub fn a::f(u32)"], &["pub fn a::f(u64)"])
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["-pub fn a::f(u32)", "+pub fn a::f(u64)"]
        );
    }

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn compare_reports_changed_missing_and_stale_listings() {
        let generated = map(&[
            ("orders", "pub fn orders::f(u64)\n"),
            ("users", "pub struct users::User\n"),
            ("identity", "pub struct identity::Role\n"),
        ]);
        let committed = map(&[
            ("orders", "pub fn orders::f(u32)\n"),
            ("users", "pub struct users::User\n"),
            ("billing", "pub struct billing::Invoice\n"),
        ]);
        let report = compare(&generated, &committed);
        assert_eq!(
            report,
            "api/identity.txt is missing: `identity` has a public API that is not committed yet\n\
             --- api/orders.txt (committed)\n\
             +++ api/orders.txt (from the code)\n\
             -pub fn orders::f(u32)\n\
             +pub fn orders::f(u64)\n\
             api/billing.txt is stale: no library crate `billing` under crates/\n"
        );
        assert!(compare(&generated, &generated).is_empty());
    }

    #[test]
    fn bless_writes_changed_listings_and_removes_stale_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = dir.path().join("api");
        fs::create_dir_all(&api).expect("mkdir");
        fs::write(api.join("billing.txt"), "old\n").expect("write");
        fs::write(api.join("users.txt"), "same\n").expect("write");
        let committed = read_committed(&api).expect("read");
        let generated = map(&[("users", "same\n"), ("orders", "new\n")]);
        bless(&api, &generated, &committed).expect("bless");
        assert_eq!(read_committed(&api).expect("read"), generated);
        assert!(compare(&generated, &read_committed(&api).expect("read")).is_empty());
    }
}
