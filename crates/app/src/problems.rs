//! Every problem `code` the service answers with, in one registry: its status, its title and a
//! sentence for humans.
//!
//! One table serves three readers: [`crate::error`] builds problem documents from it, the
//! OpenAPI document lists each operation's codes from it, and `GET /problems/{code}` (the
//! resolvable `type` of every problem) shows its entry, so the three cannot disagree.

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// One kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The stable machine-readable `code`.
    pub name: &'static str,
    /// The HTTP status it is always answered with.
    pub status: StatusCode,
    /// The problem document's `title`: the same for every occurrence of the code.
    pub title: &'static str,
    /// What it means and what a client can do about it.
    pub about: &'static str,
}

macro_rules! codes {
    ($($ident:ident = $name:literal, $status:ident, $title:literal, $about:literal;)+) => {
        $(
            #[doc = $about]
            pub const $ident: Code = Code {
                name: $name,
                status: StatusCode::$status,
                title: $title,
                about: $about,
            };
        )+
        /// Every code, in the order the registry lists them.
        pub const ALL: &[Code] = &[$($ident),+];
    };
}

codes! {
    MALFORMED_JSON = "malformed_json", BAD_REQUEST, "Malformed JSON",
        "The request body is not valid JSON. Fix the syntax; the detail names the line and column.";
    DUPLICATE_HEADER = "duplicate_header", BAD_REQUEST, "Header sent twice",
        "A header that must appear at most once (Idempotency-Key) was sent more than once. Send it once.";
    BAD_REQUEST = "bad_request", BAD_REQUEST, "Bad request",
        "The request could not be processed as sent.";
    UNAUTHENTICATED = "unauthenticated", UNAUTHORIZED, "Authentication required",
        "The bearer token is missing, malformed, expired or revoked. Sign in (POST /v1/sessions) and send Authorization: Bearer <token>.";
    INVALID_CREDENTIALS = "invalid_credentials", UNAUTHORIZED, "Invalid credentials",
        "The e-mail address or the password is wrong, or the account is deactivated.";
    FORBIDDEN = "forbidden", FORBIDDEN, "Forbidden",
        "Your role does not allow this action on a resource you may see.";
    NOT_FOUND = "not_found", NOT_FOUND, "Not found",
        "No resource lives at this path (unknown route, or an id that is not a UUID).";
    USER_NOT_FOUND = "user_not_found", NOT_FOUND, "User not found",
        "No user you may see has this id.";
    ORDER_NOT_FOUND = "order_not_found", NOT_FOUND, "Order not found",
        "No order you may see has this id.";
    PRODUCT_NOT_FOUND = "product_not_found", NOT_FOUND, "Product not found",
        "No product you may see has this sku (archived products are visible to admins only).";
    METHOD_NOT_ALLOWED = "method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed",
        "This path does not accept this method; the Allow header lists those it does.";
    REQUEST_TIMEOUT = "request_timeout", REQUEST_TIMEOUT, "Request timeout",
        "The request took longer than the service allows and was abandoned. Retry later.";
    EMAIL_TAKEN = "email_taken", CONFLICT, "E-mail address taken",
        "Another account already uses this e-mail address (compared case-insensitively).";
    ILLEGAL_TRANSITION = "illegal_transition", CONFLICT, "Illegal transition",
        "The order's lifecycle does not allow this move from its current status.";
    SKU_TAKEN = "sku_taken", CONFLICT, "Sku taken",
        "Another product (active or archived) already has this sku; skus are never reused.";
    PRICE_CHANGED = "price_changed", CONFLICT, "Price changed",
        "A unit price you sent is not the catalog's current one; \"prices\" lists the current price of every such line. Show the buyer the new prices and place the order again; nothing was reserved.";
    INSUFFICIENT_STOCK = "insufficient_stock", CONFLICT, "Insufficient stock",
        "Not enough units are available: \"shortages\" lists every short line of an order (nothing was reserved), or an adjustment would take on hand below the units reserved or below zero.";
    VERSION_CONFLICT = "version_conflict", PRECONDITION_FAILED, "Version conflict",
        "If-Match names no current version of the resource: someone changed it first. Fetch it again and retry with its ETag.";
    PAYLOAD_TOO_LARGE = "payload_too_large", PAYLOAD_TOO_LARGE, "Payload too large",
        "The request body exceeds 1 MiB.";
    URI_TOO_LONG = "uri_too_long", URI_TOO_LONG, "URI too long",
        "The request target exceeds 8 KiB.";
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type",
        "Send the body as JSON with Content-Type: application/json.";
    VALIDATION_FAILED = "validation_failed", UNPROCESSABLE_ENTITY, "Validation failed",
        "Some fields are missing, unknown or invalid; \"errors\" lists every one with the reason.";
    INVALID_LIMIT = "invalid_limit", UNPROCESSABLE_ENTITY, "Invalid limit",
        "The limit query parameter must be a whole number from 1 to 100.";
    INVALID_CURSOR = "invalid_cursor", UNPROCESSABLE_ENTITY, "Invalid cursor",
        "The after query parameter is not a cursor this service issued for this list. Use the \"next\" value of the list you are paging.";
    UNKNOWN_CUSTOMER = "unknown_customer", UNPROCESSABLE_ENTITY, "Unknown customer",
        "No user has the id the order names, so it cannot order.";
    CUSTOMER_DEACTIVATED = "customer_deactivated", UNPROCESSABLE_ENTITY, "Customer deactivated",
        "The customer's account is deactivated and can no longer order.";
    UNKNOWN_PRODUCT = "unknown_product", UNPROCESSABLE_ENTITY, "Unknown product",
        "A line names a sku that is not on sale (no such product, or archived); \"errors\" names each such line.";
    CURRENCY_NOT_OFFERED = "currency_not_offered", UNPROCESSABLE_ENTITY, "Currency not offered",
        "A line's product has no price in the order's currency; \"errors\" names each such line.";
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused", UNPROCESSABLE_ENTITY, "Idempotency key reused",
        "This Idempotency-Key was already used for a different request. Use a new key for a new request.";
    PRECONDITION_REQUIRED = "precondition_required", PRECONDITION_REQUIRED, "Precondition required",
        "This change needs If-Match with the ETag of the version you are changing.";
    TOO_MANY_ATTEMPTS = "too_many_attempts", TOO_MANY_REQUESTS, "Too many attempts",
        "Too many failed sign-ins for this address; wait the Retry-After seconds.";
    HEADERS_TOO_LARGE = "headers_too_large", REQUEST_HEADER_FIELDS_TOO_LARGE, "Headers too large",
        "The request's headers exceed 16 KiB.";
    INTERNAL_ERROR = "internal_error", INTERNAL_SERVER_ERROR, "Internal error",
        "The server could not complete the request. It has been logged; retry later.";
    DATABASE_UNAVAILABLE = "database_unavailable", SERVICE_UNAVAILABLE, "Database unavailable",
        "The database does not answer, or the service is shutting down.";
}

