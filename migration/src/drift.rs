//! Schema drift: what a database's catalog says, and where two databases disagree.
//!
//! `cargo xtask migrate check` builds two scratch databases on the engine it checks, one by
//! running every migration and one by executing the SQL each context's entities declare
//! (`users::declared_schema`, ...), takes a [`SchemaSnapshot`] of each from the engine's own
//! catalog and [`compare`]s them; against a live database it also compares the live schema with
//! the migrated scratch one. Reading the catalog (rather than comparing SQL text) means both
//! sides are described by the same engine in the same words.
//!
//! What is compared, per table: every column's type (as the engine names it, lower-cased,
//! `character varying` spelled `varchar`), nullability and default; the primary key; indexes
//! by their key columns and uniqueness (not by name: SeaORM names its own); foreign keys by
//! columns, referenced table and columns, and `ON DELETE`/`ON UPDATE` actions (not by name).
//! [`Scope::Everything`] adds CHECK constraints, expression and partial indexes, and
//! non-unique indexes over several columns; [`Scope::Declarable`] leaves those out, because a
//! SeaORM entity cannot declare them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use persistence::sql_text::{closing_paren, find_keyword, split_top_level};
use persistence::{Backend, Db};
use persistence_orm::Orm;
use sea_orm_migration::sea_orm::{ConnectionTrait, QueryResult, Statement};

use crate::MigrateError;

/// Every table of one database schema (PostgreSQL: the current schema) except the migration
/// bookkeeping table, as the engine's catalog describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaSnapshot {
    /// Tables by name.
    pub tables: BTreeMap<String, TableShape>,
}

/// One table's columns, keys, indexes and constraints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableShape {
    /// Columns by name.
    pub columns: BTreeMap<String, ColumnShape>,
    /// The primary key's columns in key order; empty when there is none.
    pub primary_key: Vec<String>,
    /// Indexes other than the primary key's, unique constraints included.
    pub indexes: BTreeSet<IndexShape>,
    /// Foreign keys this table holds.
    pub foreign_keys: BTreeSet<ForeignKeyShape>,
    /// CHECK constraints.
    pub checks: BTreeSet<CheckShape>,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnShape {
    /// The type as the engine names it, normalised (see [`normalise_type`]).
    pub data_type: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The default expression as the engine prints it, if any.
    pub default: Option<String>,
}

/// One part of an index key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndexKey {
    /// A plain column.
    Column(String),
    /// An expression, such as `lower(email)`, as the engine prints it.
    Expression(String),
}

impl fmt::Display for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Column(name) | Self::Expression(name) => f.write_str(name),
        }
    }
}

/// One index, described by what it does rather than by its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexShape {
    /// The key parts in order.
    pub keys: Vec<IndexKey>,
    /// Whether it is unique (a unique constraint counts as a unique index).
    pub unique: bool,
    /// The `WHERE` clause of a partial index.
    pub predicate: Option<String>,
}

impl IndexShape {
    /// Whether a SeaORM entity can declare this index: a plain single-column index
    /// (`#[sea_orm(indexed)]`) or a plain unique one over any columns (`unique`, `unique_key`).
    pub fn declarable(&self) -> bool {
        self.predicate.is_none()
            && self.keys.iter().all(|k| matches!(k, IndexKey::Column(_)))
            && (self.unique || self.keys.len() == 1)
    }

    fn columns(&self) -> String {
        join(self.keys.iter().map(ToString::to_string))
    }
}

/// One foreign key, described without its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKeyShape {
    /// The referencing columns, in order.
    pub columns: Vec<String>,
    /// The referenced table.
    pub references: String,
    /// The referenced columns, in order.
    pub referenced_columns: Vec<String>,
    /// `NO ACTION`, `RESTRICT`, `CASCADE`, `SET NULL` or `SET DEFAULT`.
    pub on_delete: String,
    /// Same vocabulary as `on_delete`.
    pub on_update: String,
}

impl fmt::Display for ForeignKeyShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "references {}({}) ON DELETE {} ON UPDATE {}",
            self.references,
            join(self.referenced_columns.iter().cloned()),
            self.on_delete,
            self.on_update
        )
    }
}

