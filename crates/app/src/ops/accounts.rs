//! `users grant-admin|revoke-admin EMAIL`: roles, over the users and identity contexts'
//! public APIs (never their tables).

use clap::{Args, Subcommand};
use identity::{AccountId, Identity, IdentityConfig, IdentityError, Role};
use persistence::Db;
use users::{Email, Users};

use super::{Outcome, connect};

/// `users ...`
#[derive(Debug, Clone, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Debug, Clone, Subcommand)]
enum UsersCommand {
    /// Make the user with this e-mail an admin (takes effect on the user's next request).
    GrantAdmin {
        /// The user's e-mail address, in any letter case.
        email: String,
    },
    /// Make the admin with this e-mail a customer again (takes effect at once).
    RevokeAdmin {
        /// The user's e-mail address, in any letter case.
        email: String,
    },
}

/// What a role change found.
#[derive(Debug, PartialEq, Eq)]
pub enum RoleChange {
    /// The role is now the one asked for.
    Set,
    /// No user signed up with this address.
    NoSuchUser,
}

/// Gives the user with `email` the `role`, through the contexts' public APIs.
pub async fn set_role(db: &Db, email: &str, role: Role) -> anyhow::Result<RoleChange> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(user) = Users::new(db.clone(), crate::events::user_outbox(Default::default()))
        .find_by_email(&email)
        .await?
    else {
        return Ok(RoleChange::NoSuchUser);
    };
    let identity = Identity::new(db.clone(), IdentityConfig::default());
    match identity
        .set_role(AccountId::from_uuid(user.id.as_uuid()), role)
        .await
    {
        Ok(()) => Ok(RoleChange::Set),
        Err(IdentityError::NotFound(_)) => Ok(RoleChange::NoSuchUser),
        Err(err) => Err(err.into()),
    }
}

/// Runs `users ...`.
pub async fn run(url: &str, args: UsersArgs) -> anyhow::Result<Outcome> {
    let (email, role) = match &args.command {
        UsersCommand::GrantAdmin { email } => (email, Role::Admin),
        UsersCommand::RevokeAdmin { email } => (email, Role::Customer),
    };
    let db = connect(url).await?;
    let change = set_role(&db, email, role).await;
    db.close().await.ok();
    match change? {
        RoleChange::Set => {
            println!("{} is now {}", email.trim(), role);
            Ok(Outcome::Success)
        }
        RoleChange::NoSuchUser => {
            eprintln!("no user has signed up with e-mail {}", email.trim());
            Ok(Outcome::Failed)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use persistence::Backend;
    use users::{DisplayName, NewUser};

    persistence::both_backends!(grant_and_revoke_admin_by_email);

    async fn grant_and_revoke_admin_by_email(backend: Backend) {
        let Some(test) = persistence::testing::TestDatabase::create(backend).await else {
            return;
        };
        let runner = migration::Runner::lock(test.url()).await.unwrap();
        runner.up(None).await.unwrap();
        runner.release().await.unwrap();
        let db = test.db().clone();
        let identity = Identity::new(db.clone(), IdentityConfig::default());
        let tx = db.begin().await.unwrap();
        let user = Users::new(db.clone(), crate::events::user_outbox(Default::default()))
            .register_in(
                &tx,
                NewUser {
                    email: Email::parse("ops@example.com").unwrap(),
                    display_name: DisplayName::parse("Ops").unwrap(),
                },
            )
            .await
            .unwrap();
        let account = AccountId::from_uuid(user.id.as_uuid());
        let password = identity::Password::parse("correct horse battery").unwrap();
        let hash = identity.hash_password(password).await.unwrap();
        identity
            .enroll(&tx, account, &hash, Role::Customer)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        assert_eq!(
            set_role(&db, " OPS@example.com", Role::Admin)
                .await
                .unwrap(),
            RoleChange::Set
        );
        assert_eq!(identity.role_of(account).await.unwrap(), Some(Role::Admin));
        assert_eq!(
            set_role(&db, "ops@example.com", Role::Customer)
                .await
                .unwrap(),
            RoleChange::Set
        );
        assert_eq!(
            identity.role_of(account).await.unwrap(),
            Some(Role::Customer)
        );
        assert_eq!(
            set_role(&db, "nobody@example.com", Role::Admin)
                .await
                .unwrap(),
            RoleChange::NoSuchUser
        );
        assert!(set_role(&db, "not an address", Role::Admin).await.is_err());
    }
}
