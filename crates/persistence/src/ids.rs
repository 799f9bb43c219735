use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

/// A fresh UUID v7. Version 7 ids are ordered by creation time, so the primary key doubles as
/// the stable sort key for cursor pagination and inserts append to the right of the index.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// The current UTC time at microsecond precision: what PostgreSQL `timestamptz` stores, so a
/// value read back compares equal to the one written on both backends.
pub fn now_utc() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
