use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use persistence::{Db, StoreError, Tx, new_id, now_utc};
use persistence_orm::{FromOrm, Orm};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::digest::{Digest, login_digest, new_token, token_digest};
use crate::entity::{credentials, sessions, sign_in_failures};
use crate::hashing::Hasher;
use crate::{AccountId, IdentityError, IssuedSession, Password, PasswordHash, Principal, Role};

/// How the identity context behaves; [`IdentityConfig::default`] suits production.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// How long a session token works after sign-in (default 24 h).
    pub session_ttl: chrono::Duration,
    /// How many password hashes may run at once (default: the number of CPUs; 0 counts as 1).
    /// More would only make every sign-in slower; the rest queue.
    pub hash_concurrency: usize,
    /// Failed sign-ins for one login within [`IdentityConfig::failure_window`] after which
    /// further attempts are refused without checking the password (default 10; 0 counts as 1).
    pub max_failed_sign_ins: u32,
    /// How far back failed sign-ins count (default 15 min).
    pub failure_window: chrono::Duration,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            session_ttl: chrono::Duration::hours(24),
            hash_concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_failed_sign_ins: 10,
            failure_window: chrono::Duration::minutes(15),
        }
    }
}

/// What [`Identity::purge_expired`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    /// Sessions past their expiry.
    pub sessions: u64,
    /// Failed sign-ins older than the throttling window.
    pub failures: u64,
}

/// The identity context's public service: credentials, roles, sessions and sign-in throttling.
///
/// Cheap to clone (clones share the pool, the hashing permits and the dummy hash). Operations
/// that are one step of a larger unit of work (`enroll`, `revoke_all`) take the caller's
/// [`Tx`]; the others run on the pool.
#[derive(Clone)]
pub struct Identity {
    db: Db,
    config: Arc<IdentityConfig>,
    hasher: Hasher,
}

