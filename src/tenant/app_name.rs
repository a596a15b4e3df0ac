//! App names: `org#app`, the tenant key of every record.

use std::fmt;

/// Longest org or app part.
const MAX_PART: usize = 64;

/// A validated `org#app` name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppName(String);

impl AppName {
    /// Validates `value` as `org#app`: two parts of 1..64 characters of `[a-zA-Z0-9_-]`, each starting with a
    /// letter or digit. The error says what is wrong, for a field violation.
    pub fn parse(value: &str) -> Result<Self, String> {
        let Some((org, app)) = value.split_once('#') else {
            return Err(format!("{value:?} is not of the form org#app"));
        };
        check_part("org", org)?;
        check_part("app", app)?;
        Ok(Self(value.to_owned()))
    }

    /// The whole name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The org part.
    pub fn org(&self) -> &str {
        self.0.split_once('#').map_or("", |(org, _)| org)
    }

    /// The app part.
    pub fn app(&self) -> &str {
        self.0.split_once('#').map_or("", |(_, app)| app)
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_part(which: &str, part: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err(format!("the {which} part of org#app is empty"));
    }
    if part.len() > MAX_PART {
        return Err(format!(
            "the {which} part is {} characters long; at most {MAX_PART} are allowed",
            part.chars().count()
        ));
    }
    if let Some(bad) = part
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "the {which} part contains {bad:?}; only letters, digits, '_' and '-' are allowed"
        ));
    }
    if !part.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "the {which} part must start with a letter or digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_org_hash_app() {
        let n = AppName::parse("acme#chat-1").unwrap();
        assert_eq!((n.org(), n.app()), ("acme", "chat-1"));
    }

    #[test]
    fn rejects_malformed_names() {
        for bad in [
            "", "acme", "#app", "org#", "a#b#c", "org#a b", "_org#app", "org#-app", "org#ä",
        ] {
            assert!(AppName::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(AppName::parse(&format!("o#{}", "a".repeat(65))).is_err());
        assert!(AppName::parse(&format!("o#{}", "a".repeat(64))).is_ok());
    }
}
