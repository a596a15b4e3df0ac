//! `pushgate task`: create broadcast, label and list tasks, and get, list, cancel, watch and read the
//! statistics of tasks (TaskService).

use std::{
    collections::BTreeMap,
    io::BufRead,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, Result, anyhow, bail};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use pushgate::proto::v1::{
    CancelTaskRequest, CreateBroadcastTaskRequest, CreateLabelTaskRequest, CreateListTaskRequest,
    GetTaskRequest, GetTaskStatsRequest, LabelMatch, ListTasksRequest, PushMessage, Strategy, Task,
    TaskKind, TaskState, create_broadcast_task_request, create_label_task_request,
    create_list_task_request, task_service_client::TaskServiceClient,
};
use serde_json::json;
use tonic::transport::Channel;

use super::{
    client::{ClientArgs, status_error, with_token},
    output::{self, Output},
    watch::{self, WatchArgs},
};

/// Most labels a label task takes (CreateLabelTaskRequest.labels).
const MAX_LABELS: usize = 5;

/// `pushgate task ...`: the server, the app token, the output format and what to do.
#[derive(Args, Debug)]
pub struct TaskArgs {
    // Before the flattened server flags, so that it is listed with the options rather than under "Server".
    /// Output format: text and tables for people, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = Output::Human, global = true)]
    pub output: Output,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: TaskCommand,
}

/// The task subcommands.
#[derive(Subcommand, Debug)]
pub enum TaskCommand {
    /// Create a task that pushes one message to many users; prints the new task.
    Create {
        #[command(subcommand)]
        target: CreateTarget,
    },
    /// Follow a task's progress with a progress bar until it ends, then print a summary and its statistics.
    ///
    /// Exits 0 when the task completed, 1 when it failed or was cancelled, 2 on errors. With
    /// `--output json`: one JSON line per progress item, then the statistics, and no bar.
    Watch(WatchArgs),
    /// Cancel a scheduled or running task; pushes already handed to vendors are not recalled.
    Cancel {
        /// The task id.
        id: String,
    },
    /// Print a task with its progress.
    Get {
        /// The task id.
        id: String,
    },
    /// List the app's tasks, newest first.
    List {
        /// Only tasks in these states (repeat or separate with commas).
        #[arg(long, value_enum, value_delimiter = ',')]
        state: Vec<StateArg>,
        /// Only tasks of this kind.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// Most tasks to print (0 = all).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Print a task's delivery statistics by channel, status, failure reason and vendor.
    Stats {
        /// The task id.
        id: String,
    },
}

/// Who a new task pushes to.
#[derive(Subcommand, Debug)]
pub enum CreateTarget {
    /// Push to every user of the app.
    Broadcast {
        #[command(flatten)]
        create: CreateArgs,
    },
    /// Push to the users of 1..5 labels.
    Label {
        /// A label name; repeat for up to 5 labels.
        #[arg(long = "label", required = true, value_name = "LABEL")]
        labels: Vec<String>,
        /// With several labels: users in any of them (union) or in all of them (intersection).
        #[arg(long = "match", value_enum, default_value_t = MatchArg::Any)]
        label_match: MatchArg,
        #[command(flatten)]
        create: CreateArgs,
    },
    /// Push to a list of up to 10,000 users.
    #[command(group(ArgGroup::new("receivers").required(true).multiple(true).args(["users", "users_file"])))]
    List {
        /// A user id; repeat for more.
        #[arg(long = "user", value_name = "USER")]
        users: Vec<String>,
        /// A file with one user id per line (blank lines skipped; `-` reads standard input). Adds to --user.
        #[arg(long, value_name = "FILE")]
        users_file: Option<PathBuf>,
        #[command(flatten)]
        create: CreateArgs,
    },
}

/// What every create takes: the message and when and how to push it.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("message").required(true).multiple(true).args(["title", "content", "message_id"])))]
pub struct CreateArgs {
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
    /// When to start, RFC 3339 (2025-06-01T08:00:00Z, 2025-06-01T16:00:00+08:00); at most 30 days ahead.
    /// Default: now.
    #[arg(long, value_parser = parse_start_time, value_name = "TIME")]
    pub start_time: Option<prost_types::Timestamp>,
    /// Idempotency key (1..64 characters): a repeat within 24 h returns the task the first call created.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// `--match` of a label task.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchArg {
    /// Users in at least one of the labels.
    Any,
    /// Users in every one of the labels.
    All,
}

/// `--state` of `task list`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateArg {
    /// Waiting for the start time or a free slot.
    Scheduled,
    /// Fanning out.
    Running,
    /// Every target processed.
    Completed,
    /// Cancelled.
    Cancelled,
    /// Stopped by an error.
    Failed,
}

