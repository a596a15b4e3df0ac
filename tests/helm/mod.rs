//! Loads a helm chart and renders it the way `helm template` would, within the template subset of
//! [`parse`].

pub mod k8s;
pub mod parse;
pub mod template;
pub mod value;

use std::path::Path;

use yaml_rust2::YamlLoader;

use self::{
    parse::Template,
    template::Engine,
    value::{Val, map},
};

/// A chart read from its directory.
pub struct Chart {
    /// Chart.yaml.
    pub metadata: Val,
    /// values.yaml, parsed.
    pub values: Val,
    /// values.yaml as written, for checks of its comments.
    pub values_text: String,
    /// Every file of templates/ with its text, by name.
    pub files: Vec<(String, String)>,
    templates: Vec<Template>,
    engine: Engine,
}

/// A rendered chart.
pub struct Rendered {
    /// Every YAML document of every manifest, with the file it came from.
    pub manifests: Vec<(String, Val)>,
    /// NOTES.txt, rendered.
    pub notes: String,
}

impl Rendered {
    /// The one manifest of a kind; an error when there is none or more than one.
    pub fn one<'a>(&'a self, kind: &'a str) -> &'a Val {
        let found: Vec<&Val> = self.all(kind).collect();
        match found.as_slice() {
            [one] => one,
            _ => panic!("expected one {kind}, found {}", found.len()),
        }
    }

    /// The server's workload: the StatefulSet (sled) or the Deployment (PostgreSQL), one of them.
    pub fn workload(&self) -> &Val {
        let found: Vec<&Val> = self
            .all("StatefulSet")
            .chain(self.all("Deployment"))
            .collect();
        match found.as_slice() {
            [one] => one,
            _ => panic!(
                "expected one StatefulSet or Deployment, found {}",
                found.len()
            ),
        }
    }

    /// Every manifest of a kind.
    pub fn all<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Val> + 'a {
        self.manifests
            .iter()
            .map(|(_, doc)| doc)
            .filter(move |doc| doc.get("kind").and_then(Val::as_str) == Some(kind))
    }
}

impl Chart {
    /// Reads Chart.yaml, values.yaml and templates/, and parses every template.
    pub fn load(dir: &Path) -> Result<Chart, String> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let metadata = Val::parse_yaml(&read(&dir.join("Chart.yaml"))?)
            .map_err(|e| format!("Chart.yaml: {e}"))?;
        let values_text = read(&dir.join("values.yaml"))?;
        let values = Val::parse_yaml(&values_text).map_err(|e| format!("values.yaml: {e}"))?;
        let mut files = Vec::new();
        let entries =
            std::fs::read_dir(dir.join("templates")).map_err(|e| format!("templates/: {e}"))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if !path.is_file() {
                return Err(format!(
                    "{}: sub-directories are not checked",
                    path.display()
                ));
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| format!("{}: unreadable name", path.display()))?
                .to_owned();
            files.push((name, read(&path)?));
        }
        // Helm renders in name order; so do we, for stable messages.
        files.sort();
        let mut engine = Engine::default();
        let mut templates = Vec::new();
        for (name, text) in &files {
            let template = Template::parse(name, text)?;
            engine.add_defines(&template)?;
            templates.push(template);
        }
        Ok(Chart {
            metadata,
            values,
            values_text,
            files,
            templates,
            engine,
        })
    }

    /// Renders every template for a release named `release` with values.yaml overlaid by `overlay` (YAML, as
    /// given to `helm -f`), and parses each manifest's documents.
    pub fn render(&self, release: &str, overlay: &str) -> Result<Rendered, String> {
        let mut values = self.values.clone();
        values.merge(Val::parse_yaml(overlay).map_err(|e| format!("overlay: {e}"))?);
        let field = |key: &str| self.metadata.get(key).cloned().unwrap_or(Val::Null);
        let root = map(&[
            ("Values", values),
            (
                "Release",
                map(&[
                    ("Name", Val::Str(release.to_owned())),
                    ("Namespace", Val::Str("pushgate-test".to_owned())),
                    ("Service", Val::Str("Helm".to_owned())),
                ]),
            ),
            (
                "Chart",
                map(&[
                    ("Name", field("name")),
                    ("Version", field("version")),
                    ("AppVersion", field("appVersion")),
                ]),
            ),
        ]);
        let mut manifests = Vec::new();
        let mut notes = String::new();
        for (template, (name, _)) in self.templates.iter().zip(&self.files) {
            let text = self.engine.render(template, &root)?;
            if name.starts_with('_') {
                if !text.trim().is_empty() {
                    return Err(format!("{name} outputs text outside its defines: {text:?}"));
                }
            } else if name == "NOTES.txt" {
                notes = text;
            } else {
                let docs = YamlLoader::load_from_str(&text)
                    .map_err(|e| format!("{name} renders to invalid YAML ({e}):\n{text}"))?;
                for doc in &docs {
                    let doc = Val::from_yaml(doc).map_err(|e| format!("{name}: {e}"))?;
                    // An empty document (a disabled template) is skipped, as helm skips it.
                    if doc != Val::Null {
                        manifests.push((name.clone(), doc));
                    }
                }
            }
        }
        Ok(Rendered { manifests, notes })
    }
}
