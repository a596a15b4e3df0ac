//! A renderer for the subset of Go templates and Sprig that the chart uses (parsed by [`super::parse`]), so
//! the chart can be checked where no helm binary exists. Where helm would print something other than what
//! the template means (a number in e-notation, a map as `map[...]`, nothing for `quote` of a missing value),
//! it is an error here.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::{
    parse::{Command, Node, Operand, Pipeline, Template},
    value::Val,
};

/// Guards against a named template that includes itself.
const MAX_INCLUDE_DEPTH: usize = 64;

/// Named templates of every file of a chart, and the renderer over them.
#[derive(Debug, Default)]
pub struct Engine {
    defines: HashMap<String, Vec<Node>>,
}

impl Engine {
    /// Registers the named templates of a file; a name defined twice is an error.
    pub fn add_defines(&mut self, template: &Template) -> Result<(), String> {
        for (name, body) in &template.defines {
            if self.defines.insert(name.clone(), body.clone()).is_some() {
                return Err(format!("{}: {name:?} is defined twice", template.name));
            }
        }
        Ok(())
    }

    /// Renders a file with `root` as both `.` and `$`.
    pub fn render(&self, template: &Template, root: &Val) -> Result<String, String> {
        let mut out = String::new();
        let scope = Scope {
            dot: root,
            root,
            depth: 0,
        };
        self.render_nodes(&template.nodes, &scope, &mut out)
            .map_err(|e| format!("{}{e}", template.name))?;
        Ok(out)
    }

