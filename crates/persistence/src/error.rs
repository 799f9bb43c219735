use persistence_orm::{FromOrm, OrmError};
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// What went wrong at the storage layer, classified so that contexts can turn constraint
/// violations into domain errors (an `EmailTaken`, say) without parsing driver messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// A unique or primary-key constraint rejected the write.
    UniqueViolation,
    /// A foreign-key constraint rejected the write.
    ForeignKeyViolation,
    /// The database cannot serve the request now, though it might in a moment: no pooled
    /// connection within the acquire timeout, a connection that broke or cannot be opened, a
    /// statement or lock timeout, a server shutting down or out of connections (SQLSTATE
    /// 57014, 55P03, 08xxx, 53300, 57P01..03, 3D000), SQLite busy or locked past its busy
    /// timeout, no answer within the client-side deadline (a stalled link). Clients are told to retry (503), not that the server is broken.
    Unavailable,
    /// A fault point armed by a test fired (only with the `fault-injection` feature).
    InjectedFault,
    /// Anything else: a bug, a schema mismatch, an unreadable value. Never shown to clients.
    Other,
}

/// A storage failure. Its `Display` is deliberately terse; the driver's detail stays in
/// [`std::error::Error::source`] so that logs have it and HTTP bodies do not.
#[derive(Debug, thiserror::Error)]
#[error("storage error ({kind:?})")]
pub struct StoreError {
    kind: StoreErrorKind,
    #[source]
    source: Option<DbErr>,
    detail: Option<String>,
}

impl StoreError {
    /// The classification, for mapping constraint violations to domain errors.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// True when a unique constraint (or primary key) rejected the write.
    pub fn is_unique_violation(&self) -> bool {
        self.kind == StoreErrorKind::UniqueViolation
    }

    /// True when the database is out of reach or timed out, so that a retry may succeed.
    pub fn is_unavailable(&self) -> bool {
        self.kind == StoreErrorKind::Unavailable
    }

    /// An error that carries only a message, for invariants the database cannot express
    /// (a row that vanished mid-transaction, an unreadable stored value).
    pub fn other(detail: impl Into<String>) -> Self {
        Self {
            kind: StoreErrorKind::Other,
            source: None,
            detail: Some(detail.into()),
        }
    }

    /// A wait that ran out, with what it waited for.
    pub(crate) fn unavailable(detail: impl Into<String>) -> Self {
        Self {
            kind: StoreErrorKind::Unavailable,
            source: None,
            detail: Some(detail.into()),
        }
    }

    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    pub(crate) fn injected(point: &str) -> Self {
        Self {
            kind: StoreErrorKind::InjectedFault,
            source: None,
            detail: Some(format!("injected fault at {point}")),
        }
    }

    /// Full detail for logs: the driver message or the internal note. Never for clients.
    pub fn detail(&self) -> String {
        match (&self.source, &self.detail) {
            (Some(err), _) => err.to_string(),
            (None, Some(detail)) => detail.clone(),
            (None, None) => format!("{:?}", self.kind),
        }
    }
}

/// Context crates turn SeaORM errors into store errors with `.map_err(StoreError::from_orm)`;
/// the conversion is not a public `From`, so no SeaORM type shows in this crate's API.
impl FromOrm for StoreError {
    fn from_orm(err: impl Into<OrmError>) -> Self {
        let err: DbErr = err.into().into_inner();
        let kind = match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreErrorKind::UniqueViolation,
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => StoreErrorKind::ForeignKeyViolation,
            _ if is_unavailable(&err) => StoreErrorKind::Unavailable,
            _ => StoreErrorKind::Other,
        };
        Self {
            kind,
            source: Some(err),
            detail: None,
        }
    }
}

/// Whether `err` says the database is out of reach or too slow right now, from the error's
/// structure and codes (SQLSTATE, SQLite result codes), never from its message.
fn is_unavailable(err: &DbErr) -> bool {
    if persistence_orm::is_deadline_expired(err) {
        return true;
    }
    match err {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => sqlx_unavailable(e),
        _ => false,
    }
}

fn sqlx_unavailable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        // A connection that broke or cannot be set up: I/O, TLS, or a handshake or message cut
        // short (sqlx reports those as protocol errors). A new connection may well work.
        Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            if db
                .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                .is_some()
            {
                sqlite_code_unavailable(code)
            } else {
                sqlstate_unavailable(code)
            }
        }
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs that mean "not now" rather than "never": statement timeout or cancel
/// (57014), lock timeout (55P03), connection exceptions (class 08), too many connections
/// (53300), the server shutting down or starting (57P01, 57P02, 57P03), and the database
/// gone (3D000).
fn sqlstate_unavailable(code: &str) -> bool {
    matches!(
        code,
        "57014" | "55P03" | "53300" | "57P01" | "57P02" | "57P03" | "3D000"
    ) || code.starts_with("08")
}

/// SQLite (extended) result codes whose primary code is SQLITE_BUSY (5) or SQLITE_LOCKED (6):
/// another connection held the lock past the busy timeout.
fn sqlite_code_unavailable(code: &str) -> bool {
    code.parse::<u32>()
        .is_ok_and(|extended| matches!(extended & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_sqlstates_are_unavailable_and_others_are_not() {
        for code in [
            "57014", "55P03", "08006", "08001", "53300", "57P01", "57P03",
        ] {
            assert!(sqlstate_unavailable(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "22001", ""] {
            assert!(!sqlstate_unavailable(code), "{code}");
        }
    }

    #[test]
    fn sqlite_busy_and_locked_are_unavailable() {
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_TIMEOUT.
        for code in ["5", "6", "517", "773"] {
            assert!(sqlite_code_unavailable(code), "{code}");
        }
        // SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE, SQLITE_ERROR.
        for code in ["1555", "2067", "1", "x"] {
            assert!(!sqlite_code_unavailable(code), "{code}");
        }
    }

    #[test]
    fn pool_timeouts_and_broken_connections_are_unavailable() {
        let acquire = DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout);
        assert_eq!(
            StoreError::from_orm(acquire).kind(),
            StoreErrorKind::Unavailable
        );
        let reset =
            sea_orm::sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let broken = DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(reset)));
        assert!(StoreError::from_orm(broken).is_unavailable());
        let other = DbErr::Custom("no such column".to_owned());
        assert_eq!(StoreError::from_orm(other).kind(), StoreErrorKind::Other);
    }

    #[test]
    fn a_client_side_deadline_is_unavailable_and_told_by_type() {
        let expired = DbErr::from(persistence_orm::DeadlineExpired {
            after: std::time::Duration::from_millis(300),
        });
        assert!(persistence_orm::is_deadline_expired(&expired));
        assert!(StoreError::from_orm(expired).is_unavailable());
        // Another I/O time-out is a broken connection too, but not the deadline.
        let timed_out =
            sea_orm::sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::TimedOut));
        let timed_out = DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(timed_out)));
        assert!(!persistence_orm::is_deadline_expired(&timed_out));
    }
}