/// The registry entry of a code name.
pub fn by_name(name: &str) -> Option<Code> {
    ALL.iter().copied().find(|code| code.name == name)
}

/// The problem `type` URI of a code: a path of this service, where `GET` answers a short page
/// about it (relative, so it resolves against whatever address the client used).
pub fn type_uri(code: Code) -> String {
    format!("/problems/{}", code.name)
}

/// An RFC 9457 problem document, with the contract's `code` and, for `validation_failed`,
/// every bad field.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation_failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "email must contain one @; password must be 12 to 128 characters.",
    "code": "validation_failed",
    "errors": [
        {"field": "email", "reason": "must contain one @"},
        {"field": "password", "reason": "must be 12 to 128 characters"}
    ]
}))]
pub struct Problem {
    /// A URI reference naming the kind of problem; `GET` on it (resolved against the
    /// service's address) describes it.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: String,
    /// A short summary, the same for every problem of this `code`.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, in the client's terms.
    pub detail: String,
    /// A stable machine-readable identifier of the kind of problem.
    pub code: String,
    /// Every bad field (with `validation_failed`), or every line at fault (with
    /// `unknown_product` and `currency_not_offered`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub errors: Option<Vec<FieldError>>,
    /// The current price of every line whose sent price differs (only with `price_changed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub prices: Option<Vec<CurrentPrice>>,
    /// Every line that wants more than is available (only with `insufficient_stock` of an
    /// order).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub shortages: Option<Vec<Shortage>>,
}

/// The catalog's current price of an order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CurrentPrice {
    /// The line's sku.
    pub sku: String,
    /// Its current unit price in the order's currency, in minor units.
    pub unit_price_cents: i64,
}

/// An order line that wants more than is available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Shortage {
    /// The line's sku.
    pub sku: String,
    /// Units the line asked for.
    pub requested: i64,
    /// Units available now.
    pub available: i64,
}

/// One bad field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where the field is: a member name, a path into the body such as `items[2].quantity`,
    /// a header name such as `Idempotency-Key`, or `body` for the body as a whole.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldError {
    /// A bad field and why.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl Problem {
    /// The problem document of `code` for one request.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            kind: type_uri(code),
            title: code.title.to_owned(),
            status: code.status.as_u16(),
            detail: detail.into(),
            code: code.name.to_owned(),
            errors: None,
            prices: None,
            shortages: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_unique_snake_case_and_errors() {
        let mut names: Vec<&str> = ALL.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "duplicate code names");
        for code in ALL {
            assert!(
                code.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            assert!(code.status.is_client_error() || code.status.is_server_error());
            assert_eq!(by_name(code.name), Some(*code));
        }
    }
}