/// One CHECK constraint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CheckShape {
    /// The column it belongs to (PostgreSQL: the columns it mentions; SQLite: the column whose
    /// definition carries it), `*` for a table constraint.
    pub column: String,
    /// The expression as the engine stores it.
    pub expression: String,
}

/// What a comparison looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// What both migrations and SeaORM entities can say: columns (type, nullability, default),
    /// primary keys, foreign keys, and [declarable](IndexShape::declarable) indexes.
    Declarable,
    /// Everything a snapshot holds: also CHECK constraints and every index.
    Everything,
}

/// Which property of a table differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Aspect {
    /// The table exists on one side only.
    Table,
    /// The column exists on one side only.
    Column,
    /// The column's type.
    Type,
    /// Whether the column allows NULL.
    Nullability,
    /// The column's default.
    Default,
    /// The primary key's columns.
    PrimaryKey,
    /// An index over these columns exists on one side only, or differs in uniqueness.
    Index,
    /// A foreign key from these columns exists on one side only.
    ForeignKey,
    /// A CHECK constraint exists on one side only.
    Check,
}

impl fmt::Display for Aspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Table => "table",
            Self::Column => "column",
            Self::Type => "type",
            Self::Nullability => "nullability",
            Self::Default => "default",
            Self::PrimaryKey => "primary key",
            Self::Index => "index",
            Self::ForeignKey => "foreign key",
            Self::Check => "check constraint",
        })
    }
}

/// One difference between an expected schema and the one found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Drift {
    /// The table.
    pub table: String,
    /// The column, or the columns of an index, key or constraint (`a, b`); `*` for the table.
    pub column: String,
    /// What differs.
    pub what: Aspect,
    /// The expected side's value (`absent` when it has none).
    pub expected: String,
    /// The other side's value (`absent` when it has none).
    pub found: String,
}

impl Drift {
    /// One report line, e.g. `orders.note: column: migrations absent, entities text NULL`,
    /// naming the two sides with the given labels.
    pub fn describe(&self, expected_label: &str, found_label: &str) -> String {
        format!(
            "{}.{}: {}: {expected_label} {}, {found_label} {}",
            self.table, self.column, self.what, self.expected, self.found
        )
    }
}

const ABSENT: &str = "absent";
const PRESENT: &str = "present";

/// Every difference between `expected` and `found` within `scope`, sorted by table and column.
pub fn compare(expected: &SchemaSnapshot, found: &SchemaSnapshot, scope: Scope) -> Vec<Drift> {
    let mut drifts = Vec::new();
    let names: BTreeSet<&String> = expected.tables.keys().chain(found.tables.keys()).collect();
    for name in names {
        match (expected.tables.get(name), found.tables.get(name)) {
            (Some(e), Some(f)) => compare_tables(name, e, f, scope, &mut drifts),
            (e, f) => drifts.push(Drift {
                table: name.clone(),
                column: "*".to_owned(),
                what: Aspect::Table,
                expected: presence(e.is_some()),
                found: presence(f.is_some()),
            }),
        }
    }
    drifts.sort();
    drifts
}

fn presence(present: bool) -> String {
    if present { PRESENT } else { ABSENT }.to_owned()
}

