//! Request validation shared by every service: a list of field violations that `api::status` turns into
//! `INVALID_ARGUMENT` with `google.rpc.BadRequest` details.

use std::{
    borrow::Cow,
    fmt::{self, Write as _},
};

/// One violated rule of one request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, e.g. `rule.url`.
    pub field: String,
    /// What is wrong, for a human.
    pub description: String,
}

/// Every rule a request broke; empty means valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` breaks a rule.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Records `error` for `field` when the check failed.
    pub fn check(&mut self, field: &str, result: Result<(), String>) {
        if let Err(description) = result {
            self.add(field, description);
        }
    }

    /// The violations, in the order they were found.
    pub fn list(&self) -> &[FieldViolation] {
        &self.0
    }

    /// `Ok(())` when nothing was violated, else the violations as an error.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// A single violation as an error.
    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut v = Self::new();
        v.add(field, description);
        v
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.description)?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

/// Checks that `value` is 1..=`max` characters, each accepted by `allowed`; `what` describes the alphabet.
pub fn name_chars(
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    what: &str,
) -> Result<(), String> {
    let len = value.chars().count();
    if len == 0 {
        return Err("is required".to_owned());
    }
    if len > max {
        return Err(format!(
            "is {len} characters long; at most {max} are allowed"
        ));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(format!("contains {bad:?}; only {what} are allowed"));
    }
    Ok(())
}

/// Checks that `value` is at most `max` characters (it may be empty).
pub fn max_chars(value: &str, max: usize) -> Result<(), String> {
    let len = value.chars().count();
    if len > max {
        return Err(format!(
            "is {len} characters long; at most {max} are allowed"
        ));
    }
    Ok(())
}

/// Length where a CJK character (Han, kana, Hangul, full-width forms) counts 2 and anything else (Latin,
/// emoji) 1: how Easemob and vivo measure notification text.
pub fn width(text: &str) -> usize {
    text.chars()
        .map(|c| {
            let wide = matches!(c as u32,
                0x1100..=0x115F | 0x2E80..=0x303F | 0x3040..=0x33FF | 0x3400..=0x4DBF
                | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF
                | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6);
            if wide { 2 } else { 1 }
        })
        .sum()
}

/// `Err` saying how wide `value` is when it is wider than `max` (see [`width`]).
pub fn max_width(value: &str, max: usize) -> Result<(), String> {
    let w = width(value);
    if w > max {
        return Err(format!(
            "is {w} wide (a CJK character counts 2); at most {max} is allowed"
        ));
    }
    Ok(())
}

/// The longest start of `text` no wider than `max`.
pub fn cut_to_width(text: &str, max: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += width(c.encode_utf8(&mut [0; 4]));
        if used > max {
            return &text[..i];
        }
    }
    text
}

/// Most characters of a value that an error message quotes.
pub const QUOTE_CHARS: usize = 100;

/// `value` as an error message quotes it: whole when it has at most [`QUOTE_CHARS`] characters, else its
/// start, `…` and how long it was (`aaaa… (20000 characters)`). A message quoting whatever a caller sent
/// stays small: the status travels in HTTP/2 headers, and a client refuses headers past its limit (often
/// 16 KiB) with an error that hides the real one.
pub fn clip(value: &str) -> Cow<'_, str> {
    match clipped(value) {
        None => Cow::Borrowed(value),
        Some((start, chars)) => Cow::Owned(format!("{start}… ({chars} characters)")),
    }
}

/// The start [`clip`] keeps of `value` and its length in characters, or `None` when it is short enough.
fn clipped(value: &str) -> Option<(&str, usize)> {
    value.chars().nth(QUOTE_CHARS)?;
    // One character fewer, so that with the `…` the quote is QUOTE_CHARS long and clipping it again
    // changes nothing.
    let (end, _) = value.char_indices().nth(QUOTE_CHARS - 1)?;
    Some((&value[..end], value.chars().count()))
}

/// `text` (a message or description that may quote values anywhere in it) at most `max_bytes` long: each
/// word longer than [`QUOTE_CHARS`] (a quoted value, as no word of prose is that long) is clipped as [`clip`]
/// does, the quotes or brackets around it kept; whatever is still too long is cut on a character boundary
/// and says how long it was.
pub fn bound(text: &str, max_bytes: usize) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    if text.len() > QUOTE_CHARS {
        let mut words = String::with_capacity(text.len().min(max_bytes + 64));
        let mut any = false;
        for piece in text.split_inclusive(char::is_whitespace) {
            let word = piece.trim_end_matches(char::is_whitespace);
            let space = &piece[word.len()..];
            let core = word.trim_start_matches(OPENERS);
            let lead = &word[..word.len() - core.len()];
            let core = core.trim_end_matches(CLOSERS);
            let trail = &word[lead.len() + core.len()..];
            match clipped(core) {
                // `"aaaa…" (20000 characters)`: the length after the quotes.
                Some((start, chars)) => {
                    any = true;
                    let _ = write!(words, "{lead}{start}…{trail} ({chars} characters)");
                }
                None => words.push_str(word),
            }
            words.push_str(space);
        }
        if any {
            out = Cow::Owned(words);
        }
    }
    if out.len() <= max_bytes {
        return out;
    }
    let suffix = format!("… ({} characters)", text.chars().count());
    let mut end = max_bytes.saturating_sub(suffix.len());
    while !out.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{suffix}", &out[..end]))
}