impl From<StateArg> for TaskState {
    fn from(s: StateArg) -> Self {
        match s {
            StateArg::Scheduled => TaskState::Scheduled,
            StateArg::Running => TaskState::Running,
            StateArg::Completed => TaskState::Completed,
            StateArg::Cancelled => TaskState::Cancelled,
            StateArg::Failed => TaskState::Failed,
        }
    }
}

/// `--kind` of `task list`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindArg {
    /// Every user of the app.
    Broadcast,
    /// The users of labels.
    Label,
    /// A list of users.
    List,
}

impl From<KindArg> for TaskKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Broadcast => TaskKind::Broadcast,
            KindArg::Label => TaskKind::Label,
            KindArg::List => TaskKind::List,
        }
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

/// Parses `--start-time` as an RFC 3339 time with an offset.
pub fn parse_start_time(text: &str) -> Result<prost_types::Timestamp, String> {
    let t: jiff::Timestamp = text.trim().parse().map_err(|e| {
        format!("`{text}` is not an RFC 3339 time such as 2025-06-01T08:00:00Z ({e})")
    })?;
    Ok(prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: t.subsec_nanosecond(),
    })
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

/// The message of a create, inline or by id, in the one shape all three create requests share.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageSource {
    /// `--title` / `--content` / `--ext`.
    Inline(Box<PushMessage>),
    /// `--message-id`.
    Stored(String),
}

