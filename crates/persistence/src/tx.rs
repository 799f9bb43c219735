use std::time::Duration;

use persistence_orm::{DeadlineExpired, FromOrm, HoldsConnection, Transaction, within};
use sea_orm::DatabaseTransaction;

use crate::observe::TxObserver;
use crate::{Backend, StoreError};

/// A transaction owned by whoever called [`crate::Db::begin`].
///
/// Context operations that must commit or fail together take `&Tx`, so the caller decides
/// where the unit of work begins and ends. Dropping a `Tx` without [`Tx::commit`] rolls it back,
/// which is what makes `?` inside a unit of work safe.
#[derive(Debug)]
pub struct Tx {
    inner: Transaction,
    backend: Backend,
    /// The transaction's span and clock; a `Tx` dropped uncommitted records a rollback.
    observer: TxObserver,
}

impl Tx {
    pub(crate) fn new(
        inner: DatabaseTransaction,
        backend: Backend,
        deadline: Option<Duration>,
        observer: TxObserver,
    ) -> Self {
        Self {
            inner: Transaction::new(inner, deadline),
            backend,
            observer,
        }
    }

    /// Makes every write of this transaction durable and visible.
    ///
    /// `COMMIT` has the client-side deadline of every statement. A transaction one of whose
    /// statements outlived it is not committed at all but dropped (rolled back), since that
    /// statement's outcome is unknown; so is one whose `COMMIT` outlives it, on the server
    /// unless the `COMMIT` got there first. Either way the answer is
    /// [`crate::StoreErrorKind::Unavailable`].
    pub async fn commit(self) -> Result<(), StoreError> {
        let mut observer = self.observer;
        let deadline = self.inner.deadline();
        let committed = if self.inner.expired() {
            // Dropping it queues the ROLLBACK; the pool sends it before reusing the connection.
            drop(self.inner);
            Err(DeadlineExpired {
                after: deadline.unwrap_or_default(),
            }
            .into())
        } else {
            within(deadline, self.inner.into_inner().commit()).await
        };
        observer.end(if committed.is_ok() {
            "commit"
        } else {
            "rollback"
        });
        committed.map_err(StoreError::from_orm)
    }

    /// Discards every write of this transaction. Dropping does the same; this form reports
    /// failures.
    ///
    /// After a statement outlived the client-side deadline it does not wait for the link that
    /// failed to answer: the transaction is dropped, which queues the `ROLLBACK` for the pool
    /// to send before anyone reuses the connection (sqlx closes it instead if the link breaks).
    pub async fn rollback(self) -> Result<(), StoreError> {
        let mut observer = self.observer;
        let rolled_back = if self.inner.expired() {
            drop(self.inner);
            Ok(())
        } else {
            let deadline = self.inner.deadline();
            within(deadline, self.inner.into_inner().rollback()).await
        };
        observer.end("rollback");
        rolled_back.map_err(StoreError::from_orm)
    }

    /// The engine behind this transaction.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// How context crates reach the transaction (through `persistence_orm::Orm`); nothing else can
/// name the trait.
impl HoldsConnection for Tx {
    type Held = Transaction;

    fn held(&self) -> &Transaction {
        &self.inner
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use persistence_orm::Orm;
    use sea_orm::{ConnectionTrait, Statement};

    use crate::testing::TestDatabase;
    use crate::{Backend, Db, StoreError};

    crate::both_backends!(
        dropping_an_uncommitted_transaction_rolls_it_back,
        commit_makes_writes_visible,
        closure_form_commits_on_ok_and_rolls_back_on_err
    );

    async fn setup(backend: Backend) -> Option<TestDatabase> {
        let test = TestDatabase::create(backend).await?;
        test.db()
            .orm_write()
            .execute_unprepared("CREATE TABLE notes (body TEXT NOT NULL)")
            .await
            .unwrap();
        Some(test)
    }

    async fn insert(tx: &crate::Tx, body: &str) {
        let sql = format!("INSERT INTO notes (body) VALUES ('{body}')");
        tx.orm().execute_unprepared(&sql).await.unwrap();
    }

    /// Rows in the tests' `notes` table.
    pub(crate) async fn count(db: &Db) -> i64 {
        let stmt = Statement::from_string(
            db.orm().get_database_backend(),
            "SELECT COUNT(*) AS n FROM notes",
        );
        let row = db.orm().query_one_raw(stmt).await.unwrap().unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    async fn dropping_an_uncommitted_transaction_rolls_it_back(backend: Backend) {
        let Some(test) = setup(backend).await else {
            return;
        };
        {
            let tx = test.db().begin().await.unwrap();
            insert(&tx, "half-written").await;
            // tx goes out of scope without commit
        }
        assert_eq!(count(test.db()).await, 0);
        // The connection went back to the pool usable: a new transaction works.
        let tx = test.db().begin().await.unwrap();
        insert(&tx, "after").await;
        tx.commit().await.unwrap();
        assert_eq!(count(test.db()).await, 1);
    }

    async fn commit_makes_writes_visible(backend: Backend) {
        let Some(test) = setup(backend).await else {
            return;
        };
        let tx = test.db().begin().await.unwrap();
        insert(&tx, "one").await;
        insert(&tx, "two").await;
        tx.commit().await.unwrap();
        assert_eq!(count(test.db()).await, 2);
        let tx = test.db().begin().await.unwrap();
        insert(&tx, "three").await;
        tx.rollback().await.unwrap();
        assert_eq!(count(test.db()).await, 2);
    }

    async fn closure_form_commits_on_ok_and_rolls_back_on_err(backend: Backend) {
        let Some(test) = setup(backend).await else {
            return;
        };
        let kept: Result<u8, StoreError> = test
            .db()
            .transaction(async |tx| {
                insert(tx, "kept").await;
                Ok(7)
            })
            .await;
        assert_eq!(kept.unwrap(), 7);
        let failed: Result<(), StoreError> = test
            .db()
            .transaction(async |tx| {
                insert(tx, "discarded").await;
                Err(StoreError::other("business rule said no"))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(count(test.db()).await, 1);
    }
}
