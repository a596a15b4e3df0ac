//! Parsing of the subset of Go templates that the chart uses, into a tree the renderer walks. Anything outside
//! the subset (range, variables, a function not in [`FUNCTIONS`], ...) is an error here, when the file is
//! parsed, so even a branch the test values never take cannot use what the renderer does not check.
//!
//! Supported: text with `{{ }}` actions and `{{-`/`-}}` whitespace trimming, `{{/* comments */}}`,
//! `define`, `if`/`else if`/`else`/`end`, `with`/`else`/`end`, pipelines (`a | f x`), parenthesised
//! pipelines, fields of `.` and of `$`, string and integer literals, `true`/`false`, and [`FUNCTIONS`].

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
    "eq",
    "fail",
];

/// One parsed template file: what it outputs and the named templates it defines.
#[derive(Debug)]
pub struct Template {
    pub(super) name: String,
    pub(super) nodes: Vec<Node>,
    pub(super) defines: Vec<(String, Vec<Node>)>,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
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

pub(super) type Pipeline = Vec<Command>;
pub(super) type Command = Vec<Operand>;

#[derive(Debug, Clone)]
pub(super) enum Operand {
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
