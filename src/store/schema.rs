//! The schema as the database reports it after migrations: tables, columns with their
//! nullability, and indexes by the columns they cover. Both backends describe themselves in the
//! same terms, so a test can show that SQLite and PostgreSQL end up with the same schema (the
//! migrations are written twice, once per dialect).

use std::collections::BTreeSet;

use super::{Pool, Store, StoreResult};

/// One column: `(table, column, nullable)`. A primary-key column counts as not nullable on
/// both backends (SQLite does not mark `INTEGER PRIMARY KEY` as NOT NULL, but it never is).
pub type ColumnShape = (String, String, bool);

/// One secondary index (primary keys excluded): `(table, columns in order, unique)`.
/// Indexes SQLite makes for UNIQUE constraints and PostgreSQL's constraint indexes are
/// included; index names are not compared (each backend names constraint indexes its own way).
pub type IndexShape = (String, Vec<String>, bool);

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SchemaShape {
    pub tables: BTreeSet<String>,
    pub columns: BTreeSet<ColumnShape>,
    pub indexes: BTreeSet<IndexShape>,
}

/// The migration bookkeeping table of sqlx is not part of the application's schema.
const BOOKKEEPING: &str = "_sqlx_migrations";

/// Stands for an index term that is an expression rather than a column.
const EXPRESSION: &str = "(expression)";

impl Store {
    /// The application tables, their columns and indexes as the live database reports them.
    pub async fn schema_shape(&self) -> StoreResult<SchemaShape> {
        let mut shape = SchemaShape::default();
        match &self.pool {
            Pool::Sqlite(p) => {
                let cols: Vec<(String, String, i64, i64)> = sqlx::query_as(
                    "SELECT m.name, c.name, c.\"notnull\", c.pk FROM sqlite_master m \
                     JOIN pragma_table_info(m.name) c \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> $1",
                )
                .bind(BOOKKEEPING)
                .fetch_all(p)
                .await?;
                for (table, column, notnull, pk) in cols {
                    shape.tables.insert(table.clone());
                    shape
                        .columns
                        .insert((table, column, notnull == 0 && pk == 0));
                }
                let idx: Vec<(String, String, i64, String)> = sqlx::query_as(
                    "SELECT m.name, l.name, l.\"unique\", l.origin FROM sqlite_master m \
                     JOIN pragma_index_list(m.name) l \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> $1",
                )
                .bind(BOOKKEEPING)
                .fetch_all(p)
                .await?;
                for (table, index, unique, origin) in idx {
                    if origin == "pk" {
                        continue;
                    }
                    let cols: Vec<Option<String>> =
                        sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                            .bind(&index)
                            .fetch_all(p)
                            .await?;
                    let cols = cols
                        .into_iter()
                        .map(|c| c.unwrap_or_else(|| EXPRESSION.to_owned()))
                        .collect();
                    shape.indexes.insert((table, cols, unique != 0));
                }
            }
            Pool::Pg(p) => {
                let cols: Vec<(String, String, String, bool)> = sqlx::query_as(
                    "SELECT CAST(c.table_name AS TEXT), CAST(c.column_name AS TEXT), \
                     CAST(c.is_nullable AS TEXT), EXISTS ( \
                       SELECT 1 FROM information_schema.table_constraints t \
                       JOIN information_schema.key_column_usage k \
                         ON k.constraint_name = t.constraint_name AND k.table_name = t.table_name \
                       WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = 'public' \
                         AND t.table_name = c.table_name AND k.column_name = c.column_name) \
                     FROM information_schema.columns c \
                     JOIN information_schema.tables tb \
                       ON tb.table_name = c.table_name AND tb.table_schema = c.table_schema \
                     WHERE c.table_schema = 'public' AND tb.table_type = 'BASE TABLE' \
                       AND c.table_name <> $1",
                )
                .bind(BOOKKEEPING)
                .fetch_all(p)
                .await?;
                for (table, column, nullable, pk) in cols {
                    shape.tables.insert(table.clone());
                    shape
                        .columns
                        .insert((table, column, nullable == "YES" && !pk));
                }
                let idx: Vec<(String, Vec<String>, bool)> = sqlx::query_as(
                    "SELECT CAST(t.relname AS TEXT), \
                       ARRAY(SELECT COALESCE(CAST(a.attname AS TEXT), $2) \
                             FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
                             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                             ORDER BY k.ord), \
                       i.indisunique \
                     FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
                     JOIN pg_namespace n ON n.oid = t.relnamespace \
                     WHERE n.nspname = 'public' AND NOT i.indisprimary AND t.relname <> $1",
                )
                .bind(BOOKKEEPING)
                .bind(EXPRESSION)
                .fetch_all(p)
                .await?;
                shape.indexes.extend(idx);
            }
        }
        Ok(shape)
    }
}
