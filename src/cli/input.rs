//! What several command groups read from the command line alike: the message of a push (`send` and
//! `task create`), who it goes to (`send`, `task create list`, `label add-users`), and request bodies in
//! JSON files.

use std::{
    collections::BTreeMap,
    io::{BufRead, Read},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args};
use pushgate::proto::v1::{PushMessage, Strategy};

/// The message of a push and how to route it.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("message").required(true).multiple(true).args(["title", "content", "message_id"])))]
pub struct MessageArgs {
    /// Notification title (the message inline).
    #[arg(long)]
    pub title: Option<String>,
    /// Notification body (the message inline).
    #[arg(long)]
    pub content: Option<String>,
    /// Custom data `key=value` delivered with the push; repeat for more.
    #[arg(long = "ext", value_name = "KEY=VALUE", value_parser = parse_ext)]
    pub ext: Vec<(String, String)>,
    /// Push a message stored with PushService.CreateMessage instead of one given inline.
    #[arg(long, conflicts_with_all = ["title", "content", "ext"])]
    pub message_id: Option<String>,
    /// Routing strategy, as Easemob's number or a name: 0 vendor-first, 1 channel-only, 2 vendor-only (the
    /// server's default), 3 channel-first, 4 channel-online-only.
    #[arg(long, value_parser = parse_strategy, value_name = "STRATEGY")]
    pub strategy: Option<Strategy>,
    /// Idempotency key (1..64 characters): a repeat within 24 h returns what the first call returned,
    /// without pushing again.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// The message of a push, inline or by id, in the one shape every request with a `message_source` shares.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageSource {
    /// `--title` / `--content` / `--ext`.
    Inline(Box<PushMessage>),
    /// `--message-id`.
    Stored(String),
}

impl MessageSource {
    /// The request's `message_source` oneof: each request type has its own, built from these two variants.
    pub fn into_oneof<T>(self, inline: fn(PushMessage) -> T, stored: fn(String) -> T) -> T {
        match self {
            MessageSource::Inline(message) => inline(*message),
            MessageSource::Stored(id) => stored(id),
        }
    }
}

impl MessageArgs {
    /// The message to push; a key given twice with `--ext` is a mistake, not a silent override.
    pub fn source(&self) -> Result<MessageSource> {
        if let Some(id) = &self.message_id {
            return Ok(MessageSource::Stored(id.clone()));
        }
        let mut ext = BTreeMap::new();
        for (key, value) in &self.ext {
            if ext.insert(key.clone(), value.clone()).is_some() {
                bail!("--ext `{key}` is given twice");
            }
        }
        Ok(MessageSource::Inline(Box::new(PushMessage {
            title: self.title.clone().unwrap_or_default(),
            content: self.content.clone().unwrap_or_default(),
            ext: ext.into_iter().collect(),
            ..Default::default()
        })))
    }

    /// `--strategy` as the request field; unset leaves the choice to the server.
    pub fn strategy(&self) -> i32 {
        self.strategy.unwrap_or(Strategy::Unspecified) as i32
    }

    /// `--request-id` as the request field; empty means none.
    pub fn request_id(&self) -> String {
        self.request_id.clone().unwrap_or_default()
    }
}

/// Users named on the command line and in a file.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = true)]
pub struct UsersArgs {
    /// A user id; repeat for more.
    #[arg(long = "user", value_name = "USER")]
    pub users: Vec<String>,
    /// A file with one user id per line (blank lines skipped; `-` reads standard input). Adds to --user.
    #[arg(long, value_name = "FILE")]
    pub users_file: Option<PathBuf>,
}

impl UsersArgs {
    /// The `--user`s, then the file's users; none at all is an error, since a file can be empty.
    pub fn read(&self) -> Result<Vec<String>> {
        let mut all = self.users.clone();
        if let Some(path) = &self.users_file {
            all.extend(read_users_file(path)?);
        }
        if all.is_empty() {
            bail!("no users given: --user and --users-file name none");
        }
        Ok(all)
    }
}

/// The strategy names of `--strategy`, in Easemob's order (the index is Easemob's number).
const STRATEGIES: [(&str, Strategy); 5] = [
    ("vendor-first", Strategy::VendorFirst),
    ("channel-only", Strategy::ChannelOnly),
    ("vendor-only", Strategy::VendorOnly),
    ("channel-first", Strategy::ChannelFirst),
    ("channel-online-only", Strategy::ChannelOnlineOnly),
];

/// Parses `--strategy`: Easemob's number 0..4 or its name.
pub fn parse_strategy(text: &str) -> Result<Strategy, String> {
    let text = text.trim();
    let by_number = text.parse::<usize>().ok().and_then(|n| STRATEGIES.get(n));
    let by_name = || {
        STRATEGIES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
    };
    match by_number.or_else(by_name) {
        Some((_, strategy)) => Ok(*strategy),
        None => Err(format!(
            "`{text}` is not a strategy: use Easemob's number 0..4 or a name \
             (0 vendor-first, 1 channel-only, 2 vendor-only, 3 channel-first, 4 channel-online-only)"
        )),
    }
}

/// Parses `--ext key=value`.
pub fn parse_ext(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!(
            "`{text}` is not KEY=VALUE (the key must not be empty)"
        )),
    }
}

/// Reads user ids, one per line; surrounding whitespace and blank lines are dropped.
pub fn read_users(reader: impl BufRead) -> std::io::Result<Vec<String>> {
    let mut users = Vec::new();
    for line in reader.lines() {
        let line = line?;
        let id = line.trim();
        if !id.is_empty() {
            users.push(id.to_owned());
        }
    }
    Ok(users)
}

/// Reads `--users-file`: a path, or `-` for standard input.
fn read_users_file(path: &Path) -> Result<Vec<String>> {
    let users = if path == Path::new("-") {
        read_users(std::io::stdin().lock())
    } else {
        std::fs::File::open(path).and_then(|f| read_users(std::io::BufReader::new(f)))
    };
    users.with_context(|| format!("cannot read the users file {}", path.display()))
}

/// The whole text of a file named on the command line, or of standard input for `-`.
pub fn read_text(path: &Path) -> Result<String> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(drop)
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text)
}
