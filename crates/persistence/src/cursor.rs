use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

const CURSOR_PREFIX: &[u8] = b"k1:";

/// Format version of sealed tokens (the first byte), so the format can change later.
const SEALED_VERSION: u8 = 2;
/// The first byte of sealed tokens whose key is text (a sku) rather than a UUID.
const SEALED_TEXT_VERSION: u8 = 3;
/// The longest text key a token carries.
const MAX_TEXT_KEY: usize = 256;
/// Bytes of the HMAC-SHA-256 tag kept in a sealed token: 128 bits is far beyond guessing
/// within any request budget, and keeps tokens at 44 characters.
const TAG_LEN: usize = 16;
/// Separates this use of the key from any other use of the same secret.
const DOMAIN: &[u8] = b"orders-backend/cursor\0";

/// An opaque position in a keyset-paginated list: "everything strictly after this key".
///
/// Clients see only a URL-safe token; the key inside (today a UUID v7 primary key, tagged with a
/// format version) can change without breaking them.
///
/// ```
/// use persistence::Cursor;
/// let id = uuid::Uuid::now_v7();
/// let token = Cursor::after_key(id).encode();
/// assert_eq!(Cursor::decode(&token).unwrap().key(), id);
/// assert!(Cursor::decode("not-a-cursor").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(Uuid);

/// A cursor token that this service did not issue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not one this service issued")]
pub struct CursorError;

impl Cursor {
    /// The cursor that resumes after the row with this key.
    pub fn after_key(key: Uuid) -> Self {
        Self(key)
    }

    /// The key of the last row already seen.
    pub fn key(&self) -> Uuid {
        self.0
    }

    /// The unsigned, unbound token: fine between trusted parts of the system (tests, tools);
    /// clients get [`CursorCodec::seal`]ed tokens instead.
    pub fn encode(&self) -> String {
        let mut raw = CURSOR_PREFIX.to_vec();
        raw.extend_from_slice(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Parses a token from [`Cursor::encode`]; anything else is a [`CursorError`].
    pub fn decode(token: &str) -> Result<Self, CursorError> {
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| CursorError)?;
        let key = raw.strip_prefix(CURSOR_PREFIX).ok_or(CursorError)?;
        Uuid::from_slice(key).map(Self).map_err(|_| CursorError)
    }
}

/// Seals cursors for clients and opens them again: a token is bound to the list it came from
/// and authenticated with HMAC-SHA-256 under a server-side secret.
///
/// A cursor from one list used on another (another user's orders, the user list), or a token
/// with any bit changed, fails to open, so a client gets an error instead of a silently wrong
/// page, and cannot forge a position it was never given.
///
/// ```
/// use persistence::{Cursor, CursorCodec};
/// let codec = CursorCodec::new(b"a secret of at least 32 bytes....").unwrap();
/// let id = uuid::Uuid::now_v7();
/// let token = codec.seal(Cursor::after_key(id), "users");
/// assert_eq!(codec.open(&token, "users").unwrap().key(), id);
/// assert!(codec.open(&token, "orders-of:someone").is_err());
/// ```
#[derive(Clone)]
pub struct CursorCodec {
    mac: Hmac<Sha256>,
}

/// A cursor secret shorter than [`CursorCodec::MIN_SECRET_LEN`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cursor secret must be at least {min} bytes", min = CursorCodec::MIN_SECRET_LEN)]
pub struct CursorSecretError;

impl CursorCodec {
    /// The shortest accepted secret: 256 bits.
    pub const MIN_SECRET_LEN: usize = 32;

    /// A codec keyed with `secret` (every instance of a service must share it for their
    /// cursors to work on each other).
    pub fn new(secret: &[u8]) -> Result<Self, CursorSecretError> {
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(CursorSecretError);
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| CursorSecretError)?;
        Ok(Self { mac })
    }