fn compare_tables<'a>(
    table: &str,
    expected: &'a TableShape,
    found: &'a TableShape,
    scope: Scope,
    drifts: &mut Vec<Drift>,
) {
    let mut push = |column: String, what: Aspect, expected: String, found: String| {
        drifts.push(Drift {
            table: table.to_owned(),
            column,
            what,
            expected,
            found,
        });
    };

    let columns: BTreeSet<&String> = expected
        .columns
        .keys()
        .chain(found.columns.keys())
        .collect();
    for column in columns {
        match (expected.columns.get(column), found.columns.get(column)) {
            (Some(e), Some(f)) => {
                if e.data_type != f.data_type {
                    push(
                        column.clone(),
                        Aspect::Type,
                        e.data_type.clone(),
                        f.data_type.clone(),
                    );
                }
                if e.nullable != f.nullable {
                    push(
                        column.clone(),
                        Aspect::Nullability,
                        null_word(e.nullable),
                        null_word(f.nullable),
                    );
                }
                if e.default != f.default {
                    let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".to_owned());
                    push(
                        column.clone(),
                        Aspect::Default,
                        show(&e.default),
                        show(&f.default),
                    );
                }
            }
            (e, f) => {
                let show = |c: Option<&ColumnShape>| c.map_or_else(|| ABSENT.to_owned(), describe);
                push(column.clone(), Aspect::Column, show(e), show(f));
            }
        }
    }

    if expected.primary_key != found.primary_key {
        let show = |pk: &[String]| {
            if pk.is_empty() {
                "none".to_owned()
            } else {
                format!("({})", join(pk.iter().cloned()))
            }
        };
        let column = if expected.primary_key.is_empty() {
            join(found.primary_key.iter().cloned())
        } else {
            join(expected.primary_key.iter().cloned())
        };
        push(
            column,
            Aspect::PrimaryKey,
            show(&expected.primary_key),
            show(&found.primary_key),
        );
    }

    let in_scope = |i: &&IndexShape| scope == Scope::Everything || i.declarable();
    let indexes = |t: &'a TableShape| t.indexes.iter().filter(in_scope).collect::<BTreeSet<_>>();
    pair_up(
        &indexes(expected),
        &indexes(found),
        |i| (i.keys.clone(), i.predicate.clone()),
        |i| (i.columns(), index_word(i)),
        Aspect::Index,
        &mut push,
    );
    pair_up(
        &expected.foreign_keys.iter().collect(),
        &found.foreign_keys.iter().collect(),
        |fk| fk.columns.clone(),
        |fk| (join(fk.columns.iter().cloned()), fk.to_string()),
        Aspect::ForeignKey,
        &mut push,
    );
    if scope == Scope::Everything {
        pair_up(
            &expected.checks.iter().collect(),
            &found.checks.iter().collect(),
            |c| c.column.clone(),
            |c| (c.column.clone(), c.expression.clone()),
            Aspect::Check,
            &mut push,
        );
    }
}

/// Reports the items of `expected` and `found` that the other side lacks; an item on each
/// side with the same `key` (an index over the same columns, a foreign key from the same
/// columns) is one difference, not two. `show` gives an item's column(s) and description.
fn pair_up<T: Ord, K: PartialEq>(
    expected: &BTreeSet<&T>,
    found: &BTreeSet<&T>,
    key: impl Fn(&T) -> K,
    show: impl Fn(&T) -> (String, String),
    what: Aspect,
    push: &mut impl FnMut(String, Aspect, String, String),
) {
    let only_expected: Vec<&T> = expected.difference(found).copied().collect();
    let only_found: Vec<&T> = found.difference(expected).copied().collect();
    let mut paired = vec![false; only_found.len()];
    for item in &only_expected {
        let (column, value) = show(item);
        let partner = only_found
            .iter()
            .enumerate()
            .position(|(at, other)| !paired[at] && key(other) == key(item));
        match partner {
            Some(at) => {
                paired[at] = true;
                push(column, what, value, show(only_found[at]).1);
            }
            None => push(column, what, value, ABSENT.to_owned()),
        }
    }
    for (item, paired) in only_found.iter().zip(paired) {
        if !paired {
            let (column, value) = show(item);
            push(column, what, ABSENT.to_owned(), value);
        }
    }
}

fn describe(column: &ColumnShape) -> String {
    let mut text = format!("{} {}", column.data_type, null_word(column.nullable));
    if let Some(default) = &column.default {
        text.push_str(" DEFAULT ");
        text.push_str(default);
    }
    text
}

fn null_word(nullable: bool) -> String {
    if nullable { "NULL" } else { "NOT NULL" }.to_owned()
}

fn index_word(index: &IndexShape) -> String {
    let mut text = if index.unique {
        format!("unique ({})", index.columns())
    } else {
        format!("({})", index.columns())
    };
    if let Some(predicate) = &index.predicate {
        text.push_str(" WHERE ");
        text.push_str(predicate);
    }
    text
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(", ")
}

