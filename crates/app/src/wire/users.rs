//! Users on the wire.

use chrono::{DateTime, Utc};
use identity::{Password, Role};
use serde::{Deserialize, Serialize};
use users::{DisplayName, Email, NewUser, User, UserStatus};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Fields;
use super::check::request_bodies;
use crate::AppError;
use crate::workflows::UserView;

/// `POST /v1/users`: sign-up.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "ada@example.com", "display_name": "Ada", "password": "correct horse battery"
}))]
pub(crate) struct SignUpRequest {
    /// The sign-in address; trimmed and lower-cased before it is stored.
    #[schema(max_length = 254, format = Email, example = "ada@example.com")]
    email: String,
    /// How the user is shown; trimmed, no control characters.
    #[schema(min_length = 1, max_length = 100)]
    display_name: String,
    /// 12 to 128 characters; never stored, never returned.
    #[schema(min_length = 12, max_length = 128)]
    password: String,
}

/// `PATCH /v1/users/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"display_name": "Ada Lovelace"}))]
pub(crate) struct RenameUserRequest {
    /// The new name; trimmed, no control characters.
    #[schema(min_length = 1, max_length = 100)]
    display_name: String,
}

request_bodies!(SignUpRequest, RenameUserRequest);

impl SignUpRequest {
    /// The domain's values, or a 422 naming every bad field.
    pub(crate) fn parse(self) -> Result<(NewUser, Password), AppError> {
        match (
            Email::parse(&self.email),
            DisplayName::parse(&self.display_name),
            Password::parse(&self.password),
        ) {
            (Ok(email), Ok(display_name), Ok(password)) => Ok((
                NewUser {
                    email,
                    display_name,
                },
                password,
            )),
            (email, display_name, password) => {
                let mut fields = Fields::default();
                fields.record(email);
                fields.record(display_name);
                fields.record(password);
                Err(fields.into_error())
            }
        }
    }
}

impl RenameUserRequest {
    /// The new name, or a 422.
    pub(crate) fn parse(self) -> Result<DisplayName, AppError> {
        Ok(DisplayName::parse(&self.display_name)?)
    }
}

/// Where a user is in its lifecycle.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum UserStatusBody {
    /// Can sign in and order.
    Active,
    /// Can do neither any more; kept for history.
    Deactivated,
}

/// What a user may do.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RoleBody {
    /// Acts on its own user and orders.
    Customer,
    /// May act on every user and order.
    Admin,
}

/// A user as clients see it: the users context's user plus the identity context's role.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f0c1-8d2e-7c3a-9b4e-1f2a3b4c5d6e",
    "email": "ada@example.com",
    "display_name": "Ada",
    "status": "active",
    "role": "customer",
    "version": 1,
    "created_at": "2026-11-25T10:00:00Z",
    "updated_at": "2026-11-25T10:00:00Z"
}))]
pub(crate) struct UserBody {
    /// Stable id (UUID v7).
    id: Uuid,
    /// Normalised (trimmed, lower-case) address.
    email: String,
    /// Shown name.
    display_name: String,
    /// Lifecycle state.
    status: UserStatusBody,
    /// What the user may do.
    role: RoleBody,
    /// Bumped by every change; the `ETag` is this number in quotes.
    pub(crate) version: i64,
    /// When the user signed up (UTC).
    created_at: DateTime<Utc>,
    /// When the user last changed (UTC).
    updated_at: DateTime<Utc>,
}

impl From<UserView> for UserBody {
    fn from(view: UserView) -> Self {
        let user = UserEventBody::from(&view.user);
        Self {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            status: user.status,
            role: match view.role {
                Role::Customer => RoleBody::Customer,
                Role::Admin => RoleBody::Admin,
            },
            version: user.version,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// A user as users events carry it: [`UserBody`] less the role, which belongs to the identity
/// context. Field for field the same JSON, so a consumer reads one shape.
#[derive(Serialize)]
pub(crate) struct UserEventBody {
    id: Uuid,
    email: String,
    display_name: String,
    status: UserStatusBody,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&User> for UserEventBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            display_name: user.display_name.as_str().to_owned(),
            status: match user.status {
                UserStatus::Active => UserStatusBody::Active,
                UserStatus::Deactivated => UserStatusBody::Deactivated,
            },
            version: user.version,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

impl UserBody {
    /// Where the user lives.
    pub(crate) fn location(&self) -> String {
        format!("/v1/users/{}", self.id)
    }
}

/// A page of users in registration order.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserPage {
    /// Up to `limit` users.
    pub(crate) items: Vec<UserBody>,
    /// Pass as `after` for the next page; `null` on the last page. Valid only for this list.
    pub(crate) next: Option<String>,
}