    /// A codec with a fresh random secret from the OS: cursors then work only on this
    /// process, until it stops.
    pub fn random() -> std::io::Result<Self> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(std::io::Error::other)?;
        Self::new(&secret).map_err(std::io::Error::other)
    }

    /// The MAC over the list's name (length-prefixed, so no two lists share an input) and the
    /// token's body.
    fn mac_of(&self, list: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(DOMAIN);
        mac.update(&(list.len() as u64).to_be_bytes());
        mac.update(list.as_bytes());
        mac.update(body);
        mac
    }

    /// The token a client gets for `cursor` in the list named `list` (for example `users`, or
    /// `orders-of:<user id>`).
    pub fn seal(&self, cursor: Cursor, list: &str) -> String {
        let mut raw = Vec::with_capacity(1 + 16 + TAG_LEN);
        raw.push(SEALED_VERSION);
        raw.extend_from_slice(cursor.0.as_bytes());
        let tag = self.mac_of(list, &raw).finalize().into_bytes();
        raw.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The cursor inside a token that [`CursorCodec::seal`] made for the same `list` with the
    /// same secret; anything else is a [`CursorError`]. The tag is compared in constant time.
    pub fn open(&self, token: &str, list: &str) -> Result<Cursor, CursorError> {
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| CursorError)?;
        if raw.len() != 1 + 16 + TAG_LEN || raw[0] != SEALED_VERSION {
            return Err(CursorError);
        }
        let (body, tag) = raw.split_at(1 + 16);
        self.mac_of(list, body)
            .verify_truncated_left(tag)
            .map_err(|_| CursorError)?;
        Uuid::from_slice(&body[1..])
            .map(Cursor)
            .map_err(|_| CursorError)
    }
}

impl CursorCodec {
    /// The token a client gets for "after the row keyed `key`" in a list ordered by a text
    /// key (the catalog's products, in sku order), bound to `list` like [`CursorCodec::seal`].
    pub fn seal_text(&self, key: &str, list: &str) -> String {
        let mut raw = Vec::with_capacity(1 + key.len() + TAG_LEN);
        raw.push(SEALED_TEXT_VERSION);
        raw.extend_from_slice(key.as_bytes());
        let tag = self.mac_of(list, &raw).finalize().into_bytes();
        raw.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The text key inside a token that [`CursorCodec::seal_text`] made for the same `list`
    /// with the same secret; anything else (a UUID cursor included) is a [`CursorError`].
    pub fn open_text(&self, token: &str, list: &str) -> Result<String, CursorError> {
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| CursorError)?;
        if raw.len() <= 1 + TAG_LEN
            || raw.len() > 1 + MAX_TEXT_KEY + TAG_LEN
            || raw[0] != SEALED_TEXT_VERSION
        {
            return Err(CursorError);
        }
        let (body, tag) = raw.split_at(raw.len() - TAG_LEN);
        self.mac_of(list, body)
            .verify_truncated_left(tag)
            .map_err(|_| CursorError)?;
        String::from_utf8(body[1..].to_vec()).map_err(|_| CursorError)
    }
}

impl fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorCodec(<secret>)")
    }
}

/// A page size, validated once: 1..=100, default 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u16);

/// A page size outside 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("limit must be between {min} and {max}", min = Limit::MIN, max = Limit::MAX)]
pub struct LimitError;

impl Limit {
    /// The smallest page.
    pub const MIN: u16 = 1;
    /// The largest page: bounds the work one request can ask for.
    pub const MAX: u16 = 100;
    /// The page size when the client names none.
    pub const DEFAULT: Limit = Limit(20);

    /// Validates a requested page size.
    pub fn new(value: i64) -> Result<Self, LimitError> {
        u16::try_from(value)
            .ok()
            .filter(|v| (Self::MIN..=Self::MAX).contains(v))
            .map(Self)
            .ok_or(LimitError)
    }