/// A type name as the engine prints it, made comparable: lower case, single spaces, and
/// PostgreSQL's long spellings shortened (`character varying(16)` → `varchar(16)`,
/// `timestamp with time zone` → `timestamptz`). SQLite keeps the declared name (its type
/// affinity alone would hide `integer` against `bigint` or a `varchar` length that PostgreSQL
/// enforces), so the two sides must declare the same name.
pub fn normalise_type(name: &str) -> String {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let name = name.to_lowercase();
    [
        ("character varying", "varchar"),
        ("timestamp with time zone", "timestamptz"),
        ("timestamp without time zone", "timestamp"),
        ("time with time zone", "timetz"),
        ("time without time zone", "time"),
    ]
    .iter()
    .fold(name, |name, (long, short)| name.replace(long, short))
}

/// Reads the schema of the database behind `db` from its catalog.
pub async fn snapshot(db: &Db) -> Result<SchemaSnapshot, MigrateError> {
    match db.backend() {
        Backend::Sqlite => sqlite::snapshot(db).await,
        Backend::Postgres => postgres::snapshot(db).await,
    }
}

/// Executes `statements` one by one, in order, outside any transaction: how the SQL an entity
/// declares is applied to a scratch database (and how tests drift one on purpose).
pub async fn execute_script(db: &Db, statements: &[String]) -> Result<(), MigrateError> {
    for statement in statements {
        db.orm_write()
            .execute_unprepared(statement)
            .await
            .map_err(|e| MigrateError::Database(format!("{e} (in `{statement}`)")))?;
    }
    Ok(())
}

async fn rows(db: &Db, sql: &str) -> Result<Vec<QueryResult>, MigrateError> {
    Ok(db
        .orm()
        .query_all_raw(Statement::from_string(db.orm().get_database_backend(), sql))
        .await?)
}

fn get<T: sea_orm_migration::sea_orm::TryGetable>(
    row: &QueryResult,
    column: &str,
) -> Result<T, MigrateError> {
    Ok(row.try_get::<T>("", column)?)
}

/// `'text'` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The bookkeeping table SeaORM's migrator keeps; not part of any context's schema.
const MIGRATIONS_TABLE: &str = "seaql_migrations";

mod postgres {
    use super::*;

    /// Separates list items inside one text value (no identifier or expression contains it).
    const SEP: char = '\u{1f}';

    fn split(list: &str) -> Vec<String> {
        list.split(SEP).map(str::to_owned).collect()
    }

    fn action(code: &str) -> String {
        match code {
            "r" => "RESTRICT",
            "c" => "CASCADE",
            "n" => "SET NULL",
            "d" => "SET DEFAULT",
            _ => "NO ACTION",
        }
        .to_owned()
    }

