//! Writing events: one `INSERT` per batch, positioned per engine (see the module docs).

use chrono::{DateTime, Utc};
use persistence_orm::{FromOrm, Orm};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait as _, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::entity::{event_positions, events};
use crate::{StoreError, Tx};

/// An event about to be written.
pub(super) struct NewRow {
    pub(super) id: Uuid,
    pub(super) event_type: &'static str,
    pub(super) subject: String,
    pub(super) time: DateTime<Utc>,
    pub(super) data: String,
}

/// PostgreSQL: the position from the sequence, `tx` from the transaction's id raised to the
/// subject's latest event (served by the `(subject, tx)` index), all in the one `INSERT`.
pub(super) async fn insert_postgres(tx: &Tx, rows: Vec<NewRow>) -> Result<(), StoreError> {
    let mut values = Vec::with_capacity(rows.len() * 5);
    let tuples: Vec<String> = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            // The rows' positions are drawn in the order of `VALUES`, the order given.
            let n = i * 5;
            values.extend([
                sea_orm::Value::from(row.id),
                row.event_type.into(),
                row.subject.into(),
                row.time.into(),
                row.data.into(),
            ]);
            format!(
                "(${}::uuid, ${}, ${}, ${}::timestamptz, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO events (id, position, tx, type, subject, time, data) \
         SELECT v.id, nextval('events_position_seq'), \
         GREATEST(pg_current_xact_id()::text::bigint, \
         COALESCE((SELECT MAX(e.tx) FROM events e WHERE e.subject = v.subject), 0)), \
         v.type, v.subject, v.time, v.data \
         FROM (VALUES {}) AS v (id, type, subject, time, data)",
        tuples.join(", ")
    );
    tx.orm()
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .map_err(StoreError::from_orm)?;
    Ok(())
}

/// SQLite: positions from the one-row counter, which only the single writer can hold.
pub(super) async fn insert_sqlite(tx: &Tx, rows: Vec<NewRow>) -> Result<(), StoreError> {
    let count = i64::try_from(rows.len()).map_err(|_| StoreError::other("too many events"))?;
    let counter = event_positions::Entity::update_many()
        .col_expr(
            event_positions::Column::Last,
            Expr::col(event_positions::Column::Last).add(count),
        )
        .filter(event_positions::Column::Id.eq(1))
        .exec_with_returning(tx.orm())
        .await
        .map_err(StoreError::from_orm)?;
    let last = counter
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::other("the event_positions counter row is missing"))?
        .last;
    let models = (last - count + 1..)
        .zip(rows)
        .map(|(position, row)| events::ActiveModel {
            id: Set(row.id),
            position: Set(position),
            tx: Set(0),
            event_type: Set(row.event_type.to_owned()),
            subject: Set(row.subject),
            time: Set(row.time),
            data: Set(row.data),
            published_at: Set(None),
        });
    events::Entity::insert_many(models)
        .exec_without_returning(tx.orm())
        .await
        .map_err(StoreError::from_orm)?;
    Ok(())
}
