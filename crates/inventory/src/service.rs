use std::collections::{BTreeMap, HashMap};

use persistence::{Db, Faults, Outbox, StoreError, Tx, new_id, now_utc};
use persistence_orm::{FromOrm, Orm};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait as _, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::entity::{stock, stock_adjustments, stock_reservations};
use crate::{
    Adjustment, Delta, Holder, InventoryError, Reason, Shortage, Sku, Stock, StockEvent, StockLine,
    faults,
};

/// The inventory context's public service. Cheap to clone.
///
/// Reservations, releases and sales are steps of the order's transaction (they take the
/// caller's [`Tx`]); an adjustment stands alone. Every statement that changes stock rows first
/// locks them in sku order (`SELECT … ORDER BY sku FOR UPDATE` on PostgreSQL; SQLite has one
/// writer at a time), so two orders over the same skus in different line order wait for each
/// other instead of deadlocking.
#[derive(Debug, Clone)]
pub struct Inventory {
    db: Db,
    events: Outbox<StockEvent>,
    faults: Faults,
}

impl Inventory {
    /// A service over the given database, appending its events to `events` (whose encoder the
    /// app supplies).
    pub fn new(db: Db, events: Outbox<StockEvent>) -> Self {
        Self {
            db,
            events,
            faults: Faults::default(),
        }
    }