/// By hand: shows the settings, never the dummy hash.
impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("config", &self.config)
            .field("hash_concurrency", &self.hasher.concurrency())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A service over the given database.
    pub fn new(db: Db, config: IdentityConfig) -> Self {
        let hasher = Hasher::new(config.hash_concurrency);
        Self {
            db,
            config: Arc::new(config),
            hasher,
        }
    }

    /// How many password hashes (sign-ups, sign-ins) wait for a hashing thread right now: a
    /// queue that stays long means sign-ins are slow and `PASSWORD_HASH_CONCURRENCY` or the
    /// machine is too small. Sampled for the metrics endpoint.
    pub fn hashes_waiting(&self) -> usize {
        self.hasher.waiting()
    }

    /// Hashes a new password, off the async runtime on the bounded set of low-priority hashing
    /// threads, so a flood of sign-ups and sign-ins queues instead of starving other requests.
    /// argon2id with OWASP's recommended parameters (m = 7168 KiB, t = 5, p = 1), a random salt
    /// from the OS, as a PHC string.
    ///
    /// Call it before beginning the transaction that enrolls the account, so no database lock
    /// is held while argon2 runs.
    #[tracing::instrument(name = "identity.hash_password", skip_all)]
    pub async fn hash_password(&self, password: Password) -> Result<PasswordHash, IdentityError> {
        self.hasher.hash(password).await
    }

    /// Stores the credential of a new account, with its role, as one step of the caller's
    /// transaction (sign-up writes the user and the credential together).
    #[tracing::instrument(name = "identity.enroll", skip_all)]
    pub async fn enroll(
        &self,
        tx: &Tx,
        account: AccountId,
        hash: &PasswordHash,
        role: Role,
    ) -> Result<(), IdentityError> {
        let now = now_utc();
        let row = credentials::ActiveModel {
            account_id: Set(account.as_uuid()),
            password_hash: Set(hash.as_phc().to_owned()),
            role: Set(role.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        credentials::Entity::insert(row)
            .exec_without_returning(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        Ok(())
    }

    /// Signs in: checks the password and opens a session.
    ///
    /// `login` is the e-mail address as the client typed it (trimmed and lower-cased here; only
    /// its SHA-256 is stored, as the throttling key). `account` is `None` when the app found no
    /// user with that address, or the user is deactivated.
    ///
    /// 1. Throttling: with `max_failed_sign_ins` failures for this login within the window,
    ///    the attempt is refused with [`IdentityError::TooManyAttempts`] before any hashing.
    /// 2. The account's credential is loaded.
    /// 3. The password is verified with argon2 (bounded, off the runtime), against a dummy
    ///    hash when there is no account or credential: an unknown address, a deactivated
    ///    account and a wrong password take about the same time and give the same error.
    /// 4. A failure is recorded and answered with [`IdentityError::InvalidCredentials`]; a
    ///    success stores the new session (only the token's SHA-256 digest), and when step 1
    ///    saw failures within the window, clears them in the same transaction. Without any,
    ///    the session is one `INSERT` and no transaction: most sign-ins follow no failure,
    ///    and three round trips fewer is CPU the password hashes get instead (older failures
    ///    no longer count and are left to [`Identity::purge_expired`]).
    #[tracing::instrument(name = "identity.sign_in", skip_all)]
    pub async fn sign_in(
        &self,
        login: &str,
        account: Option<AccountId>,
        password: &str,
    ) -> Result<IssuedSession, IdentityError> {
        let key = login_digest(login);
        let failed_recently = self.check_throttle(&key).await?;

        let credential = match account {
            Some(account) => credentials::Entity::find_by_id(account.as_uuid())
                .select_only()
                .column(credentials::Column::PasswordHash)
                .column(credentials::Column::Role)
                .into_tuple::<(String, String)>()
                .one(self.db.orm())
                .await
                .map_err(StoreError::from_orm)?,
            None => None,
        };
        let (stored, role) = match credential {
            Some((phc, role)) => (Some(phc), Some(role)),
            None => (None, None),
        };
        let verified = self.hasher.verify(password, stored).await?;

        let (Some(account), Some(role), true) = (account, role, verified) else {
            sign_in_failures::Entity::insert(sign_in_failures::ActiveModel {
                id: Set(new_id()),
                login_digest: Set(key.to_vec()),
                attempted_at: Set(now_utc()),
            })
            .exec_without_returning(self.db.orm_write())
            .await
            .map_err(StoreError::from_orm)?;
            tracing::info!("sign-in failed");
            return Err(IdentityError::InvalidCredentials);
        };
        let role = Role::from_stored(&role)?;

        let (token, digest) = new_token()?;
        let now = now_utc();
        let expires_at = shift(now, self.config.session_ttl)?;
        let session = sessions::ActiveModel {
            token_digest: Set(digest.to_vec()),
            account_id: Set(account.as_uuid()),
            created_at: Set(now),
            expires_at: Set(expires_at),
        };
        if failed_recently {
            self.db
                .transaction(async |tx| {
                    sign_in_failures::Entity::delete_many()
                        .filter(sign_in_failures::Column::LoginDigest.eq(key.to_vec()))
                        .exec(tx.orm())
                        .await
                        .map_err(StoreError::from_orm)?;
                    sessions::Entity::insert(session)
                        .exec_without_returning(tx.orm())
                        .await
                        .map_err(StoreError::from_orm)?;
                    Ok::<_, IdentityError>(())
                })
                .await?;
        } else {
            sessions::Entity::insert(session)
                .exec_without_returning(self.db.orm_write())
                .await
                .map_err(StoreError::from_orm)?;
        }
        Ok(IssuedSession {
            token,
            account,
            role,
            expires_at,
        })
    }

    /// Refuses the attempt when the login has `max_failed_sign_ins` failures within the window.
    ///
    /// One query reads the newest `max` failures in the window (an index range scan). When
    /// there are that many, the attempt is refused until the oldest of them leaves the window;
    /// reading only `max` rows keeps that exact even when racing attempts recorded more.
    /// Otherwise answers whether the login has any failure within the window.
    async fn check_throttle(&self, key: &Digest) -> Result<bool, IdentityError> {
        let max = self.config.max_failed_sign_ins.max(1);
        let window = self.config.failure_window;
        let now = now_utc();
        let since = shift(now, -window)?;
        let recent: Vec<DateTime<Utc>> = sign_in_failures::Entity::find()
            .select_only()
            .column(sign_in_failures::Column::AttemptedAt)
            .filter(sign_in_failures::Column::LoginDigest.eq(key.to_vec()))
            .filter(sign_in_failures::Column::AttemptedAt.gt(since))
            .order_by_desc(sign_in_failures::Column::AttemptedAt)
            .limit(u64::from(max))
            .into_tuple()
            .all(self.db.orm())
            .await
            .map_err(StoreError::from_orm)?;
        if recent.len() < max as usize {
            return Ok(!recent.is_empty());
        }
        let oldest = recent.last().copied().unwrap_or(now);
        let retry_after = (shift(oldest, window)? - now)
            .to_std()
            .unwrap_or_default()
            .max(std::time::Duration::from_secs(1));
        tracing::info!(
            retry_after_secs = retry_after.as_secs(),
            "sign-in throttled"
        );
        Err(IdentityError::TooManyAttempts { retry_after })
    }

    /// Who holds this bearer token, in one statement (the session joined with its account's
    /// credential, for the role, `WHERE digest = ? AND expires_at > now`). Reading the role
    /// with every request is what makes revoking an admin take effect at once.
    ///
    /// A token that is not 43 base64url characters, unknown, expired or revoked is
    /// [`IdentityError::Unauthenticated`] (the first without touching the database).
    #[tracing::instrument(name = "identity.authenticate", skip_all)]
    pub async fn authenticate(&self, token: &str) -> Result<Principal, IdentityError> {
        let digest = token_digest(token).ok_or(IdentityError::Unauthenticated)?;
        let found = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::AccountId)
            .column(credentials::Column::Role)
            .inner_join(credentials::Entity)
            .filter(sessions::Column::TokenDigest.eq(digest.to_vec()))
            .filter(sessions::Column::ExpiresAt.gt(now_utc()))
            .into_tuple::<(Uuid, String)>()
            .one(self.db.orm())
            .await
            .map_err(StoreError::from_orm)?;
        let (account, role) = found.ok_or(IdentityError::Unauthenticated)?;
        Ok(Principal {
            account: AccountId::from_uuid(account),
            role: Role::from_stored(&role)?,
        })
    }

    /// Signs out: deletes this token's session, so it stops working at once on every instance.
    /// Returns whether a live one was removed (a malformed or expired token never matches).
    #[tracing::instrument(name = "identity.sign_out", skip_all)]
    pub async fn sign_out(&self, token: &str) -> Result<bool, IdentityError> {
        let Some(digest) = token_digest(token) else {
            return Ok(false);
        };
        // Only a live session counts: an expired one is left to the purge, so signing out
        // with it is refused exactly like using it would be. One statement either way.
        let deleted = sessions::Entity::delete_many()
            .filter(sessions::Column::TokenDigest.eq(digest.to_vec()))
            .filter(sessions::Column::ExpiresAt.gt(now_utc()))
            .exec(self.db.orm_write())
            .await
            .map_err(StoreError::from_orm)?;
        Ok(deleted.rows_affected > 0)
    }

    /// Revokes every session of the account as one step of the caller's transaction
    /// (deactivation signs the user out everywhere, or not at all); returns how many.
    #[tracing::instrument(name = "identity.revoke_all", skip_all)]
    pub async fn revoke_all(&self, tx: &Tx, account: AccountId) -> Result<u64, IdentityError> {
        let deleted = sessions::Entity::delete_many()
            .filter(sessions::Column::AccountId.eq(account.as_uuid()))
            .exec(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        Ok(deleted.rows_affected)
    }

    /// The role of one account, or `None` when it has no credential.
    #[tracing::instrument(name = "identity.role_of", skip_all)]
    pub async fn role_of(&self, account: AccountId) -> Result<Option<Role>, IdentityError> {
        let role = credentials::Entity::find_by_id(account.as_uuid())
            .select_only()
            .column(credentials::Column::Role)
            .into_tuple::<String>()
            .one(self.db.orm())
            .await
            .map_err(StoreError::from_orm)?;
        role.as_deref().map(Role::from_stored).transpose()
    }

    /// The roles of many accounts in one query (a list page must not cost a query per row);
    /// accounts without a credential are absent from the map. No accounts, no query.
    #[tracing::instrument(name = "identity.roles_of", skip_all)]
    pub async fn roles_of(
        &self,
        accounts: &[AccountId],
    ) -> Result<HashMap<AccountId, Role>, IdentityError> {
        if accounts.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = credentials::Entity::find()
            .select_only()
            .column(credentials::Column::AccountId)
            .column(credentials::Column::Role)
            .filter(credentials::Column::AccountId.is_in(accounts.iter().map(AccountId::as_uuid)))
            .into_tuple::<(Uuid, String)>()
            .all(self.db.orm())
            .await
            .map_err(StoreError::from_orm)?;
        rows.into_iter()
            .map(|(id, role)| Ok((AccountId::from_uuid(id), Role::from_stored(&role)?)))
            .collect()
    }

    /// Gives an account a role (the operator verbs grant-admin / revoke-admin). Takes effect
    /// on the account's next request; [`IdentityError::NotFound`] when it has no credential.
    #[tracing::instrument(name = "identity.set_role", skip_all)]
    pub async fn set_role(&self, account: AccountId, role: Role) -> Result<(), IdentityError> {
        let updated = credentials::Entity::update_many()
            .col_expr(credentials::Column::Role, Expr::value(role.as_str()))
            .col_expr(credentials::Column::UpdatedAt, Expr::value(now_utc()))
            .filter(credentials::Column::AccountId.eq(account.as_uuid()))
            .exec(self.db.orm_write())
            .await
            .map_err(StoreError::from_orm)?;
        if updated.rows_affected == 0 {
            return Err(IdentityError::NotFound(account));
        }
        tracing::info!(%account, %role, "role changed");
        Ok(())
    }

    /// Purges sessions that expired at or before `now` and failed sign-ins older than this
    /// service's throttling window (two `DELETE`s, each served by an index). Housekeeping,
    /// not correctness: expired sessions never authenticate and old failures never count.
    #[tracing::instrument(name = "identity.purge_expired", skip_all)]
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<Purged, IdentityError> {
        purge(self.db.orm_write(), now, self.config.failure_window).await
    }
}

/// [`Identity::purge_expired`] for maintenance jobs that have only a [`Db`] (`cargo xtask
/// purge-sessions`), with the default throttling window.
#[tracing::instrument(name = "identity.purge_expired", skip_all)]
pub async fn purge_expired(db: &Db, now: DateTime<Utc>) -> Result<Purged, IdentityError> {
    purge(
        db.orm_write(),
        now,
        IdentityConfig::default().failure_window,
    )
    .await
}

async fn purge(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    failure_window: chrono::Duration,
) -> Result<Purged, IdentityError> {
    let sessions = sessions::Entity::delete_many()
        .filter(sessions::Column::ExpiresAt.lte(now))
        .exec(conn)
        .await
        .map_err(StoreError::from_orm)?
        .rows_affected;
    let failures = sign_in_failures::Entity::delete_many()
        .filter(sign_in_failures::Column::AttemptedAt.lte(shift(now, -failure_window)?))
        .exec(conn)
        .await
        .map_err(StoreError::from_orm)?
        .rows_affected;
    Ok(Purged { sessions, failures })
}

/// `at + by`, at the microsecond precision both engines store; an out-of-range result (a
/// misconfigured duration) is a storage-level error, not a panic.
fn shift(at: DateTime<Utc>, by: chrono::Duration) -> Result<DateTime<Utc>, IdentityError> {
    at.checked_add_signed(by)
        .map(|t| t.trunc_subsecs(6))
        .ok_or_else(|| StoreError::other("timestamp out of range").into())
}
