//! Push templates: the placeholder syntax, its validation, and the renderer the send path calls.
//!
//! Placeholders (see `NotificationTemplate` in the contract):
//! - `{$dynamicFrom}`: the sender's name as given with the message, else the sender's push nickname, else
//!   the sender's user id;
//! - `{$fromNickname}`: the sender's push nickname, else the sender's user id;
//! - `{$from}`: the sender's user id;
//! - `{$msg}`: the message text, else the push's content;
//! - `{0}` .. `{99}`: the template arguments of the message, in order; a missing one renders empty. An
//!   argument may itself hold the `{$...}` placeholders (Easemob's `title_args: ["{$dynamicFrom}"]`), which
//!   are filled too; a `{n}` inside an argument stays text, so arguments never expand into each other.
//!
//! Any other `{$name}` or `{digits}` is refused when a template is stored; braces of any other shape are
//! text. Rendering leaves an unknown placeholder as it is (it can only come from a record written before a
//! placeholder was retired).

use crate::store::TemplateRecord;

/// Highest argument index a placeholder may name (`TemplateRef` carries at most 100 arguments).
pub const MAX_ARG_INDEX: usize = 99;

/// One recognised placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    DynamicFrom,
    FromNickname,
    From,
    Msg,
    Arg(usize),
}

/// A piece of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    /// Text copied as it is.
    Text(&'a str),
    /// A placeholder to fill, and its text.
    Placeholder(Placeholder, &'a str),
    /// Something shaped like a placeholder that is none (kept as text, refused on store).
    Unknown(&'a str),
}

/// Splits a pattern into pieces.
fn pieces(pattern: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    let bytes = pattern.as_bytes();
    while i < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        let Some(len) = token_len(&pattern[i..]) else {
            i += 1;
            continue;
        };
        if text_start < i {
            out.push(Piece::Text(&pattern[text_start..i]));
        }
        let token = &pattern[i..i + len];
        out.push(match placeholder(token) {
            Some(p) => Piece::Placeholder(p, token),
            None => Piece::Unknown(token),
        });
        i += len;
        text_start = i;
    }
    if text_start < pattern.len() {
        out.push(Piece::Text(&pattern[text_start..]));
    }
    out
}

/// The length of a placeholder-shaped token at the start of `s` (`{$word}` or `{digits}`), if there is one.
fn token_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let (body_start, allowed): (usize, fn(&u8) -> bool) = if b.get(1) == Some(&b'$') {
        (2, |c| c.is_ascii_alphanumeric() || *c == b'_')
    } else {
        (1, u8::is_ascii_digit)
    };
    let body = b[body_start..].iter().take_while(|c| allowed(c)).count();
    // `{}` is text, but `{$}` is a (malformed) placeholder.
    if body_start == 1 && body == 0 {
        return None;
    }
    (b.get(body_start + body) == Some(&b'}')).then_some(body_start + body + 1)
}

fn placeholder(token: &str) -> Option<Placeholder> {
    let inner = &token[1..token.len() - 1];
    match inner {
        "$dynamicFrom" => Some(Placeholder::DynamicFrom),
        "$fromNickname" => Some(Placeholder::FromNickname),
        "$from" => Some(Placeholder::From),
        "$msg" => Some(Placeholder::Msg),
        // Canonical numbers only: `{01}` would read as a typo of `{1}` or `{0}`.
        digits if !digits.starts_with('$') && (digits == "0" || !digits.starts_with('0')) => digits
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_ARG_INDEX)
            .map(Placeholder::Arg),
        _ => None,
    }
}

/// Checks a pattern's placeholders; the error names the first unknown one.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    match pieces(pattern).into_iter().find_map(|p| match p {
        Piece::Unknown(token) => Some(token),
        _ => None,
    }) {
        Some(token) => Err(format!(
            "{token} is not a placeholder: use {{$dynamicFrom}}, {{$fromNickname}}, {{$from}}, {{$msg}} \
             or {{0}}..{{{MAX_ARG_INDEX}}}"
        )),
        None => Ok(()),
    }
}

/// What placeholders are filled with, from the push and the sender.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderContext<'a> {
    /// The sender's user id (`Conversation.from`).
    pub from: &'a str,
    /// The sender's name given with the message (`Conversation.from_display_name`).
    pub from_display_name: &'a str,
    /// The sender's stored push nickname.
    pub from_nickname: &'a str,
    /// The chat message's text (`Conversation.text`).
    pub text: &'a str,
    /// The push's content (`PushMessage.content`).
    pub content: &'a str,
}

/// Fills one pattern: placeholders from `context`, `{n}` from `args` (empty when missing), with the `{$...}`
/// placeholders inside the arguments filled too.
pub fn render(pattern: &str, args: &[String], context: &RenderContext<'_>) -> String {
    fill(pattern, Some(args), context)
}

/// Fills `pattern`; `args` is `None` inside an argument, where `{n}` stays text.
fn fill(pattern: &str, args: Option<&[String]>, context: &RenderContext<'_>) -> String {
    let first_non_empty = |values: &[&'_ str]| -> String {
        values
            .iter()
            .find(|v| !v.is_empty())
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    let mut out = String::with_capacity(pattern.len());
    for piece in pieces(pattern) {
        match piece {
            Piece::Text(text) | Piece::Unknown(text) => out.push_str(text),
            Piece::Placeholder(Placeholder::DynamicFrom, _) => out.push_str(&first_non_empty(&[
                context.from_display_name,
                context.from_nickname,
                context.from,
            ])),
            Piece::Placeholder(Placeholder::FromNickname, _) => {
                out.push_str(&first_non_empty(&[context.from_nickname, context.from]))
            }
            Piece::Placeholder(Placeholder::From, _) => out.push_str(context.from),
            Piece::Placeholder(Placeholder::Msg, _) => {
                out.push_str(&first_non_empty(&[context.text, context.content]))
            }
            Piece::Placeholder(Placeholder::Arg(n), token) => match args {
                Some(args) => {
                    if let Some(arg) = args.get(n) {
                        out.push_str(&fill(arg, None, context));
                    }
                }
                None => out.push_str(token),
            },
        }
    }
    out
}

/// A rendered notification text; `None` where the template's pattern is empty (the display style decides).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The title.
    pub title: Option<String>,
    /// The body.
    pub content: Option<String>,
}

