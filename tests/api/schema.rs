//! The migrations are written twice (SQLite and PostgreSQL dialects); after all of them both
//! databases have the same tables, columns, nullability and indexes.

use std::collections::BTreeSet;

use pingyi::store::Backend;

use crate::helpers::TestDb;

fn only<T: Ord + Clone>(x: &BTreeSet<T>, y: &BTreeSet<T>) -> Vec<T> {
    x.difference(y).cloned().collect()
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_are_the_same() {
    let sqlite = TestDb::new(Backend::Sqlite).await.unwrap();
    let Some(pg) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let a = sqlite.store().await.schema_shape().await.unwrap();
    let b = pg.store().await.schema_shape().await.unwrap();
    assert!(
        a.tables.len() >= 20,
        "the migrated schema has the application's tables: {:?}",
        a.tables
    );
    assert!(a.tables.contains("responses") && a.tables.contains("findings"));
    assert_eq!(
        (only(&a.tables, &b.tables), only(&b.tables, &a.tables)),
        (vec![], vec![]),
        "tables only on SQLite / only on PostgreSQL"
    );
    let (ca, cb) = (only(&a.columns, &b.columns), only(&b.columns, &a.columns));
    assert!(
        ca.is_empty() && cb.is_empty(),
        "columns (table, column, nullable) only on SQLite: {ca:#?}\nonly on PostgreSQL: {cb:#?}"
    );
    let (ia, ib) = (only(&a.indexes, &b.indexes), only(&b.indexes, &a.indexes));
    assert!(
        ia.is_empty() && ib.is_empty(),
        "indexes (table, columns, unique) only on SQLite: {ia:#?}\nonly on PostgreSQL: {ib:#?}"
    );
}
