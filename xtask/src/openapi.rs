//! `cargo xtask openapi`: writes the service's OpenAPI document to `openapi.json` at the
//! workspace root, where it is committed so that clients and reviewers see the contract
//! change in a diff. `--check` only compares, for CI; a black-box test also fails when the
//! committed file differs from what the service serves.

use std::path::Path;

use anyhow::Context as _;
use clap::Args;

use crate::Outcome;

/// Options of `cargo xtask openapi`.
#[derive(Debug, Args)]
pub struct OpenApiArgs {
    /// Exit 1 when the committed file is stale instead of rewriting it.
    #[arg(long)]
    check: bool,
}

pub fn run(root: &Path, args: &OpenApiArgs) -> anyhow::Result<Outcome> {
    let path = root.join("openapi.json");
    let fresh = app::openapi::document_text();
    if args.check {
        let committed = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        if committed == fresh {
            println!("openapi.json is up to date");
            return Ok(Outcome::Success);
        }
        eprintln!("openapi.json is stale: run `cargo xtask openapi` and commit the result");
        return Ok(Outcome::Failed);
    }
    std::fs::write(&path, fresh).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(Outcome::Success)
}