    pub(super) async fn snapshot(db: &Db) -> Result<SchemaSnapshot, MigrateError> {
        let mut snapshot = SchemaSnapshot::default();
        let columns = format!(
            "SELECT t.relname::text AS table_name, a.attname::text AS column_name, \
             format_type(a.atttypid, a.atttypmod) AS data_type, a.attnotnull AS not_null, \
             pg_get_expr(d.adbin, d.adrelid) AS default_value \
             FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace \
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 \
             AND NOT a.attisdropped \
             LEFT JOIN pg_attrdef d ON d.adrelid = t.oid AND d.adnum = a.attnum \
             WHERE n.nspname = current_schema() AND t.relkind IN ('r', 'p') \
             AND t.relname <> {} ORDER BY t.relname, a.attnum",
            literal(MIGRATIONS_TABLE)
        );
        for row in rows(db, &columns).await? {
            let table = snapshot
                .tables
                .entry(get::<String>(&row, "table_name")?)
                .or_default();
            let Some(column) = get::<Option<String>>(&row, "column_name")? else {
                continue;
            };
            table.columns.insert(
                column,
                ColumnShape {
                    data_type: normalise_type(&get::<String>(&row, "data_type")?),
                    nullable: !get::<bool>(&row, "not_null")?,
                    default: get::<Option<String>>(&row, "default_value")?,
                },
            );
        }

        let indexes = format!(
            "SELECT t.relname::text AS table_name, ix.indisunique AS is_unique, \
             ix.indisprimary AS is_primary, pg_get_expr(ix.indpred, ix.indrelid) AS predicate, \
             (SELECT string_agg(CASE WHEN ix.indkey[k - 1] = 0 THEN 'e' ELSE 'c' END \
                 || pg_get_indexdef(ix.indexrelid, k, true), chr(31) ORDER BY k) \
              FROM generate_series(1, ix.indnkeyatts) AS k) AS keys \
             FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = current_schema() AND t.relname <> {}",
            literal(MIGRATIONS_TABLE)
        );
        for row in rows(db, &indexes).await? {
            let Some(table) = snapshot.tables.get_mut(&get::<String>(&row, "table_name")?) else {
                continue;
            };
            let keys: Vec<IndexKey> = split(&get::<String>(&row, "keys")?)
                .into_iter()
                .map(|key| match key.split_at(1) {
                    ("e", expression) => IndexKey::Expression(expression.to_owned()),
                    (_, column) => IndexKey::Column(column.trim_matches('"').to_owned()),
                })
                .collect();
            if get::<bool>(&row, "is_primary")? {
                table.primary_key = keys.iter().map(ToString::to_string).collect();
            } else {
                table.indexes.insert(IndexShape {
                    keys,
                    unique: get::<bool>(&row, "is_unique")?,
                    predicate: get::<Option<String>>(&row, "predicate")?,
                });
            }
        }

        let attnames = |array: &str, table: &str| {
            format!(
                "(SELECT string_agg(a.attname::text, chr(31) ORDER BY k.ord) \
                 FROM unnest(con.{array}) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = con.{table} AND a.attnum = k.attnum)"
            )
        };
        let constraints = format!(
            "SELECT t.relname::text AS table_name, con.contype::text AS kind, \
             {} AS columns, r.relname::text AS referenced_table, {} AS referenced_columns, \
             con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update, \
             pg_get_constraintdef(con.oid, true) AS definition \
             FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             LEFT JOIN pg_class r ON r.oid = con.confrelid \
             WHERE n.nspname = current_schema() AND con.contype IN ('f', 'c') \
             AND t.relname <> {}",
            attnames("conkey", "conrelid"),
            attnames("confkey", "confrelid"),
            literal(MIGRATIONS_TABLE)
        );
        for row in rows(db, &constraints).await? {
            let Some(table) = snapshot.tables.get_mut(&get::<String>(&row, "table_name")?) else {
                continue;
            };
            let columns = get::<Option<String>>(&row, "columns")?;
            if get::<String>(&row, "kind")? == "f" {
                table.foreign_keys.insert(ForeignKeyShape {
                    columns: split(&columns.unwrap_or_default()),
                    references: get::<Option<String>>(&row, "referenced_table")?
                        .unwrap_or_default(),
                    referenced_columns: split(
                        &get::<Option<String>>(&row, "referenced_columns")?.unwrap_or_default(),
                    ),
                    on_delete: action(&get::<String>(&row, "on_delete")?),
                    on_update: action(&get::<String>(&row, "on_update")?),
                });
            } else {
                table.checks.insert(CheckShape {
                    column: columns.map_or_else(|| "*".to_owned(), |c| join(split(&c).into_iter())),
                    expression: get::<String>(&row, "definition")?,
                });
            }
        }
        Ok(snapshot)
    }
}

mod sqlite {
    use super::*;

    pub(super) async fn snapshot(db: &Db) -> Result<SchemaSnapshot, MigrateError> {
        let mut snapshot = SchemaSnapshot::default();
        let tables = format!(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> {} ORDER BY name",
            literal(MIGRATIONS_TABLE)
        );
        for row in rows(db, &tables).await? {
            let name = get::<String>(&row, "name")?;
            let sql = get::<Option<String>>(&row, "sql")?.unwrap_or_default();
            let table = table_shape(db, &name, &sql).await?;
            snapshot.tables.insert(name, table);
        }
        Ok(snapshot)
    }