    fn render_nodes(&self, nodes: &[Node], scope: &Scope, out: &mut String) -> Result<(), String> {
        for node in nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Output { pipe, line } => {
                    let value = self
                        .eval_pipe(pipe, scope)
                        .map_err(|e| format!(":{line}: {e}"))?;
                    out.push_str(&value.to_text().map_err(|e| format!(":{line}: {e}"))?);
                }
                Node::If {
                    branches,
                    otherwise,
                    line,
                } => {
                    let mut taken = false;
                    for (cond, body) in branches {
                        let value = self
                            .eval_pipe(cond, scope)
                            .map_err(|e| format!(":{line}: {e}"))?;
                        if value.truthy() {
                            self.render_nodes(body, scope, out)?;
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.render_nodes(otherwise, scope, out)?;
                    }
                }
                Node::With {
                    pipe,
                    body,
                    otherwise,
                    line,
                } => {
                    let value = self
                        .eval_pipe(pipe, scope)
                        .map_err(|e| format!(":{line}: {e}"))?;
                    if value.truthy() {
                        let inner = Scope {
                            dot: &value,
                            ..*scope
                        };
                        self.render_nodes(body, &inner, out)?;
                    } else {
                        self.render_nodes(otherwise, scope, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn eval_pipe(&self, pipe: &Pipeline, scope: &Scope) -> Result<Val, String> {
        let mut piped: Option<Val> = None;
        for command in pipe {
            piped = Some(self.eval_command(command, piped.take(), scope)?);
        }
        piped.ok_or_else(|| "empty pipeline".to_owned())
    }

    fn eval_command(
        &self,
        command: &Command,
        piped: Option<Val>,
        scope: &Scope,
    ) -> Result<Val, String> {
        let (first, rest) = command.split_first().ok_or("empty command")?;
        let Operand::Function(name) = first else {
            if !rest.is_empty() || piped.is_some() {
                return Err("an argument given to a value that is not a function".into());
            }
            return self.eval_operand(first, scope);
        };
        let mut args = rest
            .iter()
            .map(|a| self.eval_operand(a, scope))
            .collect::<Result<Vec<_>, _>>()?;
        args.extend(piped);
        self.call(name, args, scope)
            .map_err(|e| format!("{name}: {e}"))
    }

    fn eval_operand(&self, operand: &Operand, scope: &Scope) -> Result<Val, String> {
        match operand {
            Operand::Dot(path) => field(scope.dot, path),
            Operand::Root(path) => field(scope.root, path),
            Operand::Str(s) => Ok(Val::Str(s.clone())),
            Operand::Int(i) => Ok(Val::Int(*i)),
            Operand::Bool(b) => Ok(Val::Bool(*b)),
            Operand::Sub(pipe) => self.eval_pipe(pipe, scope),
            Operand::Function(name) => self.call(name, Vec::new(), scope),
        }
    }

    fn call(&self, name: &str, args: Vec<Val>, scope: &Scope) -> Result<Val, String> {
        let arity = |n: usize| -> Result<(), String> {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("takes {n} arguments, got {}", args.len()))
            }
        };
        Ok(match name {
            "include" => {
                arity(2)?;
                let template = string(&args[0])?;
                let body = self
                    .defines
                    .get(&template)
                    .ok_or_else(|| format!("no template named {template:?}"))?;
                if scope.depth >= MAX_INCLUDE_DEPTH {
                    return Err("templates include each other without end".into());
                }
                let inner = Scope {
                    dot: &args[1],
                    root: scope.root,
                    depth: scope.depth + 1,
                };
                let mut out = String::new();
                self.render_nodes(body, &inner, &mut out)
                    .map_err(|e| format!("{template:?}{e}"))?;
                Val::Str(out)
            }
            // Sprig: the given value unless it is empty.
            "default" => {
                arity(2)?;
                let [fallback, given] = <[Val; 2]>::try_from(args).map_err(|_| "arity")?;
                if given.truthy() { given } else { fallback }
            }
            "quote" => {
                arity(1)?;
                // Sprig's quote drops a nil argument and prints nothing at all: a key without a value.
                if args[0] == Val::Null {
                    return Err("quote of a missing value renders nothing".into());
                }
                Val::Str(serde_json::Value::String(args[0].to_text()?).to_string())
            }
            "toYaml" => {
                arity(1)?;
                Val::Str(args[0].to_yaml())
            }
            "nindent" => {
                arity(2)?;
                let width = int(&args[0])?;
                let text = string(&args[1])?;
                let pad = " ".repeat(usize::try_from(width).map_err(|_| "negative width")?);
                let indented: Vec<String> = text.split('\n').map(|l| format!("{pad}{l}")).collect();
                Val::Str(format!("\n{}", indented.join("\n")))
            }
            "trunc" => {
                arity(2)?;
                let n = usize::try_from(int(&args[0])?)
                    .map_err(|_| "a negative length (from the end) is not supported")?;
                Val::Str(string(&args[1])?.chars().take(n).collect())
            }
            "trimSuffix" => {
                arity(2)?;
                let suffix = string(&args[0])?;
                let text = string(&args[1])?;
                Val::Str(text.strip_suffix(&suffix).unwrap_or(&text).to_owned())
            }
            "printf" => {
                let (format, values) = args.split_first().ok_or("needs a format")?;
                Val::Str(printf(&string(format)?, values)?)
            }
            // Sprig: `contains SUBSTRING STRING`.
            "contains" => {
                arity(2)?;
                Val::Bool(string(&args[1])?.contains(&string(&args[0])?))
            }
            // Go: the first empty argument, or the last; `or` the first non-empty one, or the last.
            "and" | "or" => {
                if args.len() < 2 {
                    return Err("needs at least 2 arguments".into());
                }
                let want = name == "or";
                let last = args.len() - 1;
                let pick = args.iter().position(|a| a.truthy() == want).unwrap_or(last);
                args[pick].clone()
            }
            "not" => {
                arity(1)?;
                Val::Bool(!args[0].truthy())
            }
            // Go: `eq ARG1 ARG2` of two scalars (helm's two-argument use).
            "eq" => {
                arity(2)?;
                Val::Bool(args[0] == args[1])
            }
            // Sprig: stops the rendering with the message, as `helm install` shows it.
            "fail" => {
                arity(1)?;
                return Err(format!("fail: {}", string(&args[0])?));
            }
            "sha256sum" => {
                arity(1)?;
                Val::Str(hex::encode(Sha256::digest(string(&args[0])?.as_bytes())))
            }
            other => return Err(format!("function {other:?} is not supported")),
        })
    }
}

#[derive(Clone, Copy)]
struct Scope<'a> {
    dot: &'a Val,
    root: &'a Val,
    depth: usize,
}

/// `.a.b` of a value: a missing key is nil, as in helm, but a field of nil or of a scalar is an error.
fn field(value: &Val, path: &[String]) -> Result<Val, String> {
    let mut current = value;
    for (i, key) in path.iter().enumerate() {
        match current {
            Val::Map(_) => match current.get(key) {
                Some(next) => current = next,
                None => return Ok(Val::Null),
            },
            _ => {
                return Err(format!(
                    "cannot read .{} of {current:?} (at .{})",
                    key,
                    path[..i].join(".")
                ));
            }
        }
    }
    Ok(current.clone())
}

/// A string argument, as Sprig converts one: numbers and booleans print, anything else is refused.
fn string(value: &Val) -> Result<String, String> {
    match value {
        Val::Str(s) => Ok(s.clone()),
        Val::Bool(_) | Val::Int(_) | Val::Float(_) => value.to_text(),
        _ => Err(format!("expected a string, got {value:?}")),
    }
}

fn int(value: &Val) -> Result<i64, String> {
    match value {
        Val::Int(i) => Ok(*i),
        _ => Err(format!("expected an integer, got {value:?}")),
    }
}

/// Go's Sprintf for `%s` (strings only: Go prints a number given to `%s` as `%!s(float64=1)`), `%v` and `%%`.
fn printf(format: &str, values: &[Val]) -> Result<String, String> {
    let mut out = String::new();
    let mut values = values.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'v')) => {
                let value = values.next().ok_or("fewer arguments than verbs")?;
                if verb == 's' && !matches!(value, Val::Str(_)) {
                    return Err(format!("%s of a non-string {value:?}; use %v"));
                }
                out.push_str(&value.to_text()?);
            }
            other => return Err(format!("verb %{} is not supported", other.unwrap_or(' '))),
        }
    }
    if values.next().is_some() {
        return Err("more arguments than verbs".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, root: &str) -> Result<String, String> {
        let mut engine = Engine::default();
        let template = Template::parse("t", text)?;
        engine.add_defines(&template)?;
        engine.render(&template, &Val::parse_yaml(root)?)
    }

    #[test]
    fn trimming_follows_go() {
        assert_eq!(render("a  \n {{- 1 }} \n b", "").unwrap(), "a1 \n b");
        assert_eq!(render("a {{ 1 -}} \n\n b", "").unwrap(), "a 1b");
        // `{{-3}}` is the number -3, not a trim marker.
        assert_eq!(render("a {{-3}}", "").unwrap(), "a -3");
        assert_eq!(render("x {{- /* note */ -}}\n y", "").unwrap(), "xy");
    }

    #[test]
    fn blocks_pipelines_and_includes() {
        let text = r#"{{- define "n" -}}<{{ . }}>{{- end -}}
{{- if .a }}A{{ else if .b }}B{{ else }}C{{ end -}}
{{- with .m }}{{ toYaml . | nindent 2 }}{{ end -}}
|{{ include "n" .s | quote }}|{{ printf "%s-%v" .s .i | trunc 4 }}|{{ .missing | default "d" }}
{{- if and .a (not .b) }}!{{ end }}"#;
        let out = render(text, "a: false\nb: 1\nm: {k: [v]}\ns: x\ni: 7").unwrap();
        assert_eq!(out, "B\n  k:\n    - \"v\"|\"<x>\"|x-7|d");
    }

    #[test]
    fn anything_outside_the_subset_is_an_error() {
        for text in [
            "{{ range .a }}x{{ end }}",
            "{{ $x := 1 }}",
            "{{ upper .a }}",
            "{{ if .a }}x",
            "{{ end }}",
            "{{ .a }",
            "{{ template \"x\" . }}",
            "{{ with .a }}x{{ else if .b }}y{{ end }}",
        ] {
            assert!(render(text, "a: [1]").is_err(), "{text} rendered");
        }
        // An unsupported function fails even in a branch the values never take.
        assert!(render("{{ if false }}{{ lower .a }}{{ end }}", "a: x").is_err());
    }

    #[test]
    fn values_helm_would_print_badly_are_errors() {
        assert!(render("{{ .a.b }}", "a: text").is_err());
        assert!(render("{{ .a }}", "a: {b: 1}").is_err());
        assert!(render("{{ .a }}", "a: 1000000").is_err());
        assert!(render("{{ printf \"%s\" .a }}", "a: 1").is_err());
        assert!(render("{{ .nothing | quote }}", "a: 1").is_err());
        assert!(render("{{ include \"none\" . }}", "a: 1").is_err());
    }
}