impl CreateArgs {
    /// The message to push; a key given twice with `--ext` is a mistake, not a silent override.
    pub fn message(&self) -> Result<MessageSource> {
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

    fn strategy(&self) -> i32 {
        self.strategy.unwrap_or(Strategy::Unspecified) as i32
    }

    fn request_id(&self) -> String {
        self.request_id.clone().unwrap_or_default()
    }
}

/// A broadcast request from the flags.
pub fn broadcast_request(create: &CreateArgs) -> Result<CreateBroadcastTaskRequest> {
    use create_broadcast_task_request::MessageSource as S;
    Ok(CreateBroadcastTaskRequest {
        message_source: Some(match create.message()? {
            MessageSource::Inline(m) => S::Message(*m),
            MessageSource::Stored(id) => S::MessageId(id),
        }),
        strategy: create.strategy(),
        start_time: create.start_time,
        request_id: create.request_id(),
    })
}

/// A label request from the flags; 1..5 distinct labels.
pub fn label_request(
    labels: &[String],
    label_match: MatchArg,
    create: &CreateArgs,
) -> Result<CreateLabelTaskRequest> {
    use create_label_task_request::MessageSource as S;
    if labels.len() > MAX_LABELS {
        bail!(
            "--label is given {} times; a label task takes 1..{MAX_LABELS} labels",
            labels.len()
        );
    }
    if let Some(dup) = labels
        .iter()
        .enumerate()
        .find_map(|(i, l)| labels[..i].contains(l).then_some(l))
    {
        bail!("--label `{dup}` is given twice");
    }
    Ok(CreateLabelTaskRequest {
        message_source: Some(match create.message()? {
            MessageSource::Inline(m) => S::Message(*m),
            MessageSource::Stored(id) => S::MessageId(id),
        }),
        labels: labels.to_vec(),
        label_match: match label_match {
            MatchArg::Any => LabelMatch::Any,
            MatchArg::All => LabelMatch::All,
        } as i32,
        strategy: create.strategy(),
        start_time: create.start_time,
        request_id: create.request_id(),
    })
}

/// A list request from the flags: the `--user`s, then the file's users.
pub fn list_request(
    users: &[String],
    users_file: Option<&Path>,
    create: &CreateArgs,
) -> Result<CreateListTaskRequest> {
    use create_list_task_request::MessageSource as S;
    let mut all = users.to_vec();
    if let Some(path) = users_file {
        all.extend(read_users_file(path)?);
    }
    if all.is_empty() {
        bail!("no users to push to: --user and --users-file name none");
    }
    Ok(CreateListTaskRequest {
        message_source: Some(match create.message()? {
            MessageSource::Inline(m) => S::Message(*m),
            MessageSource::Stored(id) => S::MessageId(id),
        }),
        users: all,
        strategy: create.strategy(),
        start_time: create.start_time,
        request_id: create.request_id(),
    })
}

/// Runs a task subcommand; the exit code is 0 unless `watch` saw the task fail or be cancelled.
pub async fn run(args: TaskArgs) -> Result<ExitCode> {
    let token = args.client.app_token()?;
    // Flags are checked before connecting, so that a typo is reported as such even with no server up.
    let request = match &args.command {
        TaskCommand::Create { target } => Some(create_request(target)?),
        _ => None,
    };
    let mut client = TaskServiceClient::new(args.client.connect().await?);
    let out = args.output;
    match args.command {
        TaskCommand::Create { .. } => {
            let task = match request {
                Some(CreateRequest::Broadcast(r)) => {
                    client
                        .create_broadcast_task(with_token(r, &token)?)
                        .await
                        .map_err(status_error)?
                        .into_inner()
                        .task
                }
                Some(CreateRequest::Label(r)) => {
                    client
                        .create_label_task(with_token(r, &token)?)
                        .await
                        .map_err(status_error)?
                        .into_inner()
                        .task
                }
                Some(CreateRequest::List(r)) => {
                    client
                        .create_list_task(with_token(r, &token)?)
                        .await
                        .map_err(status_error)?
                        .into_inner()
                        .task
                }
                None => None,
            };
            print_task(out, task)?;
        }
        TaskCommand::Get { id } => {
            let task = client
                .get_task(with_token(GetTaskRequest { task_id: id }, &token)?)
                .await
                .map_err(status_error)?
                .into_inner()
                .task;
            print_task(out, task)?;
        }
        TaskCommand::Cancel { id } => {
            let task = client
                .cancel_task(with_token(CancelTaskRequest { task_id: id }, &token)?)
                .await
                .map_err(status_error)?
                .into_inner()
                .task;
            print_task(out, task)?;
        }
        TaskCommand::List { state, kind, limit } => {
            let tasks = list_tasks(&mut client, &token, &state, kind, limit).await?;
            match out {
                Output::Human => print!("{}", output::tasks_table(&tasks)),
                Output::Json => println!(
                    "{}",
                    json!({ "tasks": tasks.iter().map(output::task_json).collect::<Vec<_>>() })
                ),
            }
        }
        TaskCommand::Stats { id } => {
            let stats = client
                .get_task_stats(with_token(GetTaskStatsRequest { task_id: id }, &token)?)
                .await
                .map_err(status_error)?
                .into_inner()
                .stats
                .ok_or_else(|| anyhow!("the server answered without the statistics"))?;
            match out {
                Output::Human => print!("{}", output::stats_text(&stats)),
                Output::Json => println!("{}", json!({ "stats": output::stats_json(&stats) })),
            }
        }
        TaskCommand::Watch(watch) => {
            return watch::run(client, &token, watch, out).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A create request, checked and ready to send.
enum CreateRequest {
    Broadcast(CreateBroadcastTaskRequest),
    Label(CreateLabelTaskRequest),
    List(CreateListTaskRequest),
}

fn create_request(target: &CreateTarget) -> Result<CreateRequest> {
    Ok(match target {
        CreateTarget::Broadcast { create } => CreateRequest::Broadcast(broadcast_request(create)?),
        CreateTarget::Label {
            labels,
            label_match,
            create,
        } => CreateRequest::Label(label_request(labels, *label_match, create)?),
        CreateTarget::List {
            users,
            users_file,
            create,
        } => CreateRequest::List(list_request(users, users_file.as_deref(), create)?),
    })
}

fn print_task(out: Output, task: Option<Task>) -> Result<()> {
    let task = task.ok_or_else(|| anyhow!("the server answered without the task"))?;
    match out {
        Output::Human => print!("{}", output::task_text(&task)),
        Output::Json => println!("{}", json!({ "task": output::task_json(&task) })),
    }
    Ok(())
}

/// Pages through ListTasks until `limit` tasks (0 = all) or the last page.
async fn list_tasks(
    client: &mut TaskServiceClient<Channel>,
    token: &str,
    states: &[StateArg],
    kind: Option<KindArg>,
    limit: usize,
) -> Result<Vec<Task>> {
    let mut tasks = Vec::new();
    let mut page_token = String::new();
    loop {
        let want = match limit {
            0 => 100,
            n => (n - tasks.len()).min(100),
        };
        let page = client
            .list_tasks(with_token(
                ListTasksRequest {
                    page_size: want as i32,
                    page_token,
                    states: states.iter().map(|s| TaskState::from(*s) as i32).collect(),
                    kind: kind.map_or(TaskKind::Unspecified, TaskKind::from) as i32,
                },
                token,
            )?)
            .await
            .map_err(status_error)?
            .into_inner();
        tasks.extend(page.tasks);
        if limit > 0 && tasks.len() >= limit {
            tasks.truncate(limit);
            break;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(tasks)
}
