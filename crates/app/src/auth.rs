//! Who is calling, and what they may do: the bearer-token extractor and the contract's
//! authorization rules, each a one-line check for a handler.
//!
//! Rules answer in the contract's terms: a resource a customer may not see is *missing* (404,
//! the same `code` as a real miss, so ids cannot be probed); an action a customer may see but
//! not take is 403 `forbidden`.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use identity::{AccountId, Principal, Role};
use orders::{CustomerId, Order, OrdersError};
use users::{UserId, UsersError};

use crate::AppError;
use crate::state::AppState;

/// The authenticated caller of a request. Extracting it answers 401 `unauthenticated` (with
/// `WWW-Authenticate: Bearer`) when the token is missing, malformed, expired or revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The calling user.
    pub user: UserId,
    /// What the caller may do.
    pub role: Role,
}

impl Caller {
    fn from_principal(principal: Principal) -> Self {
        Self {
            user: UserId::from_uuid(principal.account.as_uuid()),
            role: principal.role,
        }
    }

    /// Whether the caller is an operator-appointed admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The caller as the orders context names customers.
    pub fn customer(&self) -> CustomerId {
        CustomerId::from_uuid(self.user.as_uuid())
    }

    /// Admin-only actions: 403 for everyone else.
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    /// A user's own resources: the user and admins see them; for anyone else they do not exist.
    pub fn require_self_or_admin(&self, user: UserId) -> Result<(), AppError> {
        if self.is_admin() || self.user == user {
            Ok(())
        } else {
            Err(UsersError::NotFound(user).into())
        }
    }

    /// An order is visible to its owner and to admins; to anyone else it does not exist.
    pub fn require_owner_or_admin(&self, order: &Order) -> Result<(), AppError> {
        if self.is_admin() || order.customer_id == self.customer() {
            Ok(())
        } else {
            Err(OrdersError::NotFound(order.id).into())
        }
    }

    /// Whose orders a caller's order-changing request may touch: any (`None`) for admins,
    /// only their own for customers.
    pub fn order_scope(&self) -> Option<CustomerId> {
        (!self.is_admin()).then(|| self.customer())
    }
}

/// 403 `forbidden`: the caller may see the resource but not do this to it.
pub fn forbidden() -> AppError {
    AppError::request(
        crate::problems::FORBIDDEN,
        "Your role does not allow this action.",
    )
}

/// The raw bearer token of a request, for the one route that acts on the token itself
/// (sign-out). Deliberately not `Debug`: a token must never reach a log line.
pub struct BearerToken(pub String);

impl FromRequestParts<AppState> for BearerToken {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, AppError> {
        bearer_token(parts)
            .map(|token| Self(token.to_owned()))
            .ok_or(AppError::Identity(identity::IdentityError::Unauthenticated))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer_token(parts).ok_or(identity::IdentityError::Unauthenticated)?;
        let principal = state.identity.authenticate(token).await?;
        let caller = Self::from_principal(principal);
        // The request's span says who called (the id, never the token).
        tracing::Span::current().record("user_id", tracing::field::display(caller.user));
        Ok(caller)
    }
}

/// The caller of a route that anonymous clients may use too (reading the catalog): `None`
/// without an `Authorization` header; a header that carries no valid token is still 401, since
/// its sender meant to authenticate.
pub struct MaybeCaller(pub Option<Caller>);

impl MaybeCaller {
    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.0.is_some_and(|caller| caller.is_admin())
    }
}

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(Self(None));
        }
        Caller::from_request_parts(parts, state)
            .await
            .map(|c| Self(Some(c)))
    }
}

/// `Authorization: Bearer <token>` (scheme case-insensitive, RFC 9110), or `None`.
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The account of a user: the identity context keys credentials by the user's id.
pub fn account_of(user: UserId) -> AccountId {
    AccountId::from_uuid(user.as_uuid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(authorization: Option<&str>) -> Parts {
        let mut request = Request::builder();
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        request.body(()).map(|r| r.into_parts().0).expect("request")
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_nothing_else_is() {
        assert_eq!(bearer_token(&parts(Some("Bearer abc"))), Some("abc"));
        assert_eq!(bearer_token(&parts(Some("bearer  abc "))), Some("abc"));
        assert_eq!(bearer_token(&parts(Some("Basic abc"))), None);
        assert_eq!(bearer_token(&parts(Some("Bearer"))), None);
        assert_eq!(bearer_token(&parts(Some("Bearer "))), None);
        assert_eq!(bearer_token(&parts(None)), None);
    }
}
