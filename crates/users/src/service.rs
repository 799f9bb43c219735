use std::collections::HashMap;

use persistence::{Db, Outbox, Page, PageRequest, StoreError, Tx, new_id, now_utc};
use persistence_orm::{FromOrm, Orm};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};

use crate::entity::{self, Column, Entity};
use crate::{DisplayName, Email, NewUser, User, UserEvent, UserId, UserStatus, UsersError};

/// The users context's public service.
///
/// Operations that stand alone (`register`, `get`, `list`, `rename`) run on the pool in their
/// own implicit transaction. Operations that are meant to be one step of a larger unit of work
/// (`deactivate`, `lock_standing`) take the caller's [`Tx`]: the signature says who owns the
/// transaction.
///
/// Every change it commits appends its [`UserEvent`] to the outbox in the same transaction
/// (`user.registered`, `user.deactivated`).
#[derive(Debug, Clone)]
pub struct Users {
    db: Db,
    events: Outbox<UserEvent>,
}

impl Users {
    /// A service over the given database, appending its events to `events` (whose encoder the
    /// app supplies: this context does not know the wire format of a user).
    pub fn new(db: Db, events: Outbox<UserEvent>) -> Self {
        Self { db, events }
    }

    /// Registers a user in a transaction of its own. A second registration with the same
    /// address, in any letter case, fails with [`UsersError::EmailTaken`] — decided by the
    /// database's unique index, so it holds under concurrency.
    #[tracing::instrument(name = "users.register", skip_all)]
    pub async fn register(&self, new: NewUser) -> Result<User, UsersError> {
        self.db
            .transaction(async |tx| self.register_in(tx, new).await)
            .await
    }

