//! Reading SQL text without a parser: finding a keyword, a closing parenthesis, the commas of
//! a list, each outside quotes (and the keyword outside parentheses). What the statement
//! observer and the drift check read statements with, so both read them alike.

/// The byte index of the first `keyword` (ASCII, any case) in `text` outside quotes and
/// parentheses, as a whole word.
pub fn find_keyword(text: &str, keyword: &str) -> Option<usize> {
    let (bytes, needle) = (text.as_bytes(), keyword.as_bytes());
    let word = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    for (index, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"' | b'`') => quote = Some(b),
            (None, b'(') => depth += 1,
            (None, b')') => depth = depth.saturating_sub(1),
            (None, _)
                if depth == 0
                    && bytes
                        .get(index..index + needle.len())
                        .is_some_and(|at| at.eq_ignore_ascii_case(needle))
                    && !word(index.checked_sub(1).and_then(|i| bytes.get(i)))
                    && !word(bytes.get(index + needle.len())) =>
            {
                return Some(index);
            }
            _ => {}
        }
    }
    None
}

/// The byte index of the `)` closing the `(` at `open`, skipping quoted text.
pub fn closing_paren(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (index, c) in text.char_indices().skip_while(|(i, _)| *i < open) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
    }
    None
}

/// `text` split at the commas outside parentheses and quotes.
pub fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_whole_words_outside_quotes_and_parentheses() {
        let sql = r#"SELECT (SELECT 1 FROM b) AS "from", x_from FROM "orders" WHERE a = 'FROM'"#;
        assert_eq!(find_keyword(sql, "from"), sql.find(r#"FROM "orders""#));
        assert_eq!(find_keyword("CHECK (a > 0)", "CHECK"), Some(0));
        assert_eq!(find_keyword("checked", "CHECK"), None);
        assert_eq!(find_keyword("a", "WHERE"), None);
    }

    #[test]
    fn parentheses_and_lists_skip_quoted_text() {
        let text = "f(a, ')', (b, c)), d";
        assert_eq!(closing_paren(text, 1), Some(16));
        assert_eq!(split_top_level(text), vec!["f(a, ')', (b, c))", " d"]);
    }
}
