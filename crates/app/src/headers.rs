//! The request headers the contract gives meaning to: `If-Match` (against the strong `ETag`s
//! of our versions) and `Idempotency-Key`.

use axum::http::{HeaderMap, header};
use orders::IdempotencyKey;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};

use crate::AppError;
use crate::problems::{self, FieldError};

/// An `If-Match` precondition (RFC 9110 §13.1.1) against our versions, whose strong ETags are
/// `"<version>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version of an existing resource.
    Any,
    /// A list of entity tags; only the strong ones that name a version can ever match
    /// (comparison is strong, so `W/"1"` never does).
    Versions(Vec<i64>),
}

/// Documents the optional `If-Match` of the order transitions (`PATCH /v1/users/{id}`, where
/// it is required, declares its own).
impl IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Apply only if the order is at this version: its ETag, a list of ETags, \
                     or `*`. Compared strongly: `W/` tags never match.",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .example(Some(Value::String("\"1\"".to_owned())))
                .build(),
        ]
    }
}

impl IfMatch {
    /// The header's precondition, or `None` without one. Several `If-Match` lines form one
    /// list, as RFC 9110 says.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let values: Vec<&[u8]> = headers
            .get_all(header::IF_MATCH)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        if values.is_empty() {
            return None;
        }
        if let [only] = values.as_slice()
            && only.trim_ascii() == b"*"
        {
            return Some(Self::Any);
        }
        let versions = values.iter().flat_map(|v| strong_tags(v)).collect();
        Some(Self::Versions(versions))
    }

    /// Whether a resource at `current` satisfies the precondition.
    pub fn matches(&self, current: i64) -> bool {
        match self {
            Self::Any => true,
            Self::Versions(versions) => versions.contains(&current),
        }
    }

    /// The one version a conditional update can check on its own (a single strong tag), so
    /// the common case costs no extra read.
    fn single(&self) -> Option<i64> {
        match self {
            Self::Versions(versions) if versions.len() == 1 => Some(versions[0]),
            _ => None,
        }
    }
}

/// The versions named by the strong entity tags of one `If-Match` field value. Weak tags,
/// tags that are not one of our versions and malformed members are skipped: none can match.
fn strong_tags(value: &[u8]) -> Vec<i64> {
    let mut versions = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_ascii_start();
        while let [b',', tail @ ..] = rest {
            rest = tail.trim_ascii_start();
        }
        if rest.is_empty() {
            return versions;
        }
        let weak = rest.starts_with(b"W/");
        let tag = if weak { &rest[2..] } else { rest };
        let Some(after_quote) = tag.strip_prefix(b"\"") else {
            // Not an entity tag: skip to the next member.
            let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
            rest = &rest[end..];
            continue;
        };
        let Some(close) = after_quote.iter().position(|&b| b == b'"') else {
            return versions;
        };
        let opaque = &after_quote[..close];
        rest = &after_quote[close + 1..];
        if !weak
            && let Some(version) = std::str::from_utf8(opaque)
                .ok()
                .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|text| text.parse().ok())
        {
            versions.push(version);
        }
    }
}

/// The version a change that requires `If-Match` may assume (RFC 9110 evaluation, see
/// [`if_match_version`]). Without the header the resource is still read first, so a missing
/// resource is 404 and only an existing one is 428.
pub async fn required_version<F>(condition: Option<IfMatch>, current: F) -> Result<i64, AppError>
where
    F: Future<Output = Result<i64, AppError>>,
{
    let Some(condition) = condition else {
        current.await?;
        return Err(AppError::request(
            problems::PRECONDITION_REQUIRED,
            "Send If-Match with the ETag of the version you are changing.",
        ));
    };
    if_match_version(condition, current).await
}

/// The version a change with an optional `If-Match` may assume; `None` without the header.
pub async fn optional_version<F>(
    condition: Option<IfMatch>,
    current: F,
) -> Result<Option<i64>, AppError>
where
    F: Future<Output = Result<i64, AppError>>,
{
    match condition {
        None => Ok(None),
        Some(condition) => if_match_version(condition, current).await.map(Some),
    }
}

/// Evaluates `If-Match` per RFC 9110. A single strong tag is handed to the conditional update
/// as is: it answers 404 for a missing resource and 412 for a stale one, in one statement.
/// Otherwise the resource is read first (`current` answers 404 for a missing or invisible
/// resource before any precondition is looked at); a list or `*` that matches yields the
/// current version, so the update still guards against a concurrent change, and one that does
/// not is 412.
async fn if_match_version<F>(condition: IfMatch, current: F) -> Result<i64, AppError>
where
    F: Future<Output = Result<i64, AppError>>,
{
    if let Some(version) = condition.single() {
        return Ok(version);
    }
    let current = current.await?;
    if condition.matches(current) {
        Ok(current)
    } else {
        Err(AppError::request(
            problems::VERSION_CONFLICT,
            "If-Match names no current version of this resource; fetch it again for its ETag.",
        ))
    }
}

/// The `Idempotency-Key` of a request: at most one (two are ambiguous, so 400), of 1 to 255
/// visible ASCII characters (else 422 naming the header).
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, AppError> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AppError::request(
            problems::DUPLICATE_HEADER,
            "Send Idempotency-Key once: with two keys it is unclear which request this is.",
        ));
    }
    let invalid =
        |reason: &str| AppError::Validation(vec![FieldError::new("Idempotency-Key", reason)]);
    let text = value
        .to_str()
        .map_err(|_| invalid("must be visible ASCII characters only"))?;
    IdempotencyKey::parse(text).map(Some).map_err(|err| {
        match AppError::from(err).into_field_errors() {
            Ok(errors) => AppError::Validation(
                errors
                    .into_iter()
                    .map(|e| FieldError::new("Idempotency-Key", e.reason))
                    .collect(),
            ),
            Err(other) => other,
        }
    })
}

/// The `ETag` value for a version: a strong tag.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn if_match(values: &[&str]) -> Option<IfMatch> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::IF_MATCH, HeaderValue::from_str(value).unwrap());
        }
        IfMatch::from_headers(&headers)
    }

    #[test]
    fn if_match_follows_rfc_9110() {
        assert_eq!(if_match(&[]), None);
        assert_eq!(if_match(&["*"]), Some(IfMatch::Any));
        assert_eq!(if_match(&["\"3\""]), Some(IfMatch::Versions(vec![3])));
        // Strong comparison: weak tags never match.
        assert_eq!(if_match(&["W/\"4\""]), Some(IfMatch::Versions(vec![])));
        assert_eq!(
            if_match(&["\"1\", W/\"2\",\"3\""]),
            Some(IfMatch::Versions(vec![1, 3]))
        );
        assert_eq!(
            if_match(&["\"1\"", "\"5\""]),
            Some(IfMatch::Versions(vec![1, 5]))
        );
        // Malformed members and foreign tags cannot match, but do not hide the others.
        assert_eq!(
            if_match(&["3, \"x\", \"7\", \"-1\", \"8"]),
            Some(IfMatch::Versions(vec![7]))
        );
        assert!(IfMatch::Any.matches(9));
        assert!(!IfMatch::Versions(vec![]).matches(1));
        assert_eq!(etag(7), "\"7\"");
    }
}