/// Renders a template's title with `title_args` and its body with `content_args`. The send path cuts the
/// results to its message text limits.
pub fn render_template(
    template: &TemplateRecord,
    title_args: &[String],
    content_args: &[String],
    context: &RenderContext<'_>,
) -> Rendered {
    let fill = |pattern: &str, args: &[String]| {
        (!pattern.is_empty()).then(|| render(pattern, args, context))
    };
    Rendered {
        title: fill(&template.title_pattern, title_args),
        content: fill(&template.content_pattern, content_args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    const FULL: RenderContext<'static> = RenderContext {
        from: "alice",
        from_display_name: "Ally (friend)",
        from_nickname: "Alice A.",
        text: "hello there",
        content: "You have a new message",
    };

    #[test]
    fn each_placeholder_is_filled() {
        assert_eq!(render("{$dynamicFrom}", &[], &FULL), "Ally (friend)");
        assert_eq!(render("{$fromNickname}", &[], &FULL), "Alice A.");
        assert_eq!(render("{$from}", &[], &FULL), "alice");
        assert_eq!(render("{$msg}", &[], &FULL), "hello there");
        assert_eq!(render("{0} and {1}", &args(&["a", "b"]), &FULL), "a and b");
        assert_eq!(
            render(
                "{$fromNickname}: {$msg} ({1}/{0})",
                &args(&["x", "y"]),
                &FULL
            ),
            "Alice A.: hello there (y/x)"
        );
        let many: Vec<String> = (0..=MAX_ARG_INDEX).map(|i| i.to_string()).collect();
        assert_eq!(render("{99}|{10}", &many, &FULL), "99|10");
    }

    #[test]
    fn names_and_text_fall_back() {
        let no_display = RenderContext {
            from_display_name: "",
            ..FULL
        };
        assert_eq!(render("{$dynamicFrom}", &[], &no_display), "Alice A.");
        let bare = RenderContext {
            from_display_name: "",
            from_nickname: "",
            text: "",
            ..FULL
        };
        assert_eq!(render("{$dynamicFrom}", &[], &bare), "alice");
        assert_eq!(render("{$fromNickname}", &[], &bare), "alice");
        assert_eq!(render("{$msg}", &[], &bare), "You have a new message");
        assert_eq!(render("[{$msg}]", &[], &RenderContext::default()), "[]");
    }

    #[test]
    fn missing_arguments_render_empty() {
        assert_eq!(render("<{0}|{1}|{2}>", &args(&["only"]), &FULL), "<only||>");
        assert_eq!(render("{5}", &[], &FULL), "");
    }

    #[test]
    fn arguments_may_hold_dynamic_values_but_not_other_arguments() {
        assert_eq!(
            render("{0}", &args(&["{$dynamicFrom} says {$msg}"]), &FULL),
            "Ally (friend) says hello there"
        );
        assert_eq!(
            render("{0}|{1}", &args(&["{1}", "{$unknown}"]), &FULL),
            "{1}|{$unknown}"
        );
    }

    #[test]
    fn other_braces_are_text() {
        for text in [
            "{}", "{ 0 }", "{x}", "{$msg", "$msg}", "{{", "}}", "{-1}", "{0x}", "{中}", "a{",
        ] {
            assert_eq!(render(text, &[], &FULL), text, "{text:?}");
            assert!(check_pattern(text).is_ok(), "{text:?}");
        }
        assert_eq!(render("{{0}}", &args(&["v"]), &FULL), "{v}");
        assert_eq!(render("价格：{0} 元", &args(&["5"]), &FULL), "价格：5 元");
    }

    #[test]
    fn unknown_placeholders_are_refused_and_rendered_as_they_are() {
        for unknown in [
            "{$nickname}",
            "{$}",
            "{$MSG}",
            "{100}",
            "{01}",
            "{00}",
            "{99999999999999999999}",
        ] {
            let pattern = format!("x {unknown} y");
            assert!(
                check_pattern(&pattern).unwrap_err().contains(unknown),
                "{unknown}"
            );
            assert_eq!(render(&pattern, &args(&["a"]), &FULL), pattern, "{unknown}");
        }
        assert!(check_pattern("{$dynamicFrom}{$fromNickname}{$from}{$msg}{0}{99}").is_ok());
    }

    #[test]
    fn templates_render_title_and_body_with_their_own_arguments() {
        let t = TemplateRecord {
            name: "t".into(),
            title_pattern: "{0} from {$fromNickname}".into(),
            content_pattern: "{0}: {$msg}".into(),
            ..Default::default()
        };
        let rendered = render_template(&t, &args(&["Title"]), &args(&["Body"]), &FULL);
        assert_eq!(
            rendered,
            Rendered {
                title: Some("Title from Alice A.".into()),
                content: Some("Body: hello there".into()),
            }
        );
        let title_only = TemplateRecord {
            content_pattern: String::new(),
            ..t
        };
        assert_eq!(
            render_template(&title_only, &[], &[], &FULL).content,
            None,
            "an empty pattern leaves the body to the display style"
        );
    }
}
