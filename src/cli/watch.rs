//! `pushgate task watch`: follows WatchTask with a progress bar (or JSON lines), then prints the outcome.

use std::{process::ExitCode, time::Duration};

use anyhow::{Result, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pushgate::proto::v1::{
    GetTaskRequest, GetTaskStatsRequest, Task, TaskProgress, TaskState, WatchTaskRequest,
    WatchTaskResponse, task_service_client::TaskServiceClient,
};
use tonic::transport::Channel;

use super::{
    client::{status_error, with_token},
    output::{self, Output},
    protojson,
};

/// `pushgate task watch ID`.
#[derive(Args, Debug)]
pub struct WatchArgs {
    /// The task id.
    pub id: String,
    /// Least milliseconds between two updates (100..60000). Default: the server's, 1 s.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub interval_ms: Option<u64>,
    /// Seconds without an update after which the task is looked up directly, to tell a quiet task (one
    /// scheduled for later) from a stream that was lost.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_IDLE_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle: u64,
}

/// `--idle` when not given.
pub const DEFAULT_IDLE_SECS: u64 = 60;

/// What the progress bar shows for one progress item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarState {
    /// Users done.
    pub position: u64,
    /// Users known so far; it grows while a broadcast or label task pages through its users.
    pub length: u64,
    /// The state and the outcome counts.
    pub message: String,
}

/// The bar for a progress item. The length never falls below the position, so a server that counts a
/// user done before it counts it known cannot draw a bar past its end.
pub fn bar_state(p: &TaskProgress) -> BarState {
    BarState {
        position: p.users_done,
        length: p.users_total.max(p.users_done),
        message: format!(
            "{} · {} success · {} fail · {} error",
            output::state_name(p.state),
            p.success_count,
            p.fail_count,
            p.error_count
        ),
    }
}

/// Whether a state is final: the stream ends after it.
pub fn is_final(state: i32) -> bool {
    matches!(
        TaskState::try_from(state),
        Ok(TaskState::Completed | TaskState::Cancelled | TaskState::Failed)
    )
}