    async fn table_shape(db: &Db, name: &str, sql: &str) -> Result<TableShape, MigrateError> {
        let mut table = TableShape::default();
        let mut primary_key = Vec::new();
        let columns = format!(
            "SELECT name, type, \"notnull\" AS not_null, dflt_value, pk \
             FROM pragma_table_info({}) ORDER BY cid",
            literal(name)
        );
        for row in rows(db, &columns).await? {
            let column = get::<String>(&row, "name")?;
            let position = get::<i64>(&row, "pk")?;
            if position > 0 {
                primary_key.push((position, column.clone()));
            }
            table.columns.insert(
                column,
                ColumnShape {
                    data_type: normalise_type(&get::<String>(&row, "type")?),
                    nullable: get::<i64>(&row, "not_null")? == 0,
                    default: get::<Option<String>>(&row, "dflt_value")?,
                },
            );
        }
        primary_key.sort();
        table.primary_key = primary_key.into_iter().map(|(_, c)| c).collect();

        let indexes = format!(
            "SELECT il.name AS name, il.\"unique\" AS is_unique, il.origin AS origin, \
             m.sql AS sql FROM pragma_index_list({}) AS il \
             LEFT JOIN sqlite_master m ON m.type = 'index' AND m.name = il.name",
            literal(name)
        );
        for row in rows(db, &indexes).await? {
            if get::<String>(&row, "origin")? == "pk" {
                continue;
            }
            let index = get::<String>(&row, "name")?;
            let sql = get::<Option<String>>(&row, "sql")?.unwrap_or_default();
            let written = parse_create_index(&sql);
            let parts = format!(
                "SELECT seqno, cid, name FROM pragma_index_xinfo({}) WHERE key = 1 \
                 ORDER BY seqno",
                literal(&index)
            );
            let mut keys = Vec::new();
            for (position, part) in rows(db, &parts).await?.iter().enumerate() {
                let key = match get::<Option<String>>(part, "name")? {
                    Some(column) if get::<i64>(part, "cid")? >= 0 => IndexKey::Column(column),
                    _ => IndexKey::Expression(
                        written
                            .as_ref()
                            .and_then(|(keys, _)| keys.get(position).cloned())
                            .unwrap_or_else(|| "?".to_owned()),
                    ),
                };
                keys.push(key);
            }
            table.indexes.insert(IndexShape {
                keys,
                unique: get::<i64>(&row, "is_unique")? != 0,
                predicate: written.and_then(|(_, predicate)| predicate),
            });
        }

        let foreign_keys = format!(
            "SELECT id, \"table\" AS referenced_table, \"from\" AS from_column, \
             \"to\" AS to_column, on_update, on_delete \
             FROM pragma_foreign_key_list({}) ORDER BY id, seq",
            literal(name)
        );
        let mut by_id: BTreeMap<i64, ForeignKeyShape> = BTreeMap::new();
        for row in rows(db, &foreign_keys).await? {
            let fk = by_id
                .entry(get::<i64>(&row, "id")?)
                .or_insert_with(|| ForeignKeyShape {
                    columns: Vec::new(),
                    references: String::new(),
                    referenced_columns: Vec::new(),
                    on_delete: String::new(),
                    on_update: String::new(),
                });
            fk.columns.push(get::<String>(&row, "from_column")?);
            fk.references = get::<String>(&row, "referenced_table")?;
            fk.referenced_columns
                .push(get::<Option<String>>(&row, "to_column")?.unwrap_or_default());
            fk.on_delete = get::<String>(&row, "on_delete")?.to_uppercase();
            fk.on_update = get::<String>(&row, "on_update")?.to_uppercase();
        }
        table.foreign_keys = by_id.into_values().collect();
        table.checks = checks_of_create_table(sql).into_iter().collect();
        Ok(table)
    }
}

