use std::collections::HashMap;

use persistence::{Db, Limit, Outbox, StoreError, Tx, now_utc};
use persistence_orm::{FromOrm, Orm};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::entity::{self, Column, Entity};
use crate::{
    CatalogError, Currency, Description, Money, NewProduct, Price, Prices, Product, ProductChanges,
    ProductEvent, ProductName, ProductPage, ProductStatus, Quote, Sku,
};

/// The catalog context's public service. Cheap to clone.
///
/// Reads stand alone. Writes take the caller's [`Tx`] where they are one step of a larger unit
/// of work (a new product also gets its stock, which the inventory context keeps:
/// [`Catalog::create_in`]), and the [`Catalog::quote_in`] of an order is read inside the
/// transaction that places it. Every change appends its [`ProductEvent`] in its transaction.
#[derive(Debug, Clone)]
pub struct Catalog {
    db: Db,
    events: Outbox<ProductEvent>,
}

impl Catalog {
    /// A service over the given database, appending its events to `events` (whose encoder the
    /// app supplies).
    pub fn new(db: Db, events: Outbox<ProductEvent>) -> Self {
        Self { db, events }
    }

    /// Creates an active product as one step of the caller's transaction. A sku already taken
    /// (by an active or an archived product) is [`CatalogError::SkuTaken`], decided by the
    /// primary key, so it holds under concurrency.
    #[tracing::instrument(name = "catalog.create_in", skip_all)]
    pub async fn create_in(&self, tx: &Tx, new: NewProduct) -> Result<Product, CatalogError> {
        let now = now_utc();
        let product = Product {
            sku: new.sku,
            name: new.name,
            description: new.description,
            prices: new.prices,
            status: ProductStatus::Active,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let row = entity::ActiveModel {
            sku: Set(product.sku.as_str().to_owned()),
            name: Set(product.name.as_str().to_owned()),
            description: Set(product.description.as_str().to_owned()),
            prices: Set(encode_prices(&product.prices)),
            status: Set(ProductStatus::Active.as_str().to_owned()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        if let Err(err) = Entity::insert(row).exec_without_returning(tx.orm()).await {
            let err = StoreError::from_orm(err);
            return Err(if err.is_unique_violation() {
                CatalogError::SkuTaken(product.sku)
            } else {
                err.into()
            });
        }
        self.events
            .append(tx, &ProductEvent::Created(product.clone()))
            .await?;
        Ok(product)
    }

    /// One product by sku; an archived one only `with_archived` (otherwise it is
    /// [`CatalogError::NotFound`], as for a sku nobody created).
    #[tracing::instrument(name = "catalog.get", skip_all)]
    pub async fn get(&self, sku: &Sku, with_archived: bool) -> Result<Product, CatalogError> {
        let row = Entity::find_by_id(sku.as_str())
            .one(self.db.orm())
            .await
            .map_err(StoreError::from_orm)?;
        row.map(to_product)
            .transpose()?
            .filter(|product| with_archived || product.status == ProductStatus::Active)
            .ok_or_else(|| CatalogError::NotFound(sku.clone()))
    }

    /// Products in sku order, one keyset page at a time (one statement whatever the page
    /// size, a range scan of the primary key); archived ones only `with_archived`.
    #[tracing::instrument(name = "catalog.list", skip_all)]
    pub async fn list(
        &self,
        after: Option<&Sku>,
        limit: Limit,
        with_archived: bool,
    ) -> Result<ProductPage, CatalogError> {
        let mut rows = list_query(after, limit, with_archived)
            .all(self.db.orm())
            .await
            .map_err(StoreError::from_orm)?;
        let more = rows.len() as u64 > limit.get();
        rows.truncate(usize::try_from(limit.get()).unwrap_or(usize::MAX));
        let items = rows
            .into_iter()
            .map(to_product)
            .collect::<Result<Vec<_>, _>>()?;
        let next = more
            .then(|| items.last().map(|product| product.sku.clone()))
            .flatten();
        Ok(ProductPage { items, next })
    }

    /// Changes a product if the caller's copy is current (`expected_version`), archived or
    /// not (an archived product can still be corrected). One conditional `UPDATE`; only when
    /// it matches nothing is the product read, to say why.
    #[tracing::instrument(name = "catalog.update", skip_all)]
    pub async fn update(
        &self,
        sku: &Sku,
        expected_version: i64,
        changes: ProductChanges,
    ) -> Result<Product, CatalogError> {
        let tx = self.db.begin().await?;
        let mut update = Entity::update_many()
            .col_expr(Column::Version, Expr::col(Column::Version).add(1))
            .col_expr(Column::UpdatedAt, Expr::value(now_utc()))
            .filter(Column::Sku.eq(sku.as_str()))
            .filter(Column::Version.eq(expected_version));
        if let Some(name) = &changes.name {
            update = update.col_expr(Column::Name, Expr::value(name.as_str()));
        }
        if let Some(description) = &changes.description {
            update = update.col_expr(Column::Description, Expr::value(description.as_str()));
        }
        if let Some(prices) = &changes.prices {
            update = update.col_expr(Column::Prices, Expr::value(encode_prices(prices)));
        }
        let updated = update
            .exec_with_returning(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        let Some(row) = updated.into_iter().next() else {
            let current = Entity::find_by_id(sku.as_str())
                .one(tx.orm())
                .await
                .map_err(StoreError::from_orm)?;
            return Err(match current {
                None => CatalogError::NotFound(sku.clone()),
                Some(current) => CatalogError::VersionConflict {
                    expected: expected_version,
                    current: current.version,
                },
            });
        };
        let product = to_product(row)?;
        self.events
            .append(&tx, &ProductEvent::Updated(product.clone()))
            .await?;
        tx.commit().await?;
        Ok(product)
    }

    /// Archives a product: it leaves the lists and new orders refuse it; orders already placed
    /// keep it. Archiving an archived product changes nothing and returns it as it is.
    #[tracing::instrument(name = "catalog.archive", skip_all)]
    pub async fn archive(&self, sku: &Sku) -> Result<Product, CatalogError> {
        let tx = self.db.begin().await?;
        let updated = Entity::update_many()
            .col_expr(
                Column::Status,
                Expr::value(ProductStatus::Archived.as_str()),
            )
            .col_expr(Column::Version, Expr::col(Column::Version).add(1))
            .col_expr(Column::UpdatedAt, Expr::value(now_utc()))
            .filter(Column::Sku.eq(sku.as_str()))
            .filter(Column::Status.eq(ProductStatus::Active.as_str()))
            .exec_with_returning(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        let Some(row) = updated.into_iter().next() else {
            let current = Entity::find_by_id(sku.as_str())
                .one(tx.orm())
                .await
                .map_err(StoreError::from_orm)?;
            return current
                .map(to_product)
                .transpose()?
                .ok_or_else(|| CatalogError::NotFound(sku.clone()));
        };
        let product = to_product(row)?;
        self.events
            .append(&tx, &ProductEvent::Archived(product.clone()))
            .await?;
        tx.commit().await?;
        Ok(product)
    }

    /// The current unit price of every line in `currency`, in line order: one statement,
    /// inside the caller's transaction (the one that places the order), so the order is
    /// priced as the catalog stands at that moment.
    ///
    /// Refusals, each naming every line at fault and checked in this order:
    /// [`CatalogError::UnknownProducts`] (no such sku, or archived),
    /// [`CatalogError::CurrencyNotOffered`], then [`CatalogError::PriceChanged`] (a line
    /// whose shown price differs from the current one, with the current price).
    #[tracing::instrument(name = "catalog.quote_in", skip_all, fields(lines = lines.len()))]
    pub async fn quote_in(
        &self,
        tx: &Tx,
        currency: &str,
        lines: &[Quote<'_>],
    ) -> Result<Vec<Money>, CatalogError> {
        let mut skus: Vec<&str> = lines.iter().map(|line| line.sku).collect();
        skus.sort_unstable();
        skus.dedup();
        let rows = Entity::find()
            .select_only()
            .column(Column::Sku)
            .column(Column::Prices)
            .filter(Column::Sku.is_in(skus))
            .filter(Column::Status.eq(ProductStatus::Active.as_str()))
            .into_tuple::<(String, String)>()
            .all(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        let on_sale: HashMap<String, String> = rows.into_iter().collect();
        price_lines(&on_sale, currency, lines)
    }

    /// [`Catalog::quote_in`] for many orders at once (a bulk load): one statement for all
    /// their skus. Each order's answer is its own, in input order.
    #[tracing::instrument(name = "catalog.quote_many_in", skip_all, fields(orders = orders.len()))]
    pub async fn quote_many_in(
        &self,
        tx: &Tx,
        orders: &[(&str, Vec<Quote<'_>>)],
    ) -> Result<Vec<Result<Vec<Money>, CatalogError>>, CatalogError> {
        let mut skus: Vec<&str> = orders
            .iter()
            .flat_map(|(_, lines)| lines.iter().map(|line| line.sku))
            .collect();
        skus.sort_unstable();
        skus.dedup();
        let mut on_sale = HashMap::with_capacity(skus.len());
        for chunk in skus.chunks(QUOTE_CHUNK) {
            let rows = Entity::find()
                .select_only()
                .column(Column::Sku)
                .column(Column::Prices)
                .filter(Column::Sku.is_in(chunk.iter().copied()))
                .filter(Column::Status.eq(ProductStatus::Active.as_str()))
                .into_tuple::<(String, String)>()
                .all(tx.orm())
                .await
                .map_err(StoreError::from_orm)?;
            on_sale.extend(rows);
        }
        Ok(orders
            .iter()
            .map(|(currency, lines)| price_lines(&on_sale, currency, lines))
            .collect())
    }
}

/// How many skus one quote statement carries (SQLite accepts at most 32,766 parameters).
const QUOTE_CHUNK: usize = 10_000;

/// Prices `lines` from the stored price lists of the products on sale.
fn price_lines(
    on_sale: &HashMap<String, String>,
    currency: &str,
    lines: &[Quote<'_>],
) -> Result<Vec<Money>, CatalogError> {
    let mut unknown = Vec::new();
    let mut not_offered = Vec::new();
    let mut prices = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match on_sale.get(line.sku) {
            None => unknown.push(i),
            Some(stored) => match price_in(stored, currency) {
                None => not_offered.push(i),
                Some(price) => prices.push(price),
            },
        }
    }
    if !unknown.is_empty() {
        return Err(CatalogError::UnknownProducts(unknown));
    }
    if !not_offered.is_empty() {
        return Err(CatalogError::CurrencyNotOffered(not_offered));
    }
    let changed: Vec<(Sku, Money)> = lines
        .iter()
        .zip(&prices)
        .filter(|(line, price)| line.shown_cents.is_some_and(|shown| shown != price.cents()))
        .map(|(line, price)| (Sku::from_stored(line.sku.to_owned()), *price))
        .collect();
    if !changed.is_empty() {
        return Err(CatalogError::PriceChanged(changed));
    }
    Ok(prices)
}

/// `WHERE sku > ? [AND status = 'active'] ORDER BY sku LIMIT limit + 1`: a range scan of the
/// primary key, already in order.
pub(crate) fn list_query(after: Option<&Sku>, limit: Limit, with_archived: bool) -> Select<Entity> {
    let mut query = Entity::find()
        .order_by_asc(Column::Sku)
        .limit(limit.get() + 1);
    if let Some(after) = after {
        query = query.filter(Column::Sku.gt(after.as_str()));
    }
    if !with_archived {
        query = query.filter(Column::Status.eq(ProductStatus::Active.as_str()));
    }
    query
}

/// `EUR:1250,USD:1400`: currencies are three letters and amounts digits, so neither
/// separator can occur inside an entry.
fn encode_prices(prices: &Prices) -> String {
    prices
        .as_slice()
        .iter()
        .map(|p| format!("{}:{}", p.currency.as_str(), p.unit_price_cents.cents()))
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_prices(stored: &str) -> Result<Prices, CatalogError> {
    let prices = stored
        .split(',')
        .map(|entry| {
            let (currency, cents) = entry.split_once(':')?;
            Some(Price {
                currency: Currency::from_stored(currency.to_owned()),
                unit_price_cents: Money::from_stored(cents.parse().ok()?),
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| StoreError::other(format!("unreadable stored prices {stored:?}")))?;
    Ok(Prices::from_stored(prices))
}

/// The price in `currency` of a stored price list, if it has one.
fn price_in(stored: &str, currency: &str) -> Option<Money> {
    stored.split(',').find_map(|entry| {
        let (code, cents) = entry.split_once(':')?;
        (code == currency)
            .then(|| cents.parse().ok().map(Money::from_stored))
            .flatten()
    })
}

/// Stored rows are trusted: they passed the rules of the day they were written.
fn to_product(row: entity::Model) -> Result<Product, CatalogError> {
    Ok(Product {
        sku: Sku::from_stored(row.sku),
        name: ProductName::from_stored(row.name),
        description: Description::from_stored(row.description),
        prices: decode_prices(&row.prices)?,
        status: ProductStatus::from_stored(&row.status)?,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