/// The exit code for a final state: 0 completed, 1 failed or cancelled.
pub fn exit_code(state: i32) -> ExitCode {
    match TaskState::try_from(state) {
        Ok(TaskState::Completed) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

/// How long a task ran: from when it began running to when it ended, if it did both.
pub fn wall_time(task: &Task) -> Option<Duration> {
    let (run, end) = (task.run_time.as_ref()?, task.end_time.as_ref()?);
    let run = jiff::Timestamp::new(run.seconds, run.nanos).ok()?;
    let end = jiff::Timestamp::new(end.seconds, end.nanos).ok()?;
    Duration::try_from(end.duration_since(run)).ok()
}

fn new_bar() -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} users  {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(0).with_style(style);
    // Keeps the spinner and clock moving while a quiet task sends nothing.
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

fn show(bar: &ProgressBar, p: &TaskProgress) {
    let state = bar_state(p);
    bar.set_length(state.length);
    bar.set_position(state.position);
    bar.set_message(state.message);
}

/// Watches until the task ends, prints the summary and statistics, and returns the task's exit code.
pub async fn run(
    mut client: TaskServiceClient<Channel>,
    token: &str,
    watch: WatchArgs,
    out: Output,
) -> Result<ExitCode> {
    let request = WatchTaskRequest {
        task_id: watch.id.clone(),
        min_interval: watch.interval_ms.map(|ms| prost_types::Duration {
            seconds: (ms / 1000) as i64,
            nanos: ((ms % 1000) * 1_000_000) as i32,
        }),
    };
    let mut stream = client
        .watch_task(with_token(request, token)?)
        .await
        .map_err(status_error)?
        .into_inner();
    let bar = match out {
        Output::Human => new_bar(),
        Output::Json => ProgressBar::hidden(),
    };
    let idle = Duration::from_secs(watch.idle);
    let mut last: Option<TaskProgress> = None;
    let result = loop {
        match tokio::time::timeout(idle, stream.message()).await {
            Ok(Ok(Some(item))) => {
                let Some(p) = item.progress else { continue };
                if out == Output::Json {
                    let item = WatchTaskResponse { progress: Some(p) };
                    println!("{}", protojson::to_json(&item)?);
                }
                show(&bar, &p);
                let done = is_final(p.state);
                last = Some(p);
                if done {
                    break Ok(());
                }
            }
            Ok(Ok(None)) => break Ok(()),
            Ok(Err(status)) => break Err(status_error(status)),
            // Quiet for a while: a scheduled task may say nothing for hours, so ask for the task itself
            // (bounded by --timeout); an answer shows the server is there, and a final state ends the watch
            // even if the stream's last item was lost.
            Err(_) => match get_task(&mut client, token, &watch.id).await {
                Ok(task) => {
                    if let Some(p) = task.progress.filter(|_| is_final(task.state)) {
                        show(&bar, &p);
                        last = Some(p);
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            },
        }
    };
    bar.finish_and_clear();
    result?;
    let last = match last {
        Some(p) if is_final(p.state) => p,
        Some(p) => bail!(
            "the watch stream ended while the task was {}",
            output::state_name(p.state)
        ),
        None => bail!("the watch stream ended without any progress"),
    };
    if out == Output::Human {
        let task = get_task(&mut client, token, &watch.id).await?;
        print!("{}", output::summary_table(&last, wall_time(&task)));
    }
    let stats = client
        .get_task_stats(with_token(
            GetTaskStatsRequest {
                task_id: watch.id.clone(),
            },
            token,
        )?)
        .await
        .map_err(status_error)?
        .into_inner();
    let Some(s) = &stats.stats else {
        bail!("the server answered without the statistics")
    };
    match out {
        Output::Human => print!("\n{}", output::stats_text(s)),
        Output::Json => println!("{}", protojson::to_json(&stats)?),
    }
    Ok(exit_code(last.state))
}

async fn get_task(client: &mut TaskServiceClient<Channel>, token: &str, id: &str) -> Result<Task> {
    client
        .get_task(with_token(
            GetTaskRequest {
                task_id: id.to_owned(),
            },
            token,
        )?)
        .await
        .map_err(status_error)?
        .into_inner()
        .task
        .ok_or_else(|| anyhow!("the server answered without the task"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(state: TaskState, total: u64, done: u64) -> TaskProgress {
        TaskProgress {
            state: state as i32,
            users_total: total,
            users_done: done,
            success_count: done.saturating_sub(1),
            fail_count: done.min(1),
            error_count: 0,
            update_time: None,
        }
    }

    #[test]
    fn the_bar_follows_users_done_of_users_total() {
        assert_eq!(
            bar_state(&progress(TaskState::Running, 100, 40)),
            BarState {
                position: 40,
                length: 100,
                message: "running · 39 success · 1 fail · 0 error".into(),
            }
        );
    }

    #[test]
    fn the_bar_grows_with_a_broadcast_and_never_overflows() {
        let states: Vec<_> = [(0, 0), (500, 200), (1000, 900), (1000, 1000)]
            .into_iter()
            .map(|(total, done)| {
                let s = bar_state(&progress(TaskState::Running, total, done));
                (s.position, s.length)
            })
            .collect();
        assert_eq!(states, [(0, 0), (200, 500), (900, 1000), (1000, 1000)]);
        // Done counted before known: the bar is full, not past its end.
        let s = bar_state(&progress(TaskState::Running, 10, 12));
        assert_eq!((s.position, s.length), (12, 12));
    }

    #[test]
    fn the_message_names_the_final_state() {
        let s = bar_state(&progress(TaskState::Cancelled, 10, 3));
        assert!(s.message.starts_with("cancelled · "), "{}", s.message);
    }

    #[test]
    fn only_completed_exits_zero() {
        for (state, fin, code) in [
            (TaskState::Scheduled, false, 1),
            (TaskState::Running, false, 1),
            (TaskState::Completed, true, 0),
            (TaskState::Cancelled, true, 1),
            (TaskState::Failed, true, 1),
        ] {
            assert_eq!(is_final(state as i32), fin, "{state:?}");
            assert_eq!(exit_code(state as i32), ExitCode::from(code), "{state:?}");
        }
        assert!(!is_final(42));
    }

    #[test]
    fn wall_time_needs_both_ends() {
        let ts = |seconds, nanos| Some(prost_types::Timestamp { seconds, nanos });
        let mut task = Task {
            run_time: ts(100, 500_000_000),
            end_time: ts(112, 0),
            ..Default::default()
        };
        assert_eq!(wall_time(&task), Some(Duration::from_millis(11_500)));
        task.run_time = None;
        assert_eq!(wall_time(&task), None);
    }

    /// A TaskService that streams fixed progress and answers GetTask with a fixed task: the watch loop
    /// over a real gRPC connection, without the task engine.
    mod fake {
        use std::pin::Pin;

        use futures::{Stream, StreamExt, stream};
        use pushgate::proto::v1::{
            CancelTaskRequest, CancelTaskResponse, CreateBroadcastTaskRequest,
            CreateBroadcastTaskResponse, CreateLabelTaskRequest, CreateLabelTaskResponse,
            CreateListTaskRequest, CreateListTaskResponse, GetTaskResponse, GetTaskStatsResponse,
            ListTasksRequest, ListTasksResponse, TaskStats, WatchTaskResponse,
            task_service_server::{TaskService, TaskServiceServer},
        };
        use tokio_stream::wrappers::TcpListenerStream;
        use tonic::{Request, Response, Status, transport::Server};

        use super::*;
        use crate::cli::client::ClientArgs;

        #[derive(Clone, Default)]
        pub struct Fake {
            /// Streamed by WatchTask, in order.
            pub items: Vec<TaskProgress>,
            /// After the items, keep the stream open without a word (a task scheduled for later).
            pub hold_open: bool,
            /// Answered by GetTask; `None`: NOT_FOUND everywhere.
            pub task: Option<Task>,
        }

        type Answer<T> = Result<Response<T>, Status>;

        impl Fake {
            fn task(&self) -> Result<Task, Status> {
                self.task
                    .clone()
                    .ok_or_else(|| Status::not_found("no such task"))
            }
        }

        #[tonic::async_trait]
        impl TaskService for Fake {
            type WatchTaskStream =
                Pin<Box<dyn Stream<Item = Result<WatchTaskResponse, Status>> + Send>>;

            async fn create_broadcast_task(
                &self,
                _: Request<CreateBroadcastTaskRequest>,
            ) -> Answer<CreateBroadcastTaskResponse> {
                Err(Status::unimplemented(""))
            }
            async fn create_label_task(
                &self,
                _: Request<CreateLabelTaskRequest>,
            ) -> Answer<CreateLabelTaskResponse> {
                Err(Status::unimplemented(""))
            }
            async fn create_list_task(
                &self,
                _: Request<CreateListTaskRequest>,
            ) -> Answer<CreateListTaskResponse> {
                Err(Status::unimplemented(""))
            }
            async fn get_task(&self, _: Request<GetTaskRequest>) -> Answer<GetTaskResponse> {
                Ok(Response::new(GetTaskResponse {
                    task: Some(self.task()?),
                }))
            }
            async fn list_tasks(&self, _: Request<ListTasksRequest>) -> Answer<ListTasksResponse> {
                Err(Status::unimplemented(""))
            }
            async fn cancel_task(
                &self,
                _: Request<CancelTaskRequest>,
            ) -> Answer<CancelTaskResponse> {
                Err(Status::unimplemented(""))
            }
            async fn watch_task(
                &self,
                request: Request<WatchTaskRequest>,
            ) -> Answer<Self::WatchTaskStream> {
                self.task()?;
                let interval = request.into_inner().min_interval.unwrap_or_default();
                assert_eq!((interval.seconds, interval.nanos), (0, 100_000_000));
                let items = stream::iter(self.items.clone())
                    .map(|p| Ok(WatchTaskResponse { progress: Some(p) }));
                Ok(Response::new(match self.hold_open {
                    true => Box::pin(items.chain(stream::pending())),
                    false => Box::pin(items),
                }))
            }
            async fn get_task_stats(
                &self,
                _: Request<GetTaskStatsRequest>,
            ) -> Answer<GetTaskStatsResponse> {
                let task = self.task()?;
                Ok(Response::new(GetTaskStatsResponse {
                    stats: Some(TaskStats {
                        task_id: task.id,
                        state: task.state,
                        ..Default::default()
                    }),
                }))
            }
        }

        /// Serves `fake` on a free loopback port and connects to it.
        pub async fn client(fake: Fake) -> TaskServiceClient<Channel> {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(
                Server::builder()
                    .add_service(TaskServiceServer::new(fake))
                    .serve_with_incoming(TcpListenerStream::new(listener)),
            );
            let args = ClientArgs {
                output: Output::Human,
                endpoint: format!("http://{addr}"),
                token: Some("t".into()),
                timeout: 5,
            };
            TaskServiceClient::new(args.connect().await.unwrap())
        }
    }

    async fn watch_fake(fake: fake::Fake, idle: u64, out: Output) -> Result<ExitCode> {
        let client = fake::client(fake).await;
        let args = WatchArgs {
            id: "t-1".into(),
            interval_ms: Some(100),
            idle,
        };
        tokio::time::timeout(Duration::from_secs(20), run(client, "t", args, out))
            .await
            .expect("the watch ends")
    }

    fn ended(state: TaskState, total: u64) -> Task {
        Task {
            id: "t-1".into(),
            state: state as i32,
            progress: Some(progress(state, total, total)),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_growing_broadcast_is_followed_to_completion() {
        let items = [(0, 0), (100, 40), (250, 200), (250, 250)]
            .into_iter()
            .enumerate()
            .map(|(i, (total, done))| {
                let state = match i {
                    0 => TaskState::Scheduled,
                    3 => TaskState::Completed,
                    _ => TaskState::Running,
                };
                progress(state, total, done)
            })
            .collect();
        let fake = fake::Fake {
            items,
            task: Some(ended(TaskState::Completed, 250)),
            ..Default::default()
        };
        for out in [Output::Json, Output::Human] {
            let code = watch_fake(fake.clone(), 60, out).await.unwrap();
            assert_eq!(code, ExitCode::SUCCESS, "{out:?}");
        }
    }

    #[tokio::test]
    async fn failed_and_cancelled_tasks_exit_one() {
        for state in [TaskState::Failed, TaskState::Cancelled] {
            for out in [Output::Json, Output::Human] {
                let fake = fake::Fake {
                    items: vec![progress(TaskState::Running, 5, 2), progress(state, 5, 3)],
                    task: Some(ended(state, 5)),
                    ..Default::default()
                };
                let code = watch_fake(fake, 60, out).await.unwrap();
                assert_eq!(code, ExitCode::from(1), "{state:?} {out:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_stream_that_ends_early_is_an_error() {
        let fake = fake::Fake {
            items: vec![progress(TaskState::Running, 10, 5)],
            task: Some(ended(TaskState::Running, 10)),
            ..Default::default()
        };
        let err = watch_fake(fake, 60, Output::Json).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the watch stream ended while the task was running"
        );
    }

    #[tokio::test]
    async fn a_quiet_stream_is_checked_with_get_task() {
        // The stream says "scheduled" and then nothing; the task has ended meanwhile.
        let fake = fake::Fake {
            items: vec![progress(TaskState::Scheduled, 0, 0)],
            hold_open: true,
            task: Some(ended(TaskState::Completed, 3)),
        };
        let code = watch_fake(fake, 1, Output::Json).await.unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
    }

    #[tokio::test]
    async fn an_unknown_task_is_the_servers_error() {
        let err = watch_fake(fake::Fake::default(), 60, Output::Json)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "no such task (NOT_FOUND)");
    }
}