/// What may open a quoted value in a message: quotes and brackets.
const OPENERS: &[char] = &['"', '\'', '`', '(', '[', '{', '<'];
/// What may close a quoted value in a message: quotes, brackets and punctuation.
const CLOSERS: &[char] = &[
    '"', '\'', '`', ')', ']', '}', '>', ',', ';', ':', '.', '!', '?',
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        let ascii = |c: char| c.is_ascii_alphanumeric();
        assert!(name_chars("abc", 3, ascii, "letters").is_ok());
        assert_eq!(
            name_chars("", 3, ascii, "letters").unwrap_err(),
            "is required"
        );
        assert!(
            name_chars("abcd", 3, ascii, "letters")
                .unwrap_err()
                .contains("at most 3")
        );
        assert!(
            name_chars("a b", 3, ascii, "letters")
                .unwrap_err()
                .contains("' '")
        );
        assert!(max_chars("", 0).is_ok());
        assert!(max_chars("ab", 1).is_err());
    }

    #[test]
    fn violations_collect_and_convert() {
        let mut v = Violations::new();
        assert!(v.clone().into_result().is_ok());
        v.check("a", Ok(()));
        v.check("b", Err("bad".into()));
        let err = v.into_result().unwrap_err();
        assert_eq!(err.list().len(), 1);
        assert_eq!(err.to_string(), "b: bad");
    }

    #[test]
    fn widths_count_cjk_twice() {
        assert_eq!(width("ab"), 2);
        assert_eq!(width("你好"), 4);
        assert!(max_width("你好", 4).is_ok());
        assert!(max_width("你好a", 4).is_err());
        assert_eq!(cut_to_width("a你好", 3), "a你");
        assert_eq!(cut_to_width("a你好", 2), "a");
        assert_eq!(cut_to_width("abc", 5), "abc");
    }

    #[test]
    fn clip_keeps_short_values_and_says_how_long_a_long_one_was() {
        assert!(matches!(clip("acme#chat"), Cow::Borrowed("acme#chat")));
        let hundred = "a".repeat(QUOTE_CHARS);
        assert_eq!(clip(&hundred), hundred);
        let long = "a".repeat(20_000);
        let clipped = clip(&long);
        assert_eq!(
            clipped,
            format!("{}… (20000 characters)", "a".repeat(QUOTE_CHARS - 1))
        );
        assert_eq!(
            clip(&"a".repeat(QUOTE_CHARS + 1)),
            format!("{}… (101 characters)", "a".repeat(QUOTE_CHARS - 1))
        );
        // Cut between characters, never inside one.
        let wide = "你".repeat(300);
        assert_eq!(
            clip(&wide),
            format!("{}… (300 characters)", "你".repeat(QUOTE_CHARS - 1))
        );
    }

    #[test]
    fn bound_clips_each_quoted_value_and_keeps_the_rest() {
        let long = "a".repeat(20_000);
        let start = "a".repeat(QUOTE_CHARS - 1);
        assert_eq!(
            bound(
                &format!("{long:?} is not a URL: relative URL without a base"),
                1024
            ),
            format!("\"{start}…\" (20000 characters) is not a URL: relative URL without a base")
        );
        assert_eq!(
            bound(&format!("label {long} is used by task t1"), 1024),
            format!("label {start}… (20000 characters) is used by task t1")
        );
        assert_eq!(
            bound(&format!("users: ({long}), ok"), 1024),
            format!("users: ({start}…), (20000 characters) ok")
        );
        // Short text, and prose however long its words, comes back as it was.
        let prose = "is 20000 characters long; at most 64 are allowed";
        assert!(matches!(bound(prose, 1024), Cow::Borrowed(_)));
        // Bounding twice changes nothing more.
        let once = bound(&format!("{long:?} is not a time zone"), 1024).into_owned();
        assert_eq!(bound(&once, 1024), once);
    }

    #[test]
    fn bound_cuts_long_text_on_a_character_boundary() {
        let spaced = "a b ".repeat(5_000);
        let bounded = bound(&spaced, 300);
        assert!(bounded.len() <= 300, "{}", bounded.len());
        assert!(bounded.ends_with("… (20000 characters)"), "{bounded}");
        for max in 280..300 {
            let wide = "你 ".repeat(1_000);
            let bounded = bound(&wide, max);
            assert!(bounded.len() <= max, "{max}: {}", bounded.len());
            assert!(bounded.starts_with("你 你"), "{bounded}");
            assert!(bounded.ends_with("… (2000 characters)"), "{bounded}");
        }
    }
}
