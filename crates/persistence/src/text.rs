//! Rules for free text that people read (names, codes): what may not hide inside it.
//!
//! Every context that stores such text applies the same two checks, so they live in the shared
//! kernel: a bidi override can make `evil.exe` render as `exe.live`, a zero-width space makes two
//! names that look the same compare unequal, and a name of invisible characters shows as
//! nothing at all in every list that displays it.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The first character of `text` that is a control character (Unicode category Cc), a format
/// character (Cf: bidi overrides and isolates, zero-width spaces and joiners, the BOM, soft
/// hyphens) or a line or paragraph separator (Zl, Zp); `None` when there is none.
///
/// ```
/// assert_eq!(persistence::text::first_hidden("Ada\u{202E}gnp"), Some('\u{202E}'));
/// assert_eq!(persistence::text::first_hidden("Ada Lovelace"), None);
/// ```
pub fn first_hidden(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        matches!(
            c.general_category(),
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
    })
}

/// Whether `text` has at least one character that shows: a letter, digit, punctuation mark or
/// symbol, other than the blank fillers that are letters only by category (Hangul fillers,
/// the braille blank). Spaces and combining marks alone show nothing.
///
/// ```
/// assert!(persistence::text::has_visible("  a "));
/// assert!(!persistence::text::has_visible("\u{3164}\u{2800} \u{0301}"));
/// ```
pub fn has_visible(text: &str) -> bool {
    text.chars().any(|c| {
        !matches!(
            c,
            '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}' | '\u{180E}'
        ) && matches!(
            c.general_category(),
            GeneralCategory::UppercaseLetter
                | GeneralCategory::LowercaseLetter
                | GeneralCategory::TitlecaseLetter
                | GeneralCategory::ModifierLetter
                | GeneralCategory::OtherLetter
                | GeneralCategory::DecimalNumber
                | GeneralCategory::LetterNumber
                | GeneralCategory::OtherNumber
                | GeneralCategory::ConnectorPunctuation
                | GeneralCategory::DashPunctuation
                | GeneralCategory::OpenPunctuation
                | GeneralCategory::ClosePunctuation
                | GeneralCategory::InitialPunctuation
                | GeneralCategory::FinalPunctuation
                | GeneralCategory::OtherPunctuation
                | GeneralCategory::MathSymbol
                | GeneralCategory::CurrencySymbol
                | GeneralCategory::ModifierSymbol
                | GeneralCategory::OtherSymbol
                | GeneralCategory::PrivateUse
        )
    })
}

/// Why `raw` is not a sku, or `None` when it is one: 1 to 64 characters of `[A-Za-z0-9._-]`,
/// starting with a letter or a digit. The catalog names products by sku and the inventory
/// keeps stock by sku, so both apply this one rule.
///
/// ```
/// assert_eq!(persistence::text::sku_problem("BOOK-1"), None);
/// assert!(persistence::text::sku_problem("-book").is_some());
/// ```
pub fn sku_problem(raw: &str) -> Option<&'static str> {
    let Some(first) = raw.bytes().next() else {
        return Some("must not be empty");
    };
    if raw.len() > 64 {
        return Some("must be at most 64 characters");
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Some("may contain only letters, digits, '.', '_' and '-'");
    }
    if !first.is_ascii_alphanumeric() {
        return Some("must start with a letter or a digit");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_zero_width_bom_and_controls_are_hidden() {
        for c in [
            '\u{0}', '\u{7}', '\u{1b}', '\u{7f}', '\u{85}', // Cc
            '\u{AD}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}', // Cf
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', // bidi embeddings
            '\u{2060}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{FEFF}', // Cf
            '\u{2028}', '\u{2029}', // Zl, Zp
        ] {
            let text = format!("A{c}B");
            assert_eq!(first_hidden(&text), Some(c), "U+{:04X}", c as u32);
        }
        assert_eq!(first_hidden("Zoë Łukasz 李 🙂 A-1/b"), None);
    }

    #[test]
    fn visible_needs_more_than_spaces_marks_and_fillers() {
        for invisible in [
            "",
            " ",
            "\u{3000}\u{A0}",
            "\u{0301}\u{0308}",
            "\u{3164}",
            "\u{2800}",
        ] {
            assert!(!has_visible(invisible), "{invisible:?}");
        }
        for visible in ["a", " . ", "7", "🙂", "李", "e\u{0301}"] {
            assert!(has_visible(visible), "{visible:?}");
        }
    }
}
