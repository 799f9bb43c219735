//! The floor: the statements the service sends for each workload, sent straight to the same
//! database through sqlx (no HTTP, no ORM), with the same pool size and the same workers.
//! Each engine gets the same code (a macro stamps it out per pool type): only the write locks
//! differ, as in the service (`FOR SHARE` on the customer and `FOR UPDATE` on the stock rows on
//! PostgreSQL; `BEGIN IMMEDIATE` on SQLite).

use std::collections::HashMap;

use chrono::Utc;
use sqlx::Row as _;
use uuid::Uuid;

/// A pool of the engine under test.
#[derive(Clone)]
pub enum Floor {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl Floor {
    /// Opens a pool of `size` connections, configured as the service configures its own.
    pub async fn connect(url: &str, size: u32) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
            let options = options
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(std::time::Duration::from_secs(10))
                .foreign_keys(true);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(size)
                .connect_with(options)
                .await?;
            Ok(Self::Sqlite(pool))
        } else {
            let options: sqlx::postgres::PgConnectOptions = url.parse()?;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(size)
                .connect_with(
                    options.options(persistence::POSTGRES_SESSION_SETTINGS.iter().copied()),
                )
                .await?;
            Ok(Self::Postgres(pool))
        }
    }

    /// A stored password hash (the seeded one), for the floor's sign-up inserts: the floor
    /// measures the SQL part of a sign-up, not argon2.
    pub async fn stored_hash(&self) -> anyhow::Result<String> {
        let sql = "SELECT password_hash FROM credentials LIMIT 1";
        Ok(match self {
            Self::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
            Self::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
        })
    }

    /// Authenticate, then read one order and its lines.
    pub async fn get_order(&self, digest: &[u8], order: Uuid) -> anyhow::Result<()> {
        match self {
            Self::Postgres(pool) => pg::get_order(pool, digest, order).await,
            Self::Sqlite(pool) => lite::get_order(pool, digest, order).await,
        }
    }

    /// Authenticate, then read a customer's first page of 20 orders and their lines.
    pub async fn list_orders(&self, digest: &[u8], customer: Uuid) -> anyhow::Result<()> {
        match self {
            Self::Postgres(pool) => pg::list_orders(pool, digest, customer).await,
            Self::Sqlite(pool) => lite::list_orders(pool, digest, customer).await,
        }
    }

    /// Authenticate, then place an order of `lines` (sku, quantity) in one transaction as the
    /// placement workflow does: the customer's standing, the catalog's EUR price of every line,
    /// the stock rows locked in sku order, one `UPDATE` reserving every line, the reservation
    /// rows, then the order, its lines and `order.placed`.
    pub async fn place_order(
        &self,
        digest: &[u8],
        customer: Uuid,
        lines: &[(String, i64)],
    ) -> anyhow::Result<()> {
        match self {
            Self::Postgres(pool) => pg::place_order(pool, digest, customer, lines).await,
            Self::Sqlite(pool) => lite::place_order(pool, digest, customer, lines).await,
        }
    }

    /// The hot-sku workload's floor: [`Floor::place_order`] of the hot order, the same three
    /// skus on every connection, so every placement queues for the same three stock rows.
    pub async fn place_hot_order(
        &self,
        digest: &[u8],
        customer: Uuid,
        hot: &[(String, i64)],
    ) -> anyhow::Result<()> {
        self.place_order(digest, customer, hot).await
    }

    /// The best-way floor of a placement: the same work as [`Floor::place_order`] (session,
    /// standing, prices, stock locked in sku order and reserved, the order, its lines, the
    /// reservations and `order.placed`) in the fewest round trips known, not in the service's
    /// statements. On PostgreSQL: the stock locked and reserved in one statement, and the order,
    /// its lines, the reservations and the outbox row (position from a plain sequence, `tx` the
    /// transaction id) in one more. On SQLite writers are serialised and there is no
    /// data-modifying `WITH`: the same-statements floor is already the best way there.
    pub async fn place_order_best(
        &self,
        digest: &[u8],
        customer: Uuid,
        lines: &[(String, i64)],
    ) -> anyhow::Result<()> {
        match self {
            Self::Postgres(pool) => best_pg::place_order(pool, digest, customer, lines).await,
            Self::Sqlite(pool) => lite::place_order(pool, digest, customer, lines).await,
        }
    }

    /// The pending orders of `customers` (customer, order), oldest first: what the
    /// transitions workload pays and cancels.
    pub async fn pending_orders(&self, customers: &[Uuid]) -> anyhow::Result<Vec<(Uuid, Uuid)>> {
        let sql = format!(
            "SELECT user_id, id FROM orders WHERE status = 'pending' AND user_id IN ({}) \
             ORDER BY id",
            placeholders(1, customers.len())
        );
        Ok(match self {
            Self::Postgres(pool) => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for customer in customers {
                    query = query.bind(*customer);
                }
                query.fetch_all(pool).await?
            }
            Self::Sqlite(pool) => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for customer in customers {
                    query = query.bind(*customer);
                }
                query.fetch_all(pool).await?
            }
        })
    }

    /// Authenticate, then move the customer's `order` to `paid` (from pending) or to
    /// `cancelled` (from paid), as the service's transition does: the conditional `UPDATE`, the
    /// order's lines for its event, the event, and for a cancel the release of its reservation
    /// (the reservation rows, the stock rows locked in sku order, one `UPDATE`).
    pub async fn transition(
        &self,
        digest: &[u8],
        customer: Uuid,
        order: Uuid,
        cancel: bool,
    ) -> anyhow::Result<()> {
        match self {
            Self::Postgres(pool) => pg::transition(pool, digest, customer, order, cancel).await,
            Self::Sqlite(pool) => lite::transition(pool, digest, customer, order, cancel).await,
        }
    }

    /// The best-way floor of [`Floor::transition`]: on PostgreSQL the whole transition (the
    /// move, the release, the event with the order's lines built in SQL) is one statement
    /// after the session lookup; on SQLite the same statements as the service.
    pub async fn transition_best(
        &self,
        digest: &[u8],
        customer: Uuid,
        order: Uuid,
        cancel: bool,
    ) -> anyhow::Result<()> {
        match self {
            Self::Postgres(pool) => {
                best_pg::transition(pool, digest, customer, order, cancel).await
            }
            Self::Sqlite(pool) => lite::transition(pool, digest, customer, order, cancel).await,
        }
    }

    /// The SQL part of a sign-up: the user and its credential in one transaction.
    pub async fn sign_up(&self, phc: &str) -> anyhow::Result<()> {
        match self {
            Self::Postgres(pool) => pg::sign_up(pool, phc).await,
            Self::Sqlite(pool) => lite::sign_up(pool, phc).await,
        }
    }

    /// Closes the pool.
    pub async fn close(self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

macro_rules! order_columns {
    () => {
        "id, user_id, status, currency, total_cents, version, created_at, updated_at"
    };
}

macro_rules! item_columns {
    () => {
        "order_id, line_no, sku, quantity, unit_price_cents"
    };
}

/// `$first, $first+1, ...`: `count` numbered placeholders.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, ..., $width), ($width+1, ...)`: `count` rows of `width` numbered placeholders.
fn rows(width: usize, count: usize) -> String {
    (0..count)
        .map(|row| format!("({})", placeholders(row * width + 1, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The price in `currency` of a stored price list (`EUR:1250,USD:1400`), as the catalog reads
/// it.
fn price_in(stored: &str, currency: &str) -> Option<i64> {
    stored.split(',').find_map(|entry| {
        let (code, cents) = entry.split_once(':')?;
        (code == currency).then(|| cents.parse().ok()).flatten()
    })
}

macro_rules! statements {
    ($module:ident, $pool:ty, $postgres:literal, $begin:literal, $share:literal, $update:literal) => {
        mod $module {
            use super::*;

            pub(super) async fn authenticate(pool: &$pool, digest: &[u8]) -> anyhow::Result<Uuid> {
                let row = sqlx::query(
                    "SELECT sessions.account_id, credentials.role FROM sessions \
                     INNER JOIN credentials ON sessions.account_id = credentials.account_id \
                     WHERE sessions.token_digest = $1 AND sessions.expires_at > $2 LIMIT 1",
                )
                .bind(digest)
                .bind(Utc::now())
                .fetch_optional(pool)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no session"))?;
                let _role: String = row.try_get(1)?;
                Ok(row.try_get(0)?)
            }

            fn read_order(row: &<$pool as PoolRow>::Row) -> anyhow::Result<()> {
                let _: (Uuid, Uuid, String, String, i64, i64) = (
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                    row.try_get(4)?,
                    row.try_get(5)?,
                );
                let _: (chrono::DateTime<Utc>, chrono::DateTime<Utc>) =
                    (row.try_get(6)?, row.try_get(7)?);
                Ok(())
            }

            fn read_item(row: &<$pool as PoolRow>::Row) -> anyhow::Result<()> {
                let _: (Uuid, i32, String, i64, i64) = (
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                    row.try_get(4)?,
                );
                Ok(())
            }

            /// The outbox's part of a change, as `persistence::outbox` writes it: on PostgreSQL
            /// one row, its position from the sequence and its `tx` from the transaction id
            /// raised to the subject's latest; on SQLite the position counter, then the row.
            async fn append_event(
                conn: &mut <$pool as PoolRow>::Connection,
                event_type: &str,
                subject: Uuid,
                data: &str,
            ) -> anyhow::Result<()> {
                let id = Uuid::now_v7();
                if $postgres {
                    sqlx::query(
                        "INSERT INTO events (id, position, tx, type, subject, time, data) \
                         SELECT $1, nextval('events_position_seq'), \
                         GREATEST(pg_current_xact_id()::text::bigint, \
                         COALESCE((SELECT MAX(e.tx) FROM events e WHERE e.subject = $3), 0)), \
                         $2, $3, $4, $5",
                    )
                    .bind(id)
                    .bind(event_type)
                    .bind(subject.to_string())
                    .bind(Utc::now())
                    .bind(data)
                    .execute(&mut *conn)
                    .await?;
                } else {
                    let (last,): (i64,) = sqlx::query_as(
                        "UPDATE event_positions SET last = last + 1 WHERE id = 1 RETURNING last",
                    )
                    .fetch_one(&mut *conn)
                    .await?;
                    sqlx::query(
                        "INSERT INTO events (id, position, tx, type, subject, time, data) \
                         VALUES ($1, $2, 0, $3, $4, $5, $6)",
                    )
                    .bind(id)
                    .bind(last)
                    .bind(event_type)
                    .bind(subject.to_string())
                    .bind(Utc::now())
                    .bind(data)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }

            pub async fn get_order(pool: &$pool, digest: &[u8], order: Uuid) -> anyhow::Result<()> {
                authenticate(pool, digest).await?;
                let row = sqlx::query(concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1 LIMIT 1"))
                .bind(order)
                .fetch_one(pool)
                .await?;
                read_order(&row)?;
                let items = sqlx::query(concat!("SELECT ", item_columns!(), " FROM order_items WHERE order_id = $1 ORDER BY line_no"))
                .bind(order)
                .fetch_all(pool)
                .await?;
                items.iter().try_for_each(read_item)
            }

            pub async fn list_orders(
                pool: &$pool,
                digest: &[u8],
                customer: Uuid,
            ) -> anyhow::Result<()> {
                authenticate(pool, digest).await?;
                let rows = sqlx::query(concat!("SELECT ", order_columns!(), " FROM orders WHERE user_id = $1 \
                     ORDER BY id DESC LIMIT 21"))
                .bind(customer)
                .fetch_all(pool)
                .await?;
                let mut ids = Vec::with_capacity(rows.len());
                for row in rows.iter().take(20) {
                    read_order(row)?;
                    ids.push(row.try_get::<Uuid, _>(0)?);
                }
                if ids.is_empty() {
                    return Ok(());
                }
                let placeholders: Vec<String> =
                    (1..=ids.len()).map(|n| format!("${n}")).collect();
                let sql = format!(
                    concat!(
                        "SELECT ",
                        item_columns!(),
                        " FROM order_items WHERE order_id IN ({}) ORDER BY order_id, line_no"
                    ),
                    placeholders.join(", ")
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in ids {
                    query = query.bind(id);
                }
                query.fetch_all(pool).await?.iter().try_for_each(read_item)
            }

            pub async fn place_order(
                pool: &$pool,
                digest: &[u8],
                customer: Uuid,
                lines: &[(String, i64)],
            ) -> anyhow::Result<()> {
                authenticate(pool, digest).await?;
                let mut conn = pool.acquire().await?;
                sqlx::query($begin).execute(&mut *conn).await?;
                let written = async {
                    let status: Option<(String,)> = sqlx::query_as(concat!(
                        "SELECT status FROM users WHERE id = $1 LIMIT 1",
                        $share
                    ))
                    .bind(customer)
                    .fetch_optional(&mut *conn)
                    .await?;
                    anyhow::ensure!(status.is_some(), "unknown customer");
                    let mut skus: Vec<&str> = lines.iter().map(|(sku, _)| sku.as_str()).collect();
                    skus.sort_unstable();
                    let list = placeholders(1, skus.len());

                    // The catalog's price of every line in the order's currency.
                    let sql = format!(
                        "SELECT sku, prices FROM products WHERE sku IN ({list}) AND status = 'active'"
                    );
                    let mut quote = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
                    for sku in &skus {
                        quote = quote.bind(*sku);
                    }
                    let on_sale: HashMap<String, String> =
                        quote.fetch_all(&mut *conn).await?.into_iter().collect();
                    let mut prices = Vec::with_capacity(lines.len());
                    let mut total = 0i64;
                    for (sku, quantity) in lines {
                        let price = on_sale
                            .get(sku)
                            .and_then(|stored| price_in(stored, "EUR"))
                            .ok_or_else(|| anyhow::anyhow!("{sku} is not on sale in EUR"))?;
                        prices.push(price);
                        total += price * quantity;
                    }

                    // The stock rows, locked in sku order; every line must be available.
                    let sql = format!(
                        "SELECT sku, on_hand, reserved, version, updated_at FROM stock \
                         WHERE sku IN ({list}) ORDER BY sku{}",
                        $update
                    );
                    let mut lock = sqlx::query_as::<_, (String, i64, i64, i64, chrono::DateTime<Utc>)>(
                        sqlx::AssertSqlSafe(sql),
                    );
                    for sku in &skus {
                        lock = lock.bind(*sku);
                    }
                    let available: HashMap<String, i64> = lock
                        .fetch_all(&mut *conn)
                        .await?
                        .into_iter()
                        .map(|(sku, on_hand, reserved, _, _)| (sku, on_hand - reserved))
                        .collect();
                    for (sku, quantity) in lines {
                        anyhow::ensure!(
                            available.get(sku).is_some_and(|units| units >= quantity),
                            "{sku} is short"
                        );
                    }

                    // One UPDATE reserving every line, then the reservation rows.
                    let mut by_sku: Vec<&(String, i64)> = lines.iter().collect();
                    by_sku.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                    let cases: String = (0..by_sku.len())
                        .map(|i| format!(" WHEN sku = ${} THEN reserved + ${}", 2 * i + 1, 2 * i + 2))
                        .collect();
                    let now_at = 2 * by_sku.len() + 1;
                    let sql = format!(
                        "UPDATE stock SET reserved = CASE{cases} ELSE reserved END, \
                         version = version + 1, updated_at = ${now_at} WHERE sku IN ({})",
                        placeholders(now_at + 1, by_sku.len())
                    );
                    let now = Utc::now();
                    let mut reserve = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (sku, quantity) in &by_sku {
                        reserve = reserve.bind(sku.as_str()).bind(*quantity);
                    }
                    reserve = reserve.bind(now);
                    for (sku, _) in &by_sku {
                        reserve = reserve.bind(sku.as_str());
                    }
                    reserve.execute(&mut *conn).await?;
                    let id = Uuid::now_v7();
                    let sql = format!(
                        "INSERT INTO stock_reservations (holder, sku, quantity) VALUES {}",
                        rows(3, by_sku.len())
                    );
                    let mut reservations = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (sku, quantity) in &by_sku {
                        reservations = reservations.bind(id).bind(sku.as_str()).bind(*quantity);
                    }
                    reservations.execute(&mut *conn).await?;

                    // The order at the catalog's prices, its lines and its event.
                    sqlx::query(concat!("INSERT INTO orders (", order_columns!(), ") \
                         VALUES ($1, $2, 'pending', 'EUR', $3, 1, $4, $5)"))
                    .bind(id)
                    .bind(customer)
                    .bind(total)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    let sql = format!(
                        concat!("INSERT INTO order_items (", item_columns!(), ") VALUES {}"),
                        rows(5, lines.len())
                    );
                    let mut items = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (line_no, ((sku, quantity), price)) in lines.iter().zip(&prices).enumerate() {
                        items = items
                            .bind(id)
                            .bind(line_no as i32 + 1)
                            .bind(sku.as_str())
                            .bind(*quantity)
                            .bind(*price);
                    }
                    items.execute(&mut *conn).await?;
                    append_event(&mut conn, "order.placed", id, ORDER_DATA).await?;
                    anyhow::Ok(())
                }
                .await;
                let end = if written.is_ok() { "COMMIT" } else { "ROLLBACK" };
                sqlx::query(end).execute(&mut *conn).await?;
                written
            }

            pub async fn transition(
                pool: &$pool,
                digest: &[u8],
                customer: Uuid,
                order: Uuid,
                cancel: bool,
            ) -> anyhow::Result<()> {
                authenticate(pool, digest).await?;
                let (to, from, event) = if cancel {
                    ("cancelled", "paid", "order.cancelled")
                } else {
                    ("paid", "pending", "order.paid")
                };
                let mut conn = pool.acquire().await?;
                sqlx::query($begin).execute(&mut *conn).await?;
                let written = async {
                    let moved = sqlx::query(concat!(
                        "UPDATE orders SET status = $1, version = version + 1, updated_at = $2 \
                         WHERE id = $3 AND user_id = $4 AND status = $5 RETURNING ",
                        order_columns!()
                    ))
                    .bind(to)
                    .bind(Utc::now())
                    .bind(order)
                    .bind(customer)
                    .bind(from)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("order {order} cannot move to {to}"))?;
                    read_order(&moved)?;
                    sqlx::query(concat!(
                        "SELECT ",
                        item_columns!(),
                        " FROM order_items WHERE order_id = $1 ORDER BY line_no"
                    ))
                    .bind(order)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .try_for_each(read_item)?;
                    append_event(&mut conn, event, order, ORDER_DATA).await?;
                    if cancel {
                        let released: Vec<(String, i64)> = sqlx::query_as(
                            "DELETE FROM stock_reservations WHERE holder = $1 RETURNING sku, quantity",
                        )
                        .bind(order)
                        .fetch_all(&mut *conn)
                        .await?;
                        let mut released = released;
                        released.sort_unstable();
                        if !released.is_empty() {
                            let list = placeholders(1, released.len());
                            let sql = format!(
                                "SELECT sku FROM stock WHERE sku IN ({list}) ORDER BY sku{}",
                                $update
                            );
                            let mut lock = sqlx::query(sqlx::AssertSqlSafe(sql));
                            for (sku, _) in &released {
                                lock = lock.bind(sku.as_str());
                            }
                            lock.fetch_all(&mut *conn).await?;
                            let cases: String = (0..released.len())
                                .map(|i| format!(" WHEN sku = ${} THEN reserved - ${}", 2 * i + 1, 2 * i + 2))
                                .collect();
                            let now_at = 2 * released.len() + 1;
                            let sql = format!(
                                "UPDATE stock SET reserved = CASE{cases} ELSE reserved END, \
                                 version = version + 1, updated_at = ${now_at} WHERE sku IN ({})",
                                placeholders(now_at + 1, released.len())
                            );
                            let mut release = sqlx::query(sqlx::AssertSqlSafe(sql));
                            for (sku, quantity) in &released {
                                release = release.bind(sku.as_str()).bind(*quantity);
                            }
                            release = release.bind(Utc::now());
                            for (sku, _) in &released {
                                release = release.bind(sku.as_str());
                            }
                            release.execute(&mut *conn).await?;
                        }
                    }
                    anyhow::Ok(())
                }
                .await;
                let end = if written.is_ok() { "COMMIT" } else { "ROLLBACK" };
                sqlx::query(end).execute(&mut *conn).await?;
                written
            }

            pub async fn sign_up(pool: &$pool, phc: &str) -> anyhow::Result<()> {
                let mut conn = pool.acquire().await?;
                sqlx::query($begin).execute(&mut *conn).await?;
                let written = async {
                    let id = Uuid::now_v7();
                    let now = Utc::now();
                    sqlx::query(
                        "INSERT INTO users \
                         (id, email, display_name, status, version, created_at, updated_at) \
                         VALUES ($1, $2, 'Floor user', 'active', 1, $3, $4)",
                    )
                    .bind(id)
                    .bind(format!("{}@floor.example", id.simple()))
                    .bind(now)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "INSERT INTO credentials \
                         (account_id, password_hash, role, created_at, updated_at) \
                         VALUES ($1, $2, 'customer', $3, $4)",
                    )
                    .bind(id)
                    .bind(phc)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    append_event(&mut conn, "user.registered", id, USER_DATA).await?;
                    anyhow::Ok(())
                }
                .await;
                let end = if written.is_ok() { "COMMIT" } else { "ROLLBACK" };
                sqlx::query(end).execute(&mut *conn).await?;
                written
            }
        }
    };
}

/// The row and connection types of a pool, so the stamped-out code can name them.
pub trait PoolRow {
    type Row: sqlx::Row;
    type Connection;
}

impl PoolRow for sqlx::PgPool {
    type Row = sqlx::postgres::PgRow;
    type Connection = sqlx::PgConnection;
}

impl PoolRow for sqlx::SqlitePool {
    type Row = sqlx::sqlite::SqliteRow;
    type Connection = sqlx::SqliteConnection;
}

/// An event's `data` of the size the service writes for a three-line order.
const ORDER_DATA: &str = r#"{"id":"01937a0e-8b1a-7d2e-8f3a-1c4d5e6f7081","user_id":"01937a0e-8b1a-7d2e-8f3a-1c4d5e6f7082","status":"pending","currency":"EUR","total_cents":3500,"items":[{"sku":"SKU-1","quantity":1,"unit_price_cents":250},{"sku":"SKU-2","quantity":2,"unit_price_cents":500},{"sku":"SKU-3","quantity":3,"unit_price_cents":750}],"version":1,"created_at":"2026-11-26T09:30:00.123456Z","updated_at":"2026-11-26T09:30:00.123456Z"}"#;
/// An event's `data` of the size the service writes for a new user.
const USER_DATA: &str = r#"{"id":"01937a0e-8b1a-7d2e-8f3a-1c4d5e6f7081","email":"0193@signup.example","display_name":"Bench sign-up","status":"active","version":1,"created_at":"2026-11-26T09:30:00.123456Z","updated_at":"2026-11-26T09:30:00.123456Z"}"#;

statements!(pg, sqlx::PgPool, true, "BEGIN", " FOR SHARE", " FOR UPDATE");
statements!(lite, sqlx::SqlitePool, false, "BEGIN IMMEDIATE", "", "");

mod best_pg {
    use super::*;

    pub async fn place_order(
        pool: &sqlx::PgPool,
        digest: &[u8],
        customer: Uuid,
        lines: &[(String, i64)],
    ) -> anyhow::Result<()> {
        pg::authenticate(pool, digest).await?;
        let mut by_sku: Vec<&(String, i64)> = lines.iter().collect();
        by_sku.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let skus: Vec<&str> = by_sku.iter().map(|(sku, _)| sku.as_str()).collect();
        let quantities: Vec<i64> = by_sku.iter().map(|(_, q)| *q).collect();
        let mut conn = pool.acquire().await?;
        sqlx::query("BEGIN").execute(&mut *conn).await?;
        let written = async {
            let standing: Option<(String,)> =
                sqlx::query_as("SELECT status FROM users WHERE id = $1 FOR SHARE")
                    .bind(customer)
                    .fetch_optional(&mut *conn)
                    .await?;
            anyhow::ensure!(standing.is_some(), "unknown customer");
            let on_sale: HashMap<String, String> = sqlx::query_as(
                "SELECT sku, prices FROM products WHERE sku = ANY($1) AND status = 'active'",
            )
            .bind(&skus)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
            let prices: Vec<i64> = by_sku
                .iter()
                .map(|(sku, _)| {
                    on_sale
                        .get(sku)
                        .and_then(|stored| price_in(stored, "EUR"))
                        .ok_or_else(|| anyhow::anyhow!("{sku} is not on sale in EUR"))
                })
                .collect::<anyhow::Result<_>>()?;
            let total: i64 = prices.iter().zip(&quantities).map(|(p, q)| p * q).sum();
            let now = Utc::now();
            let reserved = sqlx::query(
                "WITH wanted AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS w (sku, q)), \
                 locked AS (SELECT s.sku FROM stock s JOIN wanted USING (sku) \
                 ORDER BY s.sku FOR UPDATE OF s) \
                 UPDATE stock s SET reserved = s.reserved + wanted.q, version = s.version + 1, \
                 updated_at = $3 FROM wanted, locked \
                 WHERE s.sku = wanted.sku AND locked.sku = s.sku \
                 AND s.on_hand - s.reserved >= wanted.q",
            )
            .bind(&skus)
            .bind(&quantities)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            anyhow::ensure!(
                reserved.rows_affected() == by_sku.len() as u64,
                "a line is short"
            );
            let id = Uuid::now_v7();
            sqlx::query(concat!(
                "WITH o AS (INSERT INTO orders (",
                order_columns!(),
                ") VALUES ($1, $2, 'pending', 'EUR', $3, 1, $4, $4)), \
                 i AS (INSERT INTO order_items (",
                item_columns!(),
                ") SELECT $1, n, sku, q, p FROM unnest($5::text[], $6::bigint[], $7::bigint[]) \
                 WITH ORDINALITY AS t (sku, q, p, n)), \
                 r AS (INSERT INTO stock_reservations (holder, sku, quantity) \
                 SELECT $1, sku, q FROM unnest($5::text[], $6::bigint[]) AS t (sku, q)) \
                 INSERT INTO events (id, position, tx, type, subject, time, data) \
                 VALUES ($8, nextval('events_position_seq'), pg_current_xact_id()::text::bigint, \
                 'order.placed', $9, $4, $10)"
            ))
            .bind(id)
            .bind(customer)
            .bind(total)
            .bind(now)
            .bind(&skus)
            .bind(&quantities)
            .bind(&prices)
            .bind(Uuid::now_v7())
            .bind(id.to_string())
            .bind(ORDER_DATA)
            .execute(&mut *conn)
            .await?;
            anyhow::Ok(())
        }
        .await;
        let end = if written.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        sqlx::query(end).execute(&mut *conn).await?;
        written
    }

    pub async fn transition(
        pool: &sqlx::PgPool,
        digest: &[u8],
        customer: Uuid,
        order: Uuid,
        cancel: bool,
    ) -> anyhow::Result<()> {
        pg::authenticate(pool, digest).await?;
        let (to, from, event) = if cancel {
            ("cancelled", "paid", "order.cancelled")
        } else {
            ("paid", "pending", "order.paid")
        };
        // The release is empty for a payment (`$7` false): the statement is the same.
        let moved = sqlx::query(
            "WITH moved AS (UPDATE orders SET status = $1, version = version + 1, \
             updated_at = $2 WHERE id = $3 AND user_id = $4 AND status = $5 \
             RETURNING id, user_id, status, currency, total_cents, version), \
             released AS (DELETE FROM stock_reservations WHERE $7 AND holder IN \
             (SELECT id FROM moved) RETURNING sku, quantity), \
             locked AS (SELECT s.sku FROM stock s WHERE s.sku IN (SELECT sku FROM released) \
             ORDER BY s.sku FOR UPDATE), \
             restocked AS (UPDATE stock SET reserved = stock.reserved - released.quantity, \
             version = stock.version + 1, updated_at = $2 FROM released, locked \
             WHERE stock.sku = released.sku AND locked.sku = released.sku) \
             INSERT INTO events (id, position, tx, type, subject, time, data) \
             SELECT $8, nextval('events_position_seq'), pg_current_xact_id()::text::bigint, \
             $6, moved.id::text, $2, json_build_object('id', moved.id, 'user_id', moved.user_id, \
             'status', moved.status, 'currency', moved.currency, \
             'total_cents', moved.total_cents, 'version', moved.version, 'items', \
             (SELECT json_agg(json_build_object('sku', sku, 'quantity', quantity, \
             'unit_price_cents', unit_price_cents) ORDER BY line_no) \
             FROM order_items WHERE order_id = moved.id))::text FROM moved",
        )
        .bind(to)
        .bind(Utc::now())
        .bind(order)
        .bind(customer)
        .bind(from)
        .bind(event)
        .bind(cancel)
        .bind(Uuid::now_v7())
        .execute(pool)
        .await?;
        anyhow::ensure!(
            moved.rows_affected() == 1,
            "order {order} cannot move to {to}"
        );
        Ok(())
    }
}
