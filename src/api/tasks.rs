//! `TaskService`: broadcast, label and list tasks, their progress, statistics and cancellation.

use std::{collections::HashSet, pin::Pin, sync::Arc, time::Duration};

use futures::Stream;
use tonic::{Request, Response, Status};

use crate::{
    api::{auth_layer::app_of, page_token, status},
    channel::Channel,
    clock::now_ms,
    clock::timestamp,
    proto::v1::{
        CancelTaskRequest, CancelTaskResponse, CreateBroadcastTaskRequest,
        CreateBroadcastTaskResponse, CreateLabelTaskRequest, CreateLabelTaskResponse,
        CreateListTaskRequest, CreateListTaskResponse, GetTaskRequest, GetTaskResponse,
        GetTaskStatsRequest, GetTaskStatsResponse, LabelMatch, ListTasksRequest, ListTasksResponse,
        PushMessage, Strategy, Task, TaskKind, TaskProgress, TaskState, WatchTaskRequest,
        WatchTaskResponse, create_broadcast_task_request, create_label_task_request,
        create_list_task_request, task_service_server::TaskService,
    },
    push::{Idempotency, IdempotencyError, MessageSource, PushConfig, limits::check_message},
    store::TaskRecord,
    tasks::{NewTask, TaskError, Tasks, stats},
    tenant::check_user_id,
    validate::{Violations, max_chars},
};

/// Most labels of a label task.
const MAX_LABELS: usize = 5;
/// WatchTask's interval bounds and default.
const WATCH_INTERVAL: (Duration, Duration, Duration) = (
    Duration::from_millis(100),
    Duration::from_secs(60),
    Duration::from_secs(1),
);

/// The `TaskService` implementation.
pub struct TaskApi {
    tasks: Tasks,
    channel: Channel,
    idempotency: Arc<Idempotency>,
    push: PushConfig,
}

impl TaskApi {
    /// Serves `tasks`.
    pub fn new(
        tasks: Tasks,
        channel: Channel,
        idempotency: Arc<Idempotency>,
        push: PushConfig,
    ) -> Self {
        Self {
            tasks,
            channel,
            idempotency,
            push,
        }
    }

    /// The message of a create: validated inline, or a stored one that exists, and the template it names
    /// exists (checked once the request has no other violation so far).
    async fn message(
        &self,
        app: &str,
        given: Option<PushMessage>,
        stored: Option<String>,
        v: &mut Violations,
    ) -> Result<Option<MessageSource>, Status> {
        let Some(source) = MessageSource::of_request(given, stored) else {
            v.add(
                "message",
                "is required: give a message or a stored message_id",
            );
            return Ok(None);
        };
        if let MessageSource::Inline(m) = &source {
            check_message(m, &self.push, "message", v);
        }
        if v.list().is_empty() {
            self.tasks.resolve_message(app, source.clone()).await?;
        }
        Ok(Some(source))
    }

    /// Validates the common fields, then creates the task (idempotently).
    async fn create(
        &self,
        app: &str,
        common: Common<'_>,
        mut v: Violations,
        task: impl FnOnce(MessageSource, Strategy, Option<i64>) -> NewTask,
    ) -> Result<Task, Status> {
        let Common {
            rpc,
            request_id,
            start_time,
            strategy,
            message,
        } = common;
        let strategy = Strategy::try_from(strategy).unwrap_or_else(|_| {
            v.add("strategy", "is not a strategy");
            Strategy::Unspecified
        });
        if !request_id.is_empty() {
            v.check("request_id", max_chars(request_id, 64));
        }
        let start_ms = start_time.map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000);
        self.tasks.check_start(start_ms, now_ms(), &mut v);
        v.into_result().map_err(|v| status::invalid(&v))?;
        let Some(message) = message else {
            return Err(Status::internal("a validated create has a message"));
        };
        let new = task(message, strategy, start_ms);
        let answer = self
            .idempotency
            .answer(app, rpc, request_id, async {
                let record = self.tasks.create(app, new).await.map_err(task_status)?;
                Ok::<_, Status>(to_proto(&record))
            })
            .await
            .map_err(|e| match e {
                IdempotencyError::Store(e) => e.into(),
                IdempotencyError::Call(status) => status,
            })?;
        Ok(answer)
    }
}

/// The fields every create request has.
struct Common<'a> {
    rpc: &'a str,
    request_id: &'a str,
    start_time: Option<prost_types::Timestamp>,
    strategy: i32,
    message: Option<MessageSource>,
}

fn task_status(e: TaskError) -> Status {
    match e {
        TaskError::Limit {
            subject,
            description,
            retry_after,
        } => status::quota_retry(subject, description, retry_after),
        TaskError::NotFound(id) => status::not_found("task", &id),
        e @ TaskError::Ended { .. } => {
            status::plain(tonic::Code::FailedPrecondition, e.to_string())
        }
        TaskError::Store(e) => e.into(),
    }
}

