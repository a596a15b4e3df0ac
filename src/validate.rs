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
}
