//! A renderer for the subset of Go templates and Sprig that the chart uses, so the chart can be checked where
//! no helm binary exists. Anything outside the subset (range, variables, a function not listed in
//! [`FUNCTIONS`], ...) is an error when the file is parsed, even in a branch the values never take, so the
//! chart cannot drift past what this renderer checks.
//!
//! Supported: text with `{{ }}` actions and `{{-`/`-}}` whitespace trimming, `{{/* comments */}}`,
//! `define`, `if`/`else if`/`else`/`end`, `with`/`else`/`end`, pipelines (`a | f x`), parenthesised
//! pipelines, fields of `.` and of `$`, string and integer literals, `true`/`false`, and the functions below.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::value::Val;

/// The functions the renderer implements.
pub const FUNCTIONS: &[&str] = &[
    "include",
    "default",
    "quote",
    "toYaml",
    "nindent",
    "trunc",
    "trimSuffix",
    "printf",
    "contains",
    "and",
    "or",
    "not",
    "sha256sum",
];

/// Guards against a named template that includes itself.
const MAX_INCLUDE_DEPTH: usize = 64;

/// One parsed template file: what it outputs and the named templates it defines.
#[derive(Debug)]
pub struct Template {
    name: String,
    nodes: Vec<Node>,
    defines: Vec<(String, Vec<Node>)>,
}

/// Named templates of every file of a chart, and the renderer over them.
#[derive(Debug, Default)]
pub struct Engine {
    defines: HashMap<String, Vec<Node>>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Output {
        pipe: Pipeline,
        line: usize,
    },
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
        line: usize,
    },
    With {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
        line: usize,
    },
}

type Pipeline = Vec<Command>;
type Command = Vec<Operand>;

#[derive(Debug, Clone)]
enum Operand {
    /// `.`, `.a.b`: fields of the current value.
    Dot(Vec<String>),
    /// `$`, `$.a.b`: fields of the top-level value.
    Root(Vec<String>),
    Str(String),
    Int(i64),
    Bool(bool),
    Function(String),
    Sub(Pipeline),
}

/// A lexed piece of a file.
#[derive(Debug)]
enum Token {
    Text(String),
    Action { body: String, line: usize },
}

impl Template {
    /// Parses a file; `name` is used in error messages.
    pub fn parse(name: &str, text: &str) -> Result<Template, String> {
        let tokens = lex(text).map_err(|e| format!("{name}: {e}"))?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            defines: Vec::new(),
        };
        let (nodes, end) = parser
            .parse_list(true)
            .map_err(|e| format!("{name}: {e}"))?;
        if let Some((keyword, line)) = end {
            return Err(format!("{name}:{line}: unexpected {{{{ {keyword} }}}}"));
        }
        Ok(Template {
            name: name.to_owned(),
            nodes,
            defines: parser.defines,
        })
    }
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

/// Splits a file into text and actions, applying `{{-` and `-}}` trimming and dropping comments.
fn lex(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = text;
    let mut line = 1;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut before = &rest[..start];
        if trim_next {
            before = before.trim_start_matches(is_go_space);
        }
        let after_open = &rest[start + 2..];
        // Go needs a space after the dash: `{{-3}}` is the number -3.
        let trim_left = after_open.starts_with('-') && after_open[1..].starts_with(is_go_space);
        if trim_left {
            before = before.trim_end_matches(is_go_space);
        }
        line += rest[..start].matches('\n').count();
        tokens.push(Token::Text(before.to_owned()));
        let inner = if trim_left {
            &after_open[1..]
        } else {
            after_open
        };
        let close = find_close(inner).ok_or_else(|| format!("{line}: unclosed action"))?;
        let mut body = &inner[..close];
        trim_next = body.ends_with('-') && body[..body.len() - 1].ends_with(is_go_space);
        if trim_next {
            body = &body[..body.len() - 1];
        }
        let body = body.trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            tokens.push(Token::Action {
                body: body.to_owned(),
                line,
            });
        }
        line += inner[..close].matches('\n').count();
        rest = &inner[close + 2..];
    }
    let last = if trim_next {
        rest.trim_start_matches(is_go_space)
    } else {
        rest
    };
    tokens.push(Token::Text(last.to_owned()));
    Ok(tokens)
}

fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The position of the `}}` that closes an action, skipping string literals and comments.
fn find_close(inner: &str) -> Option<usize> {
    let trimmed = inner.trim_start();
    if trimmed.starts_with("/*") {
        let offset = inner.len() - trimmed.len();
        let end = trimmed.find("*/")? + 2;
        return inner[offset + end..].find("}}").map(|i| offset + end + i);
    }
    let bytes = inner.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'}' if !in_string && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    defines: Vec<(String, Vec<Node>)>,
}

/// What ended a list of nodes: `end`, `else`, `else if ...`, with the action's line.
type Terminator = Option<(String, usize)>;

impl Parser {
    /// Parses nodes up to an `end`/`else` (returned) or the end of the file.
    fn parse_list(&mut self, top_level: bool) -> Result<(Vec<Node>, Terminator), String> {
        let mut nodes = Vec::new();
        while self.pos < self.tokens.len() {
            let token = &self.tokens[self.pos];
            self.pos += 1;
            let (body, line) = match token {
                Token::Text(text) => {
                    if !text.is_empty() {
                        nodes.push(Node::Text(text.clone()));
                    }
                    continue;
                }
                Token::Action { body, line } => (body.clone(), *line),
            };
            let at = |e: String| format!("{line}: {e}");
            let keyword = body.split_whitespace().next().unwrap_or("");
            let args = body[keyword.len()..].trim();
            match keyword {
                "end" | "else" => return Ok((nodes, Some((body, line)))),
                "if" => nodes.push(self.parse_if(args, line)?),
                "with" => {
                    let pipe = parse_pipeline(args).map_err(at)?;
                    let (body, end) = self.parse_list(false)?;
                    let otherwise = match end {
                        Some((e, _)) if e == "else" => self.expect_end(line)?,
                        Some((e, _)) if e == "end" => Vec::new(),
                        _ => return Err(at("{{ with }} without {{ end }}".into())),
                    };
                    nodes.push(Node::With {
                        pipe,
                        body,
                        otherwise,
                        line,
                    });
                }
                "define" => {
                    if !top_level {
                        return Err(at("define inside another block".into()));
                    }
                    let name = match parse_pipeline(args).map_err(at)?.as_slice() {
                        [command] => match command.as_slice() {
                            [Operand::Str(name)] => name.clone(),
                            _ => return Err(at("define needs a quoted name".into())),
                        },
                        _ => return Err(at("define needs a quoted name".into())),
                    };
                    let (body, end) = self.parse_list(false)?;
                    if !matches!(&end, Some((e, _)) if e == "end") {
                        return Err(at(format!("define {name:?} without {{{{ end }}}}")));
                    }
                    self.defines.push((name, body));
                }
                "range" | "template" | "block" | "break" | "continue" => {
                    return Err(at(format!("{{{{ {keyword} }}}} is not supported")));
                }
                _ => nodes.push(Node::Output {
                    pipe: parse_pipeline(&body).map_err(at)?,
                    line,
                }),
            }
        }
        Ok((nodes, None))
    }

    /// Parses the rest of an `if` whose condition is `args`: branches, `else if`s, `else`, `end`.
    fn parse_if(&mut self, args: &str, line: usize) -> Result<Node, String> {
        let mut branches = Vec::new();
        let mut cond = parse_pipeline(args).map_err(|e| format!("{line}: {e}"))?;
        loop {
            let (body, end) = self.parse_list(false)?;
            branches.push((cond, body));
            match end {
                Some((e, _)) if e == "end" => {
                    return Ok(Node::If {
                        branches,
                        otherwise: Vec::new(),
                        line,
                    });
                }
                Some((e, _)) if e == "else" => {
                    return Ok(Node::If {
                        branches,
                        otherwise: self.expect_end(line)?,
                        line,
                    });
                }
                Some((e, else_line)) if e.starts_with("else if ") => {
                    cond = parse_pipeline(&e["else if ".len()..])
                        .map_err(|err| format!("{else_line}: {err}"))?;
                }
                Some((e, else_line)) => {
                    return Err(format!("{else_line}: {{{{ {e} }}}} is not supported"));
                }
                None => return Err(format!("{line}: {{{{ if }}}} without {{{{ end }}}}")),
            }
        }
    }

