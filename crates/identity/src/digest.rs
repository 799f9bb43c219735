//! The one-way digests identity stores instead of secrets and addresses, and token minting.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use crate::{IdentityError, SessionToken};

/// A SHA-256 digest: what the tables hold in place of a token or a login.
pub(crate) type Digest = [u8; 32];

/// A fresh session token (32 bytes from the OS random source) and the digest to store for it.
pub(crate) fn new_token() -> Result<(SessionToken, Digest), IdentityError> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|err| {
        tracing::error!(error = %err, "the OS random source failed");
        IdentityError::Hashing
    })?;
    let token = SessionToken::from_encoded(URL_SAFE_NO_PAD.encode(raw));
    Ok((token, Sha256::digest(raw).into()))
}

/// The stored digest of a token as a client sent it, or `None` when the text cannot be a token
/// this service issued (wrong length, not base64url, non-canonical final character).
///
/// The token's 32 random bytes are hashed, not its text, so each token has exactly one text.
/// A plain (unsalted, fast) hash is enough: the input is 256 random bits, not a password.
pub(crate) fn token_digest(token: &str) -> Option<Digest> {
    if token.len() != SessionToken::LEN {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let raw: [u8; 32] = raw.try_into().ok()?;
    Some(Sha256::digest(raw).into())
}

/// The throttling key of a login: SHA-256 of the address trimmed and lower-cased (as the users
/// context normalises it), so the failures table never holds an e-mail address.
pub(crate) fn login_digest(login: &str) -> Digest {
    Sha256::digest(login.trim().to_lowercase().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_digest_like_when_issued() {
        let (token, digest) = new_token().unwrap();
        assert_eq!(token.as_str().len(), 43);
        assert!(
            token
                .as_str()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(token_digest(token.as_str()), Some(digest));
        let (other, other_digest) = new_token().unwrap();
        assert_ne!(token.as_str(), other.as_str());
        assert_ne!(digest, other_digest);
    }

    #[test]
    fn text_that_cannot_be_a_token_has_no_digest() {
        let (token, _) = new_token().unwrap();
        let text = token.as_str();
        assert_eq!(token_digest(""), None);
        assert_eq!(token_digest(&text[..42]), None);
        assert_eq!(token_digest(&format!("{text}A")), None);
        assert_eq!(token_digest(&format!("{}=", &text[..42])), None);
        assert_eq!(token_digest(&"+".repeat(43)), None);
        assert_eq!(token_digest(&"é".repeat(21)), None);
        // The last character carries 2 unused bits: only the canonical spelling is accepted.
        assert_eq!(token_digest(&format!("{}B", "A".repeat(42))), None);
        assert!(token_digest(&format!("{}A", "A".repeat(42))).is_some());
    }

    #[test]
    fn logins_are_normalised_before_digesting() {
        assert_eq!(
            login_digest("  Ada@Example.COM\t"),
            login_digest("ada@example.com")
        );
        assert_ne!(
            login_digest("ada@example.com"),
            login_digest("bob@example.com")
        );
    }
}