    /// The same service checking these fault points (tests arm them; see [`crate::faults`]).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Starts keeping stock for `sku` (nothing on hand) as one step of the caller's
    /// transaction; a sku already kept is left as it is.
    #[tracing::instrument(name = "inventory.track_in", skip_all)]
    pub async fn track_in(&self, tx: &Tx, sku: &Sku) -> Result<Stock, InventoryError> {
        let now = now_utc();
        stock::Entity::insert(stock::ActiveModel {
            sku: Set(sku.as_str().to_owned()),
            on_hand: Set(0),
            reserved: Set(0),
            version: Set(1),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(stock::Column::Sku)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(tx.orm())
        .await
        .map_err(StoreError::from_orm)?;
        let row = stock::Entity::find_by_id(sku.as_str())
            .one(tx.orm())
            .await
            .map_err(StoreError::from_orm)?
            .ok_or_else(|| StoreError::other("a stock row vanished right after its insert"))?;
        Ok(to_stock(row))
    }

    /// The stock of one sku.
    #[tracing::instrument(name = "inventory.get", skip_all)]
    pub async fn get(&self, sku: &Sku) -> Result<Stock, InventoryError> {
        stock::Entity::find_by_id(sku.as_str())
            .one(self.db.orm())
            .await
            .map_err(StoreError::from_orm)?
            .map(to_stock)
            .ok_or_else(|| InventoryError::NotFound(sku.clone()))
    }

    /// Units available of each of `skus`, in one statement whatever their number; a sku
    /// without stock is absent from the answer (nothing is available).
    #[tracing::instrument(name = "inventory.available", skip_all)]
    pub async fn available(&self, skus: &[&str]) -> Result<HashMap<String, i64>, InventoryError> {
        if skus.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = stock::Entity::find()
            .select_only()
            .column(stock::Column::Sku)
            .column(stock::Column::OnHand)
            .column(stock::Column::Reserved)
            .filter(stock::Column::Sku.is_in(skus.iter().copied()))
            .into_tuple::<(String, i64, i64)>()
            .all(self.db.orm())
            .await
            .map_err(StoreError::from_orm)?;
        Ok(rows
            .into_iter()
            .map(|(sku, on_hand, reserved)| (sku, on_hand - reserved))
            .collect())
    }

    /// Changes on hand by `delta` for `reason`, in one transaction: the stock row (never below
    /// what is reserved, never below zero), its ledger row and `stock.adjusted`. With
    /// `expected_version`, only if the caller's copy is current.
    #[tracing::instrument(name = "inventory.adjust", skip_all)]
    pub async fn adjust(
        &self,
        sku: &Sku,
        delta: Delta,
        reason: Reason,
        expected_version: Option<i64>,
    ) -> Result<(Stock, Adjustment), InventoryError> {
        let tx = self.db.begin().await?;
        let now = now_utc();
        let on_hand = Expr::col(stock::Column::OnHand).add(delta.get());
        let mut update = stock::Entity::update_many()
            .col_expr(stock::Column::OnHand, on_hand.clone())
            .col_expr(
                stock::Column::Version,
                Expr::col(stock::Column::Version).add(1),
            )
            .col_expr(stock::Column::UpdatedAt, Expr::value(now))
            .filter(stock::Column::Sku.eq(sku.as_str()))
            .filter(on_hand.gte(Expr::col(stock::Column::Reserved)));
        if let Some(expected) = expected_version {
            update = update.filter(stock::Column::Version.eq(expected));
        }
        let updated = update
            .exec_with_returning(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        let Some(row) = updated.into_iter().next() else {
            let current = stock::Entity::find_by_id(sku.as_str())
                .one(tx.orm())
                .await
                .map_err(StoreError::from_orm)?
                .ok_or_else(|| InventoryError::NotFound(sku.clone()))?;
            return Err(match expected_version {
                Some(expected) if expected != current.version => InventoryError::VersionConflict {
                    expected,
                    current: current.version,
                },
                _ => InventoryError::BelowReserved {
                    on_hand: current.on_hand.saturating_add(delta.get()),
                    reserved: current.reserved,
                },
            });
        };
        self.faults.check(faults::ADJUST_AFTER_STOCK_WRITE)?;
        let adjustment = Adjustment {
            id: new_id(),
            delta: delta.get(),
            reason,
            created_at: now,
        };
        stock_adjustments::Entity::insert(stock_adjustments::ActiveModel {
            id: Set(adjustment.id),
            sku: Set(sku.as_str().to_owned()),
            delta: Set(adjustment.delta),
            reason: Set(adjustment.reason.as_str().to_owned()),
            created_at: Set(now),
        })
        .exec_without_returning(tx.orm())
        .await
        .map_err(StoreError::from_orm)?;
        self.faults.check(faults::ADJUST_AFTER_LEDGER_WRITE)?;
        let stock = to_stock(row);
        self.events
            .append(
                &tx,
                &StockEvent::Adjusted {
                    stock: stock.clone(),
                    adjustment: adjustment.clone(),
                },
            )
            .await?;
        tx.commit().await?;
        Ok((stock, adjustment))
    }

    /// Reserves every line for `holder` as one step of the caller's transaction, or nothing:
    /// when any line wants more than is available, [`InventoryError::InsufficientStock`] names
    /// every short line and nothing is written. Two statements whatever the number of lines:
    /// one `UPDATE` of all the stock rows (locked in sku order), one multi-row insert of the
    /// reservations. Naming short lines takes a few more, on the refusal's path only.
    #[tracing::instrument(name = "inventory.reserve_in", skip_all, fields(lines = lines.len()))]
    pub async fn reserve_in(
        &self,
        tx: &Tx,
        holder: Holder,
        lines: &[StockLine],
    ) -> Result<(), InventoryError> {
        self.reserve_many_in(tx, &[(holder, lines.to_vec())]).await
    }

    /// [`Inventory::reserve_in`] for many holders at once (a bulk load), with the same two
    /// statements; refused as a whole when any line of any holder is short (the shortages
    /// are summed over the batch).
    #[tracing::instrument(name = "inventory.reserve_many_in", skip_all, fields(holders = reservations.len()))]
    pub async fn reserve_many_in(
        &self,
        tx: &Tx,
        reservations: &[(Holder, Vec<StockLine>)],
    ) -> Result<(), InventoryError> {
        let mut wanted: BTreeMap<&str, i64> = BTreeMap::new();
        let mut rows = Vec::new();
        for (holder, lines) in reservations {
            let mut per_sku: BTreeMap<&str, i64> = BTreeMap::new();
            for line in lines {
                *per_sku.entry(line.sku.as_str()).or_default() += i64::from(line.quantity.get());
            }
            for (sku, quantity) in per_sku {
                *wanted.entry(sku).or_default() += quantity;
                rows.push(stock_reservations::ActiveModel {
                    holder: Set(holder.as_uuid()),
                    sku: Set(sku.to_owned()),
                    quantity: Set(quantity),
                });
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let reserved = if wanted.len() * 2 < MAX_PARAMETERS {
            reserve_where_available(tx, &wanted).await?
        } else {
            Vec::new()
        };
        if reserved.len() != wanted.len() {
            // A line is short (or the batch is too large for one statement): give back what
            // the statement did reserve, then name the short lines from the rows as locked.
            let partial: BTreeMap<&str, i64> = reserved
                .iter()
                .filter_map(|sku| wanted.get_key_value(sku.as_str()))
                .map(|(&sku, &units)| (sku, units))
                .collect();
            change_stock(tx, &partial, Change::Release).await?;
            let locked = lock_in_sku_order(tx, wanted.keys().copied()).await?;
            let shortages = shortages(&wanted, &locked);
            if !shortages.is_empty() {
                return Err(InventoryError::InsufficientStock(shortages));
            }
            change_stock(tx, &wanted, Change::Reserve).await?;
        }
        for chunk in in_chunks(rows, MAX_PARAMETERS / RESERVATION_COLUMNS) {
            stock_reservations::Entity::insert_many(chunk)
                .exec_without_returning(tx.orm())
                .await
                .map_err(StoreError::from_orm)?;
        }
        Ok(())
    }

    /// Releases every reservation of `holders` (their orders were cancelled) as one step of the
    /// caller's transaction: the units become available again. Holders without reservations
    /// are fine (orders placed before the inventory existed). Three statements whatever the
    /// number of holders.
    #[tracing::instrument(name = "inventory.release_in", skip_all, fields(holders = holders.len()))]
    pub async fn release_in(&self, tx: &Tx, holders: &[Holder]) -> Result<(), InventoryError> {
        let released = take_reservations(tx, holders).await?;
        change_stock(tx, &borrowed(&released), Change::Release).await
    }

    /// Turns the reservations of `holder` into a sale (its order shipped) as one step of the
    /// caller's transaction: on hand and reserved both drop by the reserved units.
    #[tracing::instrument(name = "inventory.sell_in", skip_all)]
    pub async fn sell_in(&self, tx: &Tx, holder: Holder) -> Result<(), InventoryError> {
        let sold = take_reservations(tx, &[holder]).await?;
        change_stock(tx, &borrowed(&sold), Change::Sell).await
    }
}

/// The most bind parameters one bulk statement carries: under SQLite's limit (32,766) and
/// PostgreSQL's (65,535).
const MAX_PARAMETERS: usize = 30_000;
/// Bind parameters per row of `stock_reservations`.
const RESERVATION_COLUMNS: usize = 3;

/// What a change does to the stock rows.
#[derive(Clone, Copy)]
enum Change {
    Reserve,
    Release,
    Sell,
}

/// Locks the stock rows of `skus` for the rest of `tx`, in sku order; absent skus have none.
/// Reserves, in one statement, every sku of `wanted` that has the units available; returns
/// the skus it reserved. On PostgreSQL the rows are first locked in sku order, in the same
/// statement, so that orders over the same skus in any line order cannot deadlock; SQLite has
/// one writer at a time. Availability is checked row by row in the `UPDATE`'s own condition,
/// which PostgreSQL re-evaluates on the latest version of a row a concurrent transaction
/// changed: values read by the locking step are not relied on.
async fn reserve_where_available(
    tx: &Tx,
    wanted: &BTreeMap<&str, i64>,
) -> Result<Vec<String>, InventoryError> {
    let postgres = tx.backend() == persistence::Backend::Postgres;
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(wanted.len() * 2 + 1);
    let mut rows = Vec::with_capacity(wanted.len());
    for (&sku, &units) in wanted {
        let n = values.len();
        rows.push(if postgres {
            format!("(${}, ${}::bigint)", n + 1, n + 2)
        } else {
            "(?, ?)".to_owned()
        });
        values.extend([sku.into(), units.into()]);
    }
    values.push(now_utc().into());
    let rows = rows.join(", ");
    let update = |now: &str| {
        format!(
            "UPDATE stock SET reserved = stock.reserved + wanted.units, \
             version = stock.version + 1, updated_at = {now} FROM wanted \
             WHERE stock.sku = wanted.sku AND stock.on_hand - stock.reserved >= wanted.units"
        )
    };
    let (engine, sql) = if postgres {
        let update = update(&format!("${}", values.len()));
        (
            sea_orm::DbBackend::Postgres,
            format!(
                "WITH wanted (sku, units) AS (VALUES {rows}), \
                 locked AS (SELECT s.sku FROM stock s WHERE s.sku IN (SELECT sku FROM wanted) \
                 ORDER BY s.sku FOR UPDATE) \
                 {update} AND (SELECT COUNT(*) FROM locked) = {n} RETURNING stock.sku",
                n = wanted.len()
            ),
        )
    } else {
        let update = update("?");
        (
            sea_orm::DbBackend::Sqlite,
            format!("WITH wanted (sku, units) AS (VALUES {rows}) {update} RETURNING stock.sku"),
        )
    };
    let updated = tx
        .orm()
        .query_all_raw(sea_orm::Statement::from_sql_and_values(engine, sql, values))
        .await
        .map_err(StoreError::from_orm)?;
    updated
        .iter()
        .map(|row| row.try_get::<String>("", "sku"))
        .collect::<Result<_, _>>()
        .map_err(|err| StoreError::from_orm(err).into())
}

/// The lines of `wanted` that the `locked` rows cannot cover.
fn shortages(
    wanted: &BTreeMap<&str, i64>,
    locked: &HashMap<String, stock::Model>,
) -> Vec<Shortage> {
    wanted
        .iter()
        .filter_map(|(&sku, &requested)| {
            let available = locked.get(sku).map_or(0, |row| row.on_hand - row.reserved);
            (available < requested).then(|| Shortage {
                sku: Sku::from_stored(sku.to_owned()),
                requested,
                available,
            })
        })
        .collect()
}

async fn lock_in_sku_order<'a>(
    tx: &Tx,
    skus: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, stock::Model>, InventoryError> {
    let skus: Vec<&str> = skus.into_iter().collect();
    let mut locked = HashMap::with_capacity(skus.len());
    for chunk in skus.chunks(MAX_PARAMETERS) {
        let rows = stock::Entity::find()
            .filter(stock::Column::Sku.is_in(chunk.iter().copied()))
            .order_by_asc(stock::Column::Sku)
            .lock_exclusive()
            .all(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        locked.extend(rows.into_iter().map(|row| (row.sku.clone(), row)));
    }
    Ok(locked)
}

/// Applies `change` of the given units per sku: the rows locked in sku order, then one
/// `UPDATE … SET reserved = CASE sku WHEN … END` per chunk.
async fn change_stock(
    tx: &Tx,
    units: &BTreeMap<&str, i64>,
    change: Change,
) -> Result<(), InventoryError> {
    if units.is_empty() {
        return Ok(());
    }
    if !matches!(change, Change::Reserve) {
        // A reservation has already locked its rows while checking what is available.
        lock_in_sku_order(tx, units.keys().copied()).await?;
    }
    let units: Vec<(&str, i64)> = units.iter().map(|(&sku, &n)| (sku, n)).collect();
    for chunk in units.chunks(MAX_PARAMETERS / 4) {
        let mut reserved = CaseStatement::new();
        let mut on_hand = CaseStatement::new();
        for &(sku, n) in chunk {
            let by = match change {
                Change::Reserve => n,
                Change::Release | Change::Sell => -n,
            };
            reserved = reserved.case(
                stock::Column::Sku.eq(sku),
                Expr::col(stock::Column::Reserved).add(by),
            );
            on_hand = on_hand.case(
                stock::Column::Sku.eq(sku),
                Expr::col(stock::Column::OnHand).add(by),
            );
        }
        let mut update = stock::Entity::update_many()
            .col_expr(
                stock::Column::Reserved,
                reserved.finally(Expr::col(stock::Column::Reserved)).into(),
            )
            .col_expr(
                stock::Column::Version,
                Expr::col(stock::Column::Version).add(1),
            )
            .col_expr(stock::Column::UpdatedAt, Expr::value(now_utc()))
            .filter(stock::Column::Sku.is_in(chunk.iter().map(|&(sku, _)| sku)));
        if matches!(change, Change::Sell) {
            update = update.col_expr(
                stock::Column::OnHand,
                on_hand.finally(Expr::col(stock::Column::OnHand)).into(),
            );
        }
        update.exec(tx.orm()).await.map_err(StoreError::from_orm)?;
    }
    Ok(())
}

/// Deletes the reservations of `holders`; returns their units per sku.
async fn take_reservations(
    tx: &Tx,
    holders: &[Holder],
) -> Result<BTreeMap<String, i64>, InventoryError> {
    let mut units = BTreeMap::new();
    let ids: Vec<Uuid> = holders.iter().map(Holder::as_uuid).collect();
    for chunk in ids.chunks(MAX_PARAMETERS) {
        let rows = stock_reservations::Entity::delete_many()
            .filter(stock_reservations::Column::Holder.is_in(chunk.iter().copied()))
            .exec_with_returning(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        for row in rows {
            *units.entry(row.sku).or_default() += row.quantity;
        }
    }
    Ok(units)
}

fn borrowed(units: &BTreeMap<String, i64>) -> BTreeMap<&str, i64> {
    units.iter().map(|(sku, &n)| (sku.as_str(), n)).collect()
}

/// `items` in consecutive runs of at most `size` (at least one), moved, not copied.
fn in_chunks<T>(items: Vec<T>, size: usize) -> impl Iterator<Item = Vec<T>> {
    let size = size.max(1);
    let mut items = items.into_iter().peekable();
    std::iter::from_fn(move || {
        items.peek()?;
        Some(items.by_ref().take(size).collect())
    })
}

fn to_stock(row: stock::Model) -> Stock {
    Stock {
        sku: Sku::from_stored(row.sku),
        on_hand: row.on_hand,
        reserved: row.reserved,
        version: row.version,
        updated_at: row.updated_at,
    }
}
