//! `pushgate task`: create broadcast, label and list tasks, and get, list, cancel, watch and read the
//! statistics of tasks (TaskService).

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use pushgate::proto::v1::{
    CancelTaskRequest, CreateBroadcastTaskRequest, CreateLabelTaskRequest, CreateListTaskRequest,
    GetTaskRequest, GetTaskResponse, GetTaskStatsRequest, LabelMatch, ListTasksRequest,
    ListTasksResponse, Task, TaskKind, TaskState, create_broadcast_task_request,
    create_label_task_request, create_list_task_request, task_service_client::TaskServiceClient,
};
use tonic::transport::Channel;

use super::{
    client::{ClientArgs, status_error, with_token},
    input::{MessageArgs, UsersArgs},
    output::{self, Output},
    watch::{self, WatchArgs},
};

/// Most labels a label task takes (CreateLabelTaskRequest.labels).
const MAX_LABELS: usize = 5;

/// `pushgate task ...`: the server, the app token, the output format and what to do.
#[derive(Args, Debug)]
pub struct TaskArgs {
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
    List {
        #[command(flatten)]
        receivers: UsersArgs,
        #[command(flatten)]
        create: CreateArgs,
    },
}

/// What every create takes: the message, how to push it and when.
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    #[command(flatten)]
    pub message: MessageArgs,
    /// When to start, RFC 3339 (2025-06-01T08:00:00Z, 2025-06-01T16:00:00+08:00); at most 30 days ahead.
    /// Default: now.
    #[arg(long, value_parser = parse_start_time, value_name = "TIME")]
    pub start_time: Option<prost_types::Timestamp>,
    /// Then follow the new task as `task watch` does (a progress bar, then the summary and statistics); the
    /// exit code is watch's.
    #[arg(long)]
    pub watch: bool,
    /// Print only the new task's id (for `ID=$(pushgate task create … --quiet)`).
    #[arg(long, short)]
    pub quiet: bool,
}

impl CreateTarget {
    /// What every kind of create takes.
    pub fn create(&self) -> &CreateArgs {
        match self {
            CreateTarget::Broadcast { create }
            | CreateTarget::Label { create, .. }
            | CreateTarget::List { create, .. } => create,
        }
    }
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

/// A broadcast request from the flags.
pub fn broadcast_request(create: &CreateArgs) -> Result<CreateBroadcastTaskRequest> {
    use create_broadcast_task_request::MessageSource as S;
    Ok(CreateBroadcastTaskRequest {
        message_source: Some(
            create
                .message
                .source()?
                .into_oneof(S::Message, S::MessageId),
        ),
        strategy: create.message.strategy(),
        start_time: create.start_time,
        request_id: create.message.request_id(),
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
        message_source: Some(
            create
                .message
                .source()?
                .into_oneof(S::Message, S::MessageId),
        ),
        labels: labels.to_vec(),
        label_match: match label_match {
            MatchArg::Any => LabelMatch::Any,
            MatchArg::All => LabelMatch::All,
        } as i32,
        strategy: create.message.strategy(),
        start_time: create.start_time,
        request_id: create.message.request_id(),
    })
}

/// A list request from the flags: the `--user`s, then the file's users.
pub fn list_request(receivers: &UsersArgs, create: &CreateArgs) -> Result<CreateListTaskRequest> {
    use create_list_task_request::MessageSource as S;
    Ok(CreateListTaskRequest {
        message_source: Some(
            create
                .message
                .source()?
                .into_oneof(S::Message, S::MessageId),
        ),
        users: receivers.read()?,
        strategy: create.message.strategy(),
        start_time: create.start_time,
        request_id: create.message.request_id(),
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
    let out = args.client.output;
    match args.command {
        TaskCommand::Create { target } => {
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
            let id = task.as_ref().map(|t| t.id.clone()).unwrap_or_default();
            match target.create().quiet {
                true if !id.is_empty() => println!("{id}"),
                _ => print_task(out, task)?,
            }
            if target.create().watch {
                let watch = WatchArgs {
                    id,
                    interval_ms: None,
                    idle: watch::DEFAULT_IDLE_SECS,
                };
                return watch::run(client, &token, watch, out).await;
            }
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
            let r = ListTasksResponse {
                tasks,
                next_page_token: String::new(),
            };
            output::print(out, &r, |r| output::tasks_table(&r.tasks))?;
        }
        TaskCommand::Stats { id } => {
            let r = client
                .get_task_stats(with_token(GetTaskStatsRequest { task_id: id }, &token)?)
                .await
                .map_err(status_error)?
                .into_inner();
            let Some(stats) = &r.stats else {
                bail!("the server answered without the statistics")
            };
            output::print(out, &r, |_| output::stats_text(stats))?;
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
        CreateTarget::List { receivers, create } => {
            CreateRequest::List(list_request(receivers, create)?)
        }
    })
}

/// Prints the task a create, get or cancel answered. Their responses all hold just `task`, so the JSON is
/// that of GetTaskResponse whichever call it was.
fn print_task(out: Output, task: Option<Task>) -> Result<()> {
    let Some(task) = task else {
        bail!("the server answered without the task")
    };
    let r = GetTaskResponse { task: Some(task) };
    output::print(out, &r, |r| {
        r.task.as_ref().map(output::task_text).unwrap_or_default()
    })
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