/// SQL text made comparable: identifier quotes dropped, whitespace collapsed, lower case.
fn normalise_sql(text: &str) -> String {
    text.replace(['"', '`'], "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The key parts and `WHERE` clause of a `CREATE INDEX` statement, normalised; `None` when
/// there is no statement (SQLite's own indexes for UNIQUE constraints).
fn parse_create_index(sql: &str) -> Option<(Vec<String>, Option<String>)> {
    let on = find_keyword(sql, "ON")?;
    let open = on + sql[on..].find('(')?;
    let close = closing_paren(sql, open)?;
    let keys = split_top_level(&sql[open + 1..close])
        .into_iter()
        .map(normalise_sql)
        .collect();
    let rest = &sql[close + 1..];
    let predicate = find_keyword(rest, "WHERE").map(|at| normalise_sql(&rest[at + 5..]));
    Some((keys, predicate))
}

/// The CHECK constraints of a SQLite `CREATE TABLE` statement, each attributed to the column
/// whose definition carries it (`*` for a table constraint).
fn checks_of_create_table(sql: &str) -> Vec<CheckShape> {
    let Some(open) = sql.find('(') else {
        return Vec::new();
    };
    let Some(close) = closing_paren(sql, open) else {
        return Vec::new();
    };
    let mut checks = Vec::new();
    for definition in split_top_level(&sql[open + 1..close]) {
        let definition = definition.trim();
        let first = definition
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_matches(['"', '`', '[', ']']);
        let table_constraint = ["CONSTRAINT", "CHECK", "PRIMARY", "FOREIGN", "UNIQUE"]
            .iter()
            .any(|k| {
                first.eq_ignore_ascii_case(k)
                    || first.to_ascii_uppercase().starts_with(&format!("{k}("))
            });
        let column = if table_constraint { "*" } else { first };
        let mut rest = definition;
        while let Some(at) = find_keyword(rest, "CHECK") {
            let Some(open) = rest[at..].find('(').map(|o| at + o) else {
                break;
            };
            let Some(close) = closing_paren(rest, open) else {
                break;
            };
            checks.push(CheckShape {
                column: column.to_owned(),
                expression: format!("CHECK {}", normalise_sql(&rest[open..=close])),
            });
            rest = &rest[close + 1..];
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(data_type: &str, nullable: bool, default: Option<&str>) -> ColumnShape {
        ColumnShape {
            data_type: data_type.to_owned(),
            nullable,
            default: default.map(str::to_owned),
        }
    }

    fn orders() -> TableShape {
        let mut table = TableShape::default();
        table
            .columns
            .insert("id".into(), column("uuid", false, None));
        table
            .columns
            .insert("user_id".into(), column("uuid", false, None));
        table
            .columns
            .insert("version".into(), column("bigint", false, Some("1")));
        table.primary_key = vec!["id".into()];
        table.indexes.insert(IndexShape {
            keys: vec![
                IndexKey::Column("user_id".into()),
                IndexKey::Column("id".into()),
            ],
            unique: false,
            predicate: None,
        });
        table.indexes.insert(IndexShape {
            keys: vec![IndexKey::Column("version".into())],
            unique: false,
            predicate: None,
        });
        table
    }

    fn schema(table: TableShape) -> SchemaSnapshot {
        SchemaSnapshot {
            tables: [("orders".to_owned(), table)].into(),
        }
    }

    #[test]
    fn identical_schemas_agree() {
        assert!(compare(&schema(orders()), &schema(orders()), Scope::Everything).is_empty());
    }

    #[test]
    fn every_column_property_is_named_by_table_and_column() {
        let mut changed = orders();
        changed
            .columns
            .insert("version".into(), column("integer", true, None));
        changed
            .columns
            .insert("note".into(), column("text", true, None));
        let drifts = compare(&schema(orders()), &schema(changed), Scope::Declarable);
        let lines: Vec<String> = drifts
            .iter()
            .map(|d| d.describe("migrations", "entities"))
            .collect();
        assert_eq!(
            lines,
            [
                "orders.note: column: migrations absent, entities text NULL",
                "orders.version: type: migrations bigint, entities integer",
                "orders.version: nullability: migrations NOT NULL, entities NULL",
                "orders.version: default: migrations 1, entities none",
            ]
        );
    }

    #[test]
    fn indexes_compare_by_keys_and_uniqueness_within_scope() {
        let mut changed = orders();
        changed.indexes.clear();
        changed.indexes.insert(IndexShape {
            keys: vec![IndexKey::Column("version".into())],
            unique: true,
            predicate: None,
        });
        // The composite non-unique index is not declarable: out of scope for entities.
        let declarable = compare(
            &schema(orders()),
            &schema(changed.clone()),
            Scope::Declarable,
        );
        assert_eq!(
            declarable
                .iter()
                .map(|d| d.describe("migrations", "entities"))
                .collect::<Vec<_>>(),
            ["orders.version: index: migrations (version), entities unique (version)"]
        );
        let everything = compare(&schema(orders()), &schema(changed), Scope::Everything);
        assert_eq!(everything.len(), 2);
        assert_eq!(everything[0].column, "user_id, id");
        assert_eq!(everything[0].what, Aspect::Index);
        assert_eq!(everything[0].found, ABSENT);
    }

    #[test]
    fn keys_tables_and_checks() {
        let mut changed = orders();
        changed.primary_key = vec!["id".into(), "user_id".into()];
        changed.foreign_keys.insert(ForeignKeyShape {
            columns: vec!["user_id".into()],
            references: "users".into(),
            referenced_columns: vec!["id".into()],
            on_delete: "CASCADE".into(),
            on_update: "NO ACTION".into(),
        });
        changed.checks.insert(CheckShape {
            column: "version".into(),
            expression: "CHECK (version >= 1)".into(),
        });
        let mut found = schema(changed);
        found.tables.insert("extra".into(), TableShape::default());
        let lines: Vec<String> = compare(&schema(orders()), &found, Scope::Everything)
            .iter()
            .map(|d| d.describe("migrations", "live database"))
            .collect();
        assert_eq!(
            lines,
            [
                "extra.*: table: migrations absent, live database present",
                "orders.id: primary key: migrations (id), live database (id, user_id)",
                "orders.user_id: foreign key: migrations absent, live database references \
                 users(id) ON DELETE CASCADE ON UPDATE NO ACTION",
                "orders.version: check constraint: migrations absent, live database \
                 CHECK (version >= 1)",
            ]
        );
        // Checks are out of the declarable scope.
        assert_eq!(
            compare(&schema(orders()), &found, Scope::Declarable).len(),
            3
        );
    }

    #[test]
    fn type_names_are_normalised() {
        assert_eq!(normalise_type("character varying(16)"), "varchar(16)");
        assert_eq!(normalise_type("timestamp with time zone"), "timestamptz");
        assert_eq!(normalise_type("VARCHAR(254)"), "varchar(254)");
        assert_eq!(
            normalise_type("timestamp_with_timezone_text"),
            "timestamp_with_timezone_text"
        );
        assert_eq!(normalise_type("  BIG   INT "), "big int");
    }

    #[test]
    fn sqlite_index_statements_are_parsed() {
        assert_eq!(
            parse_create_index("CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))"),
            Some((vec!["lower(email)".to_owned()], None))
        );
        assert_eq!(
            parse_create_index(
                "CREATE INDEX \"i\" ON \"t\" (\"a\", COALESCE(b, 'x, y')) WHERE  a > 0"
            ),
            Some((
                vec!["a".to_owned(), "coalesce(b, 'x, y')".to_owned()],
                Some("a > 0".to_owned())
            ))
        );
        assert_eq!(parse_create_index(""), None);
    }

    #[test]
    fn sqlite_checks_belong_to_their_column() {
        let sql = "CREATE TABLE \"users\" ( \"id\" blob NOT NULL PRIMARY KEY, \
                   \"status\" varchar(16) NOT NULL CHECK (\"status\" IN ('active', 'x,(y')), \
                   \"checked\" integer, \
                   CONSTRAINT c CHECK (length(id) = 16) )";
        assert_eq!(
            checks_of_create_table(sql),
            [
                CheckShape {
                    column: "status".into(),
                    expression: "CHECK (status in ('active', 'x,(y'))".into(),
                },
                CheckShape {
                    column: "*".into(),
                    expression: "CHECK (length(id) = 16)".into(),
                },
            ]
        );
    }
}
