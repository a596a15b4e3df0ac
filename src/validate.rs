//! Request validation shared by every service: a list of field violations that `api::status` turns into
//! `INVALID_ARGUMENT` with `google.rpc.BadRequest` details.

use std::fmt;

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
}
