//! The values a chart template sees, read from YAML the way helm reads them, printed the way helm prints them,
//! and `toYaml`.

use yaml_rust2::{Yaml, YamlLoader};

/// A value of `.Values`, `.Release`, `.Chart` or of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A missing key or YAML `null`.
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Val>),
    /// Keys in file order, as `toYaml` of a value keeps them (helm sorts them; order changes no meaning).
    Map(Vec<(String, Val)>),
}

impl Val {
    /// Parses one YAML document (values.yaml, Chart.yaml, an overlay).
    pub fn parse_yaml(text: &str) -> Result<Val, String> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
        match docs.as_slice() {
            [] => Ok(Val::Map(Vec::new())),
            [doc] => Val::from_yaml(doc),
            _ => Err("expected one YAML document".into()),
        }
    }

    /// Converts a parsed YAML node; anchors/aliases and non-string keys are refused (values.yaml has neither).
    pub fn from_yaml(yaml: &Yaml) -> Result<Val, String> {
        Ok(match yaml {
            Yaml::Null => Val::Null,
            Yaml::Boolean(b) => Val::Bool(*b),
            Yaml::Integer(i) => Val::Int(*i),
            Yaml::Real(text) => Val::Float(
                text.parse()
                    .map_err(|_| format!("unreadable number {text}"))?,
            ),
            Yaml::String(s) => Val::Str(s.clone()),
            Yaml::Array(items) => {
                Val::List(items.iter().map(Val::from_yaml).collect::<Result<_, _>>()?)
            }
            Yaml::Hash(hash) => {
                let mut entries = Vec::with_capacity(hash.len());
                for (key, value) in hash {
                    let Yaml::String(key) = key else {
                        return Err(format!("non-string key {key:?}"));
                    };
                    entries.push((key.clone(), Val::from_yaml(value)?));
                }
                Val::Map(entries)
            }
            Yaml::Alias(_) | Yaml::BadValue => return Err(format!("unsupported YAML {yaml:?}")),
        })
    }

    /// The value under `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Val> {
        match self {
            Val::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at a dotted path such as `spec.template.spec`.
    pub fn at(&self, path: &str) -> Option<&Val> {
        path.split('.').try_fold(self, |v, key| v.get(key))
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The list's items, if this is a list.
    pub fn as_list(&self) -> Option<&[Val]> {
        match self {
            Val::List(items) => Some(items),
            _ => None,
        }
    }

    /// Go template truth: false, 0, nil and empty strings, lists and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::List(items) => !items.is_empty(),
            Val::Map(entries) => !entries.is_empty(),
        }
    }

    /// What `{{ x }}`, `quote` and `printf "%v"` print. Helm reads every number of values.yaml as a float64,
    /// which Go prints in e-notation from 1e6 on ("1e+06"); such a number, and maps and lists (printed as Go's
    /// `map[...]`), are errors here rather than silently different manifests. A missing value prints nothing.
    pub fn to_text(&self) -> Result<String, String> {
        match self {
            Val::Null => Ok(String::new()),
            Val::Bool(b) => Ok(b.to_string()),
            Val::Int(i) if i.unsigned_abs() < 1_000_000 => Ok(i.to_string()),
            Val::Float(f) if *f == 0.0 || (1e-4..1e6).contains(&f.abs()) => Ok(f.to_string()),
            Val::Int(_) | Val::Float(_) => Err(format!(
                "helm prints the number {self:?} in e-notation; quote it in values.yaml"
            )),
            Val::Str(s) => Ok(s.clone()),
            Val::List(_) | Val::Map(_) => Err(format!(
                "a list or map printed as text ({self:?}); use toYaml"
            )),
        }
    }

    /// Block-style YAML without a trailing newline, like helm's `toYaml`.
    pub fn to_yaml(&self) -> String {
        self.yaml_lines().join("\n")
    }

    fn yaml_lines(&self) -> Vec<String> {
        match self {
            Val::Map(entries) if !entries.is_empty() => {
                let mut lines = Vec::new();
                for (key, value) in entries {
                    let key = yaml_key(key);
                    if value.is_block() {
                        lines.push(format!("{key}:"));
                        lines.extend(value.yaml_lines().into_iter().map(|l| format!("  {l}")));
                    } else {
                        lines.push(format!("{key}: {}", value.yaml_scalar()));
                    }
                }
                lines
            }
            Val::List(items) if !items.is_empty() => {
                let mut lines = Vec::new();
                for item in items {
                    if item.is_block() {
                        for (i, line) in item.yaml_lines().into_iter().enumerate() {
                            let lead = if i == 0 { "- " } else { "  " };
                            lines.push(format!("{lead}{line}"));
                        }
                    } else {
                        lines.push(format!("- {}", item.yaml_scalar()));
                    }
                }
                lines
            }
            _ => vec![self.yaml_scalar()],
        }
    }

    fn is_block(&self) -> bool {
        match self {
            Val::Map(entries) => !entries.is_empty(),
            Val::List(items) => !items.is_empty(),
            _ => false,
        }
    }

    fn yaml_scalar(&self) -> String {
        match self {
            Val::Null => "null".into(),
            Val::Bool(b) => b.to_string(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => format!("{f:?}"),
            // JSON's string escapes are a subset of YAML's double-quoted ones.
            Val::Str(s) => serde_json::Value::String(s.clone()).to_string(),
            Val::Map(_) => "{}".into(),
            Val::List(_) => "[]".into(),
        }
    }

    /// Overlays `top` on `self` like `helm -f`: maps merge key by key, anything else replaces.
    pub fn merge(&mut self, top: Val) {
        match (self, top) {
            (Val::Map(base), Val::Map(top)) => {
                for (key, value) in top {
                    match base.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, existing)) => existing.merge(value),
                        None => base.push((key, value)),
                    }
                }
            }
            (slot, top) => *slot = top,
        }
    }
}

/// A map key as YAML: plain when nothing in it could be read as anything but a plain string.
fn yaml_key(key: &str) -> String {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        key.to_owned()
    } else {
        serde_json::Value::String(key.to_owned()).to_string()
    }
}

/// Builds a map value from pairs (for `.Release` and `.Chart`).
pub fn map(entries: &[(&str, Val)]) -> Val {
    Val::Map(
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_yaml_round_trips_nested_values() {
        let value = Val::parse_yaml(
            "a: {b: [1, x, {c: true, d: null}], e: {}}\nf: []\n\"on\": \"1e+06\"\ng: 0.5\n",
        )
        .unwrap();
        let text = value.to_yaml();
        assert_eq!(Val::parse_yaml(&text).unwrap(), value, "{text}");
    }

    #[test]
    fn big_numbers_and_maps_do_not_print_as_text() {
        assert_eq!(Val::Int(999_999).to_text().unwrap(), "999999");
        assert!(Val::Int(1_000_000).to_text().is_err());
        assert!(Val::Float(1e-5).to_text().is_err());
        assert!(Val::Map(vec![]).to_text().is_err());
        assert_eq!(Val::Null.to_text().unwrap(), "");
    }
}
