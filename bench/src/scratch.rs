//! A database of the bench's own, made for one run and removed after it: a temporary SQLite
//! file, or a `bench_<uuid>` PostgreSQL database created through the admin URL.

use uuid::Uuid;

/// The engine to measure.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Engine {
    Postgres,
    Sqlite,
}

/// A scratch database.
pub struct Scratch {
    url: String,
    kind: Kind,
}

enum Kind {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, name: String },
}

impl Scratch {
    /// Creates an empty database.
    pub async fn create(engine: Engine, admin_url: &str) -> anyhow::Result<Self> {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                Ok(Self {
                    url,
                    kind: Kind::Sqlite(dir),
                })
            }
            Engine::Postgres => {
                let name = format!("bench_{}", Uuid::now_v7().simple());
                admin(admin_url, &format!("CREATE DATABASE \"{name}\"")).await?;
                Ok(Self {
                    url: with_database(admin_url, &name),
                    kind: Kind::Postgres {
                        admin: admin_url.to_owned(),
                        name,
                    },
                })
            }
        }
    }

    /// The URL the service and the floor connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database (or deletes the file).
    pub async fn remove(self) -> anyhow::Result<()> {
        match self.kind {
            Kind::Sqlite(dir) => Ok(dir.close()?),
            Kind::Postgres { admin: url, name } => {
                admin(
                    &url,
                    &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                )
                .await
            }
        }
    }
}

async fn admin(url: &str, statement: &str) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// `url` with its database name replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "bench_1"),
            "postgres://postgres@127.0.0.1:5432/bench_1"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=require", "b"),
            "postgres://u@h/b?sslmode=require"
        );
        assert_eq!(with_database("postgres://u@h", "b"), "postgres://u@h/b");
    }
}
