//! Sign-in on the wire.

use chrono::{DateTime, Utc};
use identity::IssuedSession;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::check::request_bodies;

/// `POST /v1/sessions`: whatever the client typed; a wrong or unknown pair is a 401, never a
/// hint about which half was wrong.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery"}))]
pub(crate) struct SignInRequest {
    /// The account's e-mail address (compared case-insensitively).
    pub(crate) email: String,
    /// The account's password.
    pub(crate) password: String,
}

request_bodies!(SignInRequest);

/// The one token type the service issues.
#[derive(Serialize, ToSchema)]
pub(crate) enum TokenType {
    /// Send as `Authorization: Bearer <token>`.
    Bearer,
}

/// The one response that ever carries a token.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "token": "q5Yp3Zb2cXf7hN0dLk9WmR4tVs1uJ8eA6gHiOnBwCxE",
    "token_type": "Bearer",
    "expires_at": "2026-11-26T10:00:00Z",
    "user_id": "0192f0c1-8d2e-7c3a-9b4e-1f2a3b4c5d6e"
}))]
pub(crate) struct SessionBody {
    /// The bearer token: 43 characters of base64url; shown once, never retrievable again.
    pub(crate) token: String,
    /// Always `Bearer`.
    pub(crate) token_type: TokenType,
    /// When the token stops working (UTC).
    pub(crate) expires_at: DateTime<Utc>,
    /// The signed-in user.
    pub(crate) user_id: Uuid,
}

impl From<IssuedSession> for SessionBody {
    fn from(session: IssuedSession) -> Self {
        Self {
            token: session.token.as_str().to_owned(),
            token_type: TokenType::Bearer,
            expires_at: session.expires_at,
            user_id: session.account.as_uuid(),
        }
    }
}
