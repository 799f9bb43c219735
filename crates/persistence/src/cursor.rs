use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

const CURSOR_PREFIX: &[u8] = b"k1:";

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

    /// The opaque token handed to clients.
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