    /// The size as a number of rows.
    pub fn get(&self) -> u64 {
        u64::from(self.0)
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What a caller asks of a paginated list: how many, and after which row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The page size.
    pub limit: Limit,
    /// Resume after this position; `None` starts at the beginning.
    pub after: Option<Cursor>,
}

/// One page of a keyset-paginated list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows of this page, in the list's stable order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row, if present, proves there
    /// is a next page without a second `COUNT` query.
    pub fn from_overfetch(mut rows: Vec<T>, limit: Limit, key: impl Fn(&T) -> Uuid) -> Self {
        let limit = usize::from(limit.0);
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|row| Cursor::after_key(key(row)))
        } else {
            None
        };
        Self { items: rows, next }
    }

    /// Converts the rows, keeping the position.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_foreign_tokens() {
        let id = Uuid::now_v7();
        let token = Cursor::after_key(id).encode();
        assert_eq!(Cursor::decode(&token), Ok(Cursor::after_key(id)));
        assert_eq!(Cursor::decode(""), Err(CursorError));
        assert_eq!(Cursor::decode("!!!"), Err(CursorError));
        // Right length and alphabet, wrong prefix.
        let forged = URL_SAFE_NO_PAD.encode([0u8; 19]);
        assert_eq!(Cursor::decode(&forged), Err(CursorError));
        // A bare UUID is not a cursor either: the format is ours to change.
        assert_eq!(Cursor::decode(&id.to_string()), Err(CursorError));
    }

    fn codec() -> CursorCodec {
        CursorCodec::new(&[7u8; 32]).unwrap()
    }

    #[test]
    fn sealed_cursors_open_only_for_their_list_and_secret() {
        let id = Uuid::now_v7();
        let token = codec().seal(Cursor::after_key(id), "users");
        assert_eq!(token.len(), 44);
        assert_eq!(codec().open(&token, "users"), Ok(Cursor::after_key(id)));
        assert_eq!(codec().open(&token, "orders-of:x"), Err(CursorError));
        let other = CursorCodec::new(&[8u8; 32]).unwrap();
        assert_eq!(other.open(&token, "users"), Err(CursorError));
        // The unsigned format is not accepted as a sealed token.
        assert_eq!(
            codec().open(&Cursor::after_key(id).encode(), "users"),
            Err(CursorError)
        );
    }

    #[test]
    fn text_cursors_open_only_for_their_list_and_never_as_uuid_cursors() {
        let token = codec().seal_text("BOOK-1", "products");
        assert_eq!(
            codec().open_text(&token, "products"),
            Ok("BOOK-1".to_owned())
        );
        assert_eq!(codec().open_text(&token, "users"), Err(CursorError));
        assert_eq!(codec().open(&token, "products"), Err(CursorError));
        let uuid = codec().seal(Cursor::after_key(Uuid::now_v7()), "products");
        assert_eq!(codec().open_text(&uuid, "products"), Err(CursorError));
        let raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for bit in 0..raw.len() * 8 {
            let mut flipped = raw.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let forged = URL_SAFE_NO_PAD.encode(&flipped);
            assert_eq!(codec().open_text(&forged, "products"), Err(CursorError));
        }
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let token = codec().seal(Cursor::after_key(Uuid::now_v7()), "users");
        let raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for bit in 0..raw.len() * 8 {
            let mut flipped = raw.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let forged = URL_SAFE_NO_PAD.encode(&flipped);
            assert_eq!(
                codec().open(&forged, "users"),
                Err(CursorError),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn short_secrets_are_refused_and_debug_hides_the_secret() {
        assert_eq!(CursorCodec::new(&[1u8; 31]).err(), Some(CursorSecretError));
        assert_eq!(format!("{:?}", codec()), "CursorCodec(<secret>)");
        assert!(CursorCodec::random().is_ok());
    }

    #[test]
    fn limit_accepts_one_to_hundred_only() {
        assert_eq!(Limit::new(1).map(|l| l.get()), Ok(1));
        assert_eq!(Limit::new(100).map(|l| l.get()), Ok(100));
        assert_eq!(Limit::new(0), Err(LimitError));
        assert_eq!(Limit::new(101), Err(LimitError));
        assert_eq!(Limit::new(-5), Err(LimitError));
        assert_eq!(Limit::default().get(), 20);
    }

    #[test]
    fn overfetch_sets_next_only_when_more_rows_exist() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let limit = Limit::new(2).unwrap();
        let page = Page::from_overfetch(ids.clone(), limit, |id| *id);
        assert_eq!(page.items, ids[..2]);
        assert_eq!(page.next, Some(Cursor::after_key(ids[1])));
        let last = Page::from_overfetch(ids[2..].to_vec(), limit, |id| *id);
        assert_eq!(last.next, None);
    }
}
