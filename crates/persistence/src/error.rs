use persistence_orm::{FromOrm, OrmError};
use sea_orm::{DbErr, SqlErr};

/// What went wrong at the storage layer, classified so that contexts can turn constraint
/// violations into domain errors (an `EmailTaken`, say) without parsing driver messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// A unique or primary-key constraint rejected the write.
    UniqueViolation,
    /// A foreign-key constraint rejected the write.
    ForeignKeyViolation,
    /// A fault point armed by a test fired (only with the `fault-injection` feature).
    InjectedFault,
    /// Anything else: connectivity, syntax, timeouts. Never shown to clients.
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

    /// An error that carries only a message, for invariants the database cannot express
    /// (a row that vanished mid-transaction, an unreadable stored value).
    pub fn other(detail: impl Into<String>) -> Self {
        Self {
            kind: StoreErrorKind::Other,
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
            _ => StoreErrorKind::Other,
        };
        Self {
            kind,
            source: Some(err),
            detail: None,
        }
    }
}