    /// Registers a user as one step of the caller's transaction (sign-up also writes the
    /// user's credential, which another context owns). Same rules as [`Users::register`].
    #[tracing::instrument(name = "users.register_in", skip_all)]
    pub async fn register_in(&self, tx: &Tx, new: NewUser) -> Result<User, UsersError> {
        let now = now_utc();
        let row = entity::ActiveModel {
            id: Set(new_id()),
            email: Set(new.email.as_str().to_owned()),
            display_name: Set(new.display_name.as_str().to_owned()),
            status: Set(UserStatus::Active.as_str().to_owned()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        match row.insert(tx.orm()).await {
            Ok(model) => {
                let user = to_user(model)?;
                self.events
                    .append(tx, &UserEvent::Registered(user.clone()))
                    .await?;
                Ok(user)
            }
            Err(err) => {
                let err = StoreError::from_orm(err);
                if err.is_unique_violation() {
                    Err(UsersError::EmailTaken)
                } else {
                    Err(err.into())
                }
            }
        }
    }

    /// The user with this address, whatever its status (sign-in looks users up this way;
    /// served by the unique index on `lower(email)`).
    #[tracing::instrument(name = "users.find_by_email", skip_all)]
    pub async fn find_by_email(&self, email: &Email) -> Result<Option<User>, UsersError> {
        Entity::find()
            .filter(Expr::expr(Func::lower(Expr::col(Column::Email))).eq(email.as_str()))
            .one(self.db.orm())
            .await
            .map_err(StoreError::from_orm)?
            .map(to_user)
            .transpose()
    }

    /// One user by id.
    #[tracing::instrument(name = "users.get", skip_all)]
    pub async fn get(&self, id: UserId) -> Result<User, UsersError> {
        find(self.db.orm(), id)
            .await?
            .ok_or(UsersError::NotFound(id))
    }

    /// Whether a user with this id exists, whatever its status.
    #[tracing::instrument(name = "users.exists", skip_all)]
    pub async fn exists(&self, id: UserId) -> Result<bool, UsersError> {
        let found = Entity::find_by_id(id.as_uuid())
            .select_only()
            .column(Column::Id)
            .into_tuple::<uuid::Uuid>()
            .one(self.db.orm())
            .await
            .map_err(StoreError::from_orm)?;
        Ok(found.is_some())
    }

    /// Users in registration order, one keyset page at a time (served by the primary-key
    /// index: no `OFFSET`, no count).
    #[tracing::instrument(name = "users.list", skip_all)]
    pub async fn list(&self, page: PageRequest) -> Result<Page<User>, UsersError> {
        let rows = list_query(page)
            .all(self.db.orm())
            .await
            .map_err(StoreError::from_orm)?;
        let page = Page::from_overfetch(rows, page.limit, |row| row.id);
        let items = page
            .items
            .into_iter()
            .map(to_user)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// Changes the display name, if the caller's copy is current (`expected_version`).
    /// A stale copy yields [`UsersError::VersionConflict`] and changes nothing.
    #[tracing::instrument(name = "users.rename", skip_all)]
    pub async fn rename(
        &self,
        id: UserId,
        expected_version: i64,
        display_name: DisplayName,
    ) -> Result<User, UsersError> {
        let updated = Entity::update_many()
            .col_expr(
                Column::DisplayName,
                Expr::value(display_name.as_str().to_owned()),
            )
            .col_expr(Column::Version, Expr::col(Column::Version).add(1))
            .col_expr(Column::UpdatedAt, Expr::value(now_utc()))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::Version.eq(expected_version))
            .exec_with_returning(self.db.orm_write())
            .await
            .map_err(StoreError::from_orm)?;
        match updated.into_iter().next() {
            Some(model) => to_user(model),
            None => match find(self.db.orm(), id).await? {
                None => Err(UsersError::NotFound(id)),
                Some(current) => Err(UsersError::VersionConflict {
                    expected: expected_version,
                    current: current.version,
                }),
            },
        }
    }

    /// Deactivates a user as one step of the caller's transaction (deactivation also cancels
    /// the user's orders, which another context owns). Deactivating an already deactivated
    /// user changes nothing and returns it as it is.
    #[tracing::instrument(name = "users.deactivate", skip_all)]
    pub async fn deactivate(&self, tx: &Tx, id: UserId) -> Result<User, UsersError> {
        let conn = tx.orm();
        let updated = Entity::update_many()
            .col_expr(
                Column::Status,
                Expr::value(UserStatus::Deactivated.as_str()),
            )
            .col_expr(Column::Version, Expr::col(Column::Version).add(1))
            .col_expr(Column::UpdatedAt, Expr::value(now_utc()))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::Status.eq(UserStatus::Active.as_str()))
            .exec_with_returning(conn)
            .await
            .map_err(StoreError::from_orm)?;
        match updated.into_iter().next() {
            Some(model) => {
                let user = to_user(model)?;
                self.events
                    .append(tx, &UserEvent::Deactivated(user.clone()))
                    .await?;
                Ok(user)
            }
            None => find(conn, id).await?.ok_or(UsersError::NotFound(id)),
        }
    }

    /// The user's status, read under a shared row lock held until `tx` ends, or `None` when
    /// there is no such user.
    ///
    /// This is how another context (orders) checks "is this customer active?" and keeps the
    /// answer true until it commits: on PostgreSQL a concurrent deactivation waits for the lock;
    /// on SQLite every write transaction is `BEGIN IMMEDIATE`, so writers are serialised anyway.
    #[tracing::instrument(name = "users.lock_standing", skip_all)]
    pub async fn lock_standing(
        &self,
        tx: &Tx,
        id: UserId,
    ) -> Result<Option<UserStatus>, UsersError> {
        let status = Entity::find_by_id(id.as_uuid())
            .select_only()
            .column(Column::Status)
            .lock_shared()
            .into_tuple::<String>()
            .one(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        status.as_deref().map(UserStatus::from_stored).transpose()
    }

    /// [`Users::lock_standing`] for many users in one statement, so a bulk load checking
    /// hundreds of customers pays one round trip, not hundreds. Unknown ids are absent from the
    /// answer. The rows are locked in id order (PostgreSQL takes the shared locks as it reads
    /// them, and one order for every caller keeps two bulk loads from waiting on each other in
    /// a cycle with a deactivation).
    #[tracing::instrument(name = "users.lock_standings", skip_all)]
    pub async fn lock_standings(
        &self,
        tx: &Tx,
        ids: &[UserId],
    ) -> Result<HashMap<UserId, UserStatus>, UsersError> {
        let mut standings = HashMap::with_capacity(ids.len());
        let mut ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
        ids.sort_unstable();
        ids.dedup();
        // Bounded statements: SQLite accepts at most 32,766 parameters.
        for chunk in ids.chunks(LOCK_CHUNK) {
            let rows = Entity::find()
                .select_only()
                .column(Column::Id)
                .column(Column::Status)
                .filter(Column::Id.is_in(chunk.iter().copied()))
                .order_by_asc(Column::Id)
                .lock_shared()
                .into_tuple::<(uuid::Uuid, String)>()
                .all(tx.orm())
                .await
                .map_err(StoreError::from_orm)?;
            for (id, status) in rows {
                standings.insert(UserId::from_uuid(id), UserStatus::from_stored(&status)?);
            }
        }
        Ok(standings)
    }
}

/// How many ids one `lock_standings` statement carries.
const LOCK_CHUNK: usize = 10_000;

/// One keyset page: rows strictly after the cursor, in id (= registration) order, plus one
/// extra row to tell whether a next page exists.
pub(crate) fn list_query(page: PageRequest) -> Select<Entity> {
    let query = Entity::find()
        .order_by_asc(Column::Id)
        .limit(page.limit.get() + 1);
    match page.after {
        Some(after) => query.filter(Column::Id.gt(after.key())),
        None => query,
    }
}

async fn find(conn: &impl ConnectionTrait, id: UserId) -> Result<Option<User>, UsersError> {
    Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await
        .map_err(StoreError::from_orm)?
        .map(to_user)
        .transpose()
}

/// Stored rows are trusted: they were valid under the rules of the day they were written, and
/// a rule tightened since must not turn them into errors on read. Only a status this code does
/// not know is a storage fault (it cannot be represented at all).
fn to_user(model: entity::Model) -> Result<User, UsersError> {
    Ok(User {
        id: UserId::from_uuid(model.id),
        email: Email::from_stored(model.email),
        display_name: DisplayName::from_stored(model.display_name),
        status: UserStatus::from_stored(&model.status)?,
        version: model.version,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}
