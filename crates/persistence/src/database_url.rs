//! Reading and editing database URLs, all through one parser (`url`), so that a password with
//! an `@` in it or a query string is handled the same everywhere.

use url::Url;

use crate::StoreError;

/// The same PostgreSQL server and credentials with another database name (query kept).
pub fn with_database(url: &str, database: &str) -> Result<String, StoreError> {
    let mut parsed = Url::parse(url)
        .map_err(|e| StoreError::other(format!("not a database URL ({e}): {}", redact(url))))?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.into())
}

/// The URL with its password replaced by `***`, fit for a log line or an error message. A URL
/// that does not parse is left as is unless it could hold a password, which is then hidden
/// whole.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() && parsed.set_password(Some("***")).is_ok() {
                return parsed.into();
            }
            url.to_owned()
        }
        Err(_) if url.contains('@') => "<a database URL that does not parse>".to_owned(),
        Err(_) => url.to_owned(),
    }
}

/// Whether a PostgreSQL URL chooses its TLS mode itself (`?sslmode=...`).
pub(crate) fn names_ssl_mode(url: &str) -> bool {
    Url::parse(url).is_ok_and(|parsed| parsed.query_pairs().any(|(key, _)| key == "sslmode"))
}

/// The file path of a `sqlite:` URL, if it names a file (not `:memory:`). `sqlite://data/app.db`
/// means the relative path `data/app.db`, which a URL parser would read as host `data`, so the
/// path is taken textually after the scheme.
pub fn sqlite_file_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_database_name_is_replaced() {
        let replaced = |url, name| with_database(url, name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            replaced("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            replaced("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(replaced("postgres://u@h", "b"), "postgres://u@h/b");
        assert!(with_database("not a url", "b").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cr@t@db:5432/orders?sslmode=require"),
            "postgres://app:***@db:5432/orders?sslmode=require"
        );
        assert_eq!(
            redact("postgres://app@db/orders"),
            "postgres://app@db/orders"
        );
        assert_eq!(redact("sqlite://data/app.db"), "sqlite://data/app.db");
        assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
        assert!(!redact("postgres://app:pw@[bad/orders").contains("pw"));
    }

    #[test]
    fn sqlite_path_strips_scheme_and_query() {
        assert_eq!(
            sqlite_file_path("sqlite://data/app.db?mode=rwc"),
            Some("data/app.db")
        );
        assert_eq!(sqlite_file_path("sqlite:/tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_file_path("sqlite::memory:"), None);
    }

    #[test]
    fn ssl_mode_is_read_from_the_query() {
        assert!(names_ssl_mode("postgres://u@h/db?sslmode=require"));
        assert!(names_ssl_mode(
            "postgres://u@h/db?application_name=x&sslmode=disable"
        ));
        assert!(!names_ssl_mode("postgres://u@h/db"));
        assert!(!names_ssl_mode(
            "postgres://u@h/db?application_name=sslmode"
        ));
    }
}