    /// Parses an `else` branch, which must end with `end`.
    fn expect_end(&mut self, line: usize) -> Result<Vec<Node>, String> {
        let (body, end) = self.parse_list(false)?;
        match end {
            Some((e, _)) if e == "end" => Ok(body),
            _ => Err(format!("{line}: an else branch without {{{{ end }}}}")),
        }
    }
}

/// Lexes and parses `a .b | f "x" (g .c)`.
fn parse_pipeline(text: &str) -> Result<Pipeline, String> {
    let words = lex_words(text)?;
    let mut pos = 0;
    let pipe = parse_words(&words, &mut pos)?;
    if pos != words.len() {
        return Err(format!("unexpected {:?}", words[pos]));
    }
    Ok(pipe)
}

fn parse_words(words: &[String], pos: &mut usize) -> Result<Pipeline, String> {
    let mut pipe = Vec::new();
    let mut command = Vec::new();
    while *pos < words.len() {
        let word = &words[*pos];
        *pos += 1;
        match word.as_str() {
            ")" => {
                *pos -= 1;
                break;
            }
            "|" => {
                if command.is_empty() {
                    return Err("empty command in a pipeline".into());
                }
                pipe.push(std::mem::take(&mut command));
            }
            "(" => {
                let inner = parse_words(words, pos)?;
                if words.get(*pos).map(String::as_str) != Some(")") {
                    return Err("unclosed (".into());
                }
                *pos += 1;
                command.push(Operand::Sub(inner));
            }
            _ => command.push(parse_operand(word)?),
        }
    }
    if command.is_empty() {
        return Err("empty command in a pipeline".into());
    }
    pipe.push(command);
    Ok(pipe)
}

fn parse_operand(word: &str) -> Result<Operand, String> {
    let path = |rest: &str| -> Result<Vec<String>, String> {
        if rest.is_empty() {
            return Ok(Vec::new());
        }
        let rest = rest
            .strip_prefix('.')
            .ok_or_else(|| format!("unsupported operand {word:?}"))?;
        rest.split('.')
            .map(|key| {
                if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    Ok(key.to_owned())
                } else {
                    Err(format!("unsupported field in {word:?}"))
                }
            })
            .collect()
    };
    Ok(match word {
        "." => Operand::Dot(Vec::new()),
        "true" => Operand::Bool(true),
        "false" => Operand::Bool(false),
        _ if word.starts_with('"') => Operand::Str(
            serde_json::from_str(word).map_err(|_| format!("unsupported string {word}"))?,
        ),
        _ if word.starts_with('.') => Operand::Dot(path(word)?),
        _ if word.starts_with('$') => Operand::Root(path(&word[1..])?),
        _ if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') => Operand::Int(
            word.parse()
                .map_err(|_| format!("unsupported number {word}"))?,
        ),
        _ if FUNCTIONS.contains(&word) => Operand::Function(word.to_owned()),
        _ => return Err(format!("unsupported function or operand {word:?}")),
    })
}

/// Splits an action into words: string literals, `(`, `)`, `|`, and runs of anything else.
fn lex_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            _ if is_go_space(c) => {
                chars.next();
            }
            '(' | ')' | '|' => {
                words.push(c.to_string());
                chars.next();
            }
            '"' => {
                let mut word = String::from(chars.next().unwrap_or('"'));
                let mut closed = false;
                while let Some(c) = chars.next() {
                    word.push(c);
                    if c == '\\' {
                        word.extend(chars.next());
                    } else if c == '"' {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Err("unclosed string".into());
                }
                words.push(word);
            }
            '`' | '\'' => return Err(format!("{c}-quoted literals are not supported")),
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if is_go_space(c) || "()|\"".contains(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                if word.contains(":=") || word == "=" {
                    return Err("variables are not supported".into());
                }
                words.push(word);
            }
        }
    }
    Ok(words)
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