/// The API form of a task.
pub fn to_proto(t: &TaskRecord) -> Task {
    let at = |ms: i64| (ms > 0).then(|| timestamp(ms));
    Task {
        id: t.id.clone(),
        kind: t.kind,
        state: t.state,
        strategy: t.strategy,
        message_id: t.message_id.clone(),
        labels: t.labels.clone(),
        label_match: t.label_match,
        list_size: t.list_size,
        create_time: at(t.create_ms),
        start_time: at(t.start_ms),
        run_time: at(t.run_ms),
        end_time: at(t.end_ms),
        progress: Some(stats::progress(t)),
        error: t.error.clone(),
    }
}

fn required_id(id: &str) -> Result<(), Status> {
    if id.is_empty() {
        return Err(status::invalid(&Violations::single(
            "task_id",
            "is required",
        )));
    }
    Ok(())
}

#[tonic::async_trait]
impl TaskService for TaskApi {
    async fn create_broadcast_task(
        &self,
        request: Request<CreateBroadcastTaskRequest>,
    ) -> Result<Response<CreateBroadcastTaskResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let (given, stored) = match r.message_source {
            Some(create_broadcast_task_request::MessageSource::Message(m)) => (Some(m), None),
            Some(create_broadcast_task_request::MessageSource::MessageId(id)) => (None, Some(id)),
            None => (None, None),
        };
        let message = self.message(&app, given, stored, &mut v).await?;
        let task = self
            .create(
                &app,
                Common {
                    rpc: "CreateBroadcastTask",
                    request_id: &r.request_id,
                    start_time: r.start_time,
                    strategy: r.strategy,
                    message,
                },
                v,
                |message, strategy, start_ms| NewTask {
                    kind: TaskKind::Broadcast,
                    strategy,
                    message,
                    labels: vec![],
                    label_match: LabelMatch::Unspecified,
                    users: vec![],
                    start_ms,
                },
            )
            .await?;
        Ok(Response::new(CreateBroadcastTaskResponse {
            task: Some(task),
        }))
    }

    async fn create_label_task(
        &self,
        request: Request<CreateLabelTaskRequest>,
    ) -> Result<Response<CreateLabelTaskResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let distinct: HashSet<&String> = r.labels.iter().collect();
        if r.labels.is_empty() || r.labels.len() > MAX_LABELS || distinct.len() != r.labels.len() {
            v.add(
                "labels",
                format!("must name 1 to {MAX_LABELS} distinct labels"),
            );
        }
        let label_match = match LabelMatch::try_from(r.label_match) {
            Ok(LabelMatch::Unspecified) => LabelMatch::Any,
            Ok(m) => m,
            Err(_) => {
                v.add("label_match", "is not a label match");
                LabelMatch::Any
            }
        };
        let (given, stored) = match r.message_source {
            Some(create_label_task_request::MessageSource::Message(m)) => (Some(m), None),
            Some(create_label_task_request::MessageSource::MessageId(id)) => (None, Some(id)),
            None => (None, None),
        };
        let message = self.message(&app, given, stored, &mut v).await?;
        if v.list().is_empty()
            && let Some(label) = self
                .tasks
                .missing_label(&app, &r.labels)
                .await
                .map_err(task_status)?
        {
            return Err(status::not_found("label", &label));
        }
        let labels = r.labels.clone();
        let task = self
            .create(
                &app,
                Common {
                    rpc: "CreateLabelTask",
                    request_id: &r.request_id,
                    start_time: r.start_time,
                    strategy: r.strategy,
                    message,
                },
                v,
                |message, strategy, start_ms| NewTask {
                    kind: TaskKind::Label,
                    strategy,
                    message,
                    labels,
                    label_match,
                    users: vec![],
                    start_ms,
                },
            )
            .await?;
        Ok(Response::new(CreateLabelTaskResponse { task: Some(task) }))
    }

    async fn create_list_task(
        &self,
        request: Request<CreateListTaskRequest>,
    ) -> Result<Response<CreateListTaskResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let max = self.tasks.config().max_list_users;
        if r.users.is_empty() || r.users.len() > max {
            v.add("users", format!("must hold 1 to {max} user ids"));
        }
        if let Some((i, bad)) = r
            .users
            .iter()
            .enumerate()
            .find(|(_, u)| check_user_id(u).is_err())
        {
            v.add(format!("users[{i}]"), format!("{bad:?} is not a user id"));
        }
        let mut seen = HashSet::new();
        let users: Vec<String> = r
            .users
            .iter()
            .filter(|u| seen.insert(*u))
            .cloned()
            .collect();
        let (given, stored) = match r.message_source {
            Some(create_list_task_request::MessageSource::Message(m)) => (Some(m), None),
            Some(create_list_task_request::MessageSource::MessageId(id)) => (None, Some(id)),
            None => (None, None),
        };
        let message = self.message(&app, given, stored, &mut v).await?;
        let task = self
            .create(
                &app,
                Common {
                    rpc: "CreateListTask",
                    request_id: &r.request_id,
                    start_time: r.start_time,
                    strategy: r.strategy,
                    message,
                },
                v,
                |message, strategy, start_ms| NewTask {
                    kind: TaskKind::List,
                    strategy,
                    message,
                    labels: vec![],
                    label_match: LabelMatch::Unspecified,
                    users,
                    start_ms,
                },
            )
            .await?;
        Ok(Response::new(CreateListTaskResponse { task: Some(task) }))
    }

    async fn get_task(
        &self,
        request: Request<GetTaskRequest>,
    ) -> Result<Response<GetTaskResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        required_id(&r.task_id)?;
        let task = self
            .tasks
            .get(&app, &r.task_id)
            .await
            .map_err(task_status)?;
        Ok(Response::new(GetTaskResponse {
            task: Some(to_proto(&task)),
        }))
    }

    async fn list_tasks(
        &self,
        request: Request<ListTasksRequest>,
    ) -> Result<Response<ListTasksResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let size = if r.page_size == 0 { 20 } else { r.page_size };
        let (size, after) = crate::api::page(size, &r.page_token)?;
        let mut v = Violations::new();
        if r.states.iter().any(|s| TaskState::try_from(*s).is_err()) {
            v.add("states", "holds a value that is not a task state");
        }
        if TaskKind::try_from(r.kind).is_err() {
            v.add("kind", "is not a task kind");
        }
        v.into_result().map_err(|v| status::invalid(&v))?;
        let wanted = |t: &TaskRecord| {
            (r.states.is_empty() || r.states.contains(&t.state))
                && (r.kind == 0 || r.kind == t.kind)
        };
        let (records, more) = self
            .tasks
            .list(&app, after, size, wanted)
            .await
            .map_err(task_status)?;
        let tasks: Vec<Task> = records.iter().map(to_proto).collect();
        let next_page_token = if more {
            tasks.last().map(|t| page_token(&t.id)).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListTasksResponse {
            tasks,
            next_page_token,
        }))
    }

    async fn cancel_task(
        &self,
        request: Request<CancelTaskRequest>,
    ) -> Result<Response<CancelTaskResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        required_id(&r.task_id)?;
        let task = self
            .tasks
            .cancel(&app, &r.task_id)
            .await
            .map_err(task_status)?;
        Ok(Response::new(CancelTaskResponse {
            task: Some(to_proto(&task)),
        }))
    }

    type WatchTaskStream = Pin<Box<dyn Stream<Item = Result<WatchTaskResponse, Status>> + Send>>;

    async fn watch_task(
        &self,
        request: Request<WatchTaskRequest>,
    ) -> Result<Response<Self::WatchTaskStream>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        required_id(&r.task_id)?;
        let (min, max, default) = WATCH_INTERVAL;
        let interval = match r.min_interval.map(Duration::try_from) {
            None => default,
            Some(Ok(d)) if (min..=max).contains(&d) => d,
            Some(_) => {
                return Err(status::invalid(&Violations::single(
                    "min_interval",
                    "must be between 100 ms and 1 minute",
                )));
            }
        };
        // Unknown ids fail the call itself, not the stream.
        self.tasks
            .get(&app, &r.task_id)
            .await
            .map_err(task_status)?;
        let tasks = self.tasks.clone();
        let id = r.task_id;
        // Reads the task every interval: the first item at once, the last one with a final state. While it
        // runs, the counts include its page in flight; the stream state keeps the last counts sent, so that a
        // read racing the page's checkpoint never shows a count going back.
        let stream = futures::stream::unfold(Some(None), move |state| {
            let (tasks, app, id) = (tasks.clone(), app.clone(), id.clone());
            async move {
                let last: Option<TaskProgress> = state?;
                if last.is_some() {
                    tokio::time::sleep(interval).await;
                }
                let item = match tasks.get(&app, &id).await {
                    Ok(task) => {
                        let ended = stats::ended(task.state);
                        let mut progress = tasks.progress(&app, &task);
                        if let (false, Some(last)) = (ended, &last) {
                            progress = stats::no_lower_than(progress, last);
                        }
                        let next = (!ended).then_some(Some(progress));
                        return Some((
                            Ok(WatchTaskResponse {
                                progress: Some(progress),
                            }),
                            next,
                        ));
                    }
                    Err(e) => Err(task_status(e)),
                };
                Some((item, None))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_task_stats(
        &self,
        request: Request<GetTaskStatsRequest>,
    ) -> Result<Response<GetTaskStatsResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        required_id(&r.task_id)?;
        let task = self
            .tasks
            .get(&app, &r.task_id)
            .await
            .map_err(task_status)?;
        let acked = self
            .channel
            .task_ack_counts(&app, &task.id)
            .await
            .map(|c| (c.delivered, c.clicked))
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read ack counts");
                Status::internal("cannot read the acknowledgement counts")
            })?;
        Ok(Response::new(GetTaskStatsResponse {
            stats: Some(stats::stats(&task, acked)),
        }))
    }
}
