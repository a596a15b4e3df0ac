//! `copy`: a sled store of N users moved into PostgreSQL by the code of `pushgate store copy`
//! (`pushgate::store::copy`): wall time and records per second of the copy alone, and a check that a server
//! started on the copy answers ListBindings, GetTask and ListLabels as the server on sled did.
//!
//! The store is filled as in the `broadcast` scenario (bindings written straight into the stopped server's
//! store), with a push nickname per user and label memberships, then a broadcast task runs to every user
//! through the server, which leaves a task and one delivery event per device to copy. The copy runs in this
//! process, reading the sled directory the stopped server left, into a database on a throwaway PostgreSQL
//! server that syncs its writes to disk.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Result, anyhow, bail};
use pushgate::{
    proto::v1::{
        GetTaskRequest, ListBindingsRequest, ListLabelUsersRequest, ListLabelsRequest,
        ListTasksRequest, TaskState, device_service_client::DeviceServiceClient,
        label_service_client::LabelServiceClient, task_service_client::TaskServiceClient,
    },
    secret::Secret,
    store::{
        LabelRecord, PostgresConfig, SledStore, StoreConfig,
        copy::{CopyOptions, copy},
        postgres::CopyTarget,
    },
};

use crate::{
    backend::{BackendArg, RunStore},
    broadcast::{self, APP},
    machine,
    report::Run,
    server::{self, Server, authed},
};

/// Options of the copy scenario.
#[derive(clap::Args)]
pub struct Args {
    /// Users, each with one bound device, a push nickname and a membership of label `all` (one in ten
    /// of label `vip` too), and a delivery event from one broadcast.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Records per batch (one transaction each).
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
}

/// Users per write while seeding labels and nicknames.
const SEED_CHUNK: usize = 1000;

fn user(n: usize) -> String {
    format!("u{n:08}")
}

/// Writes the nicknames and label memberships of `users` users straight into the stopped server's store.
async fn seed_users(config: &StoreConfig, users: usize) -> Result<()> {
    let store = pushgate::store::open(config).await?;
    for (name, description) in [("all", "every user"), ("vip", "one user in ten")] {
        let label = LabelRecord {
            name: name.into(),
            description: description.into(),
            create_time_ms: pushgate::clock::now_ms(),
            user_count: 0,
        };
        store.labels.create_label(APP, label, 100).await?;
    }
    let now = pushgate::clock::now_ms();
    for start in (0..users).step_by(SEED_CHUNK) {
        let chunk: Vec<String> = (start..(start + SEED_CHUNK).min(users)).map(user).collect();
        store
            .labels
            .add_label_users(APP, "all", &chunk, now, usize::MAX)
            .await?;
        let vip: Vec<String> = chunk.iter().step_by(10).cloned().collect();
        store
            .labels
            .add_label_users(APP, "vip", &vip, now, usize::MAX)
            .await?;
        let nicknames: Vec<(String, String)> = chunk
            .iter()
            .map(|u| (u.clone(), format!("nick {u}")))
            .collect();
        store
            .user_settings
            .set_nicknames(APP, &nicknames, now)
            .await?;
    }
    store.flush().await?;
    Ok(())
}

/// What the server answers: ListBindings of one user in a thousand (at least 100), GetTask of the
/// broadcast, ListLabels, and the first page of ListLabelUsers of `vip`.
async fn answers(server: &Server, token: &str, users: usize, task_id: &str) -> Result<Vec<String>> {
    let channel = server.connect().await?;
    let mut out = Vec::new();
    let mut devices = DeviceServiceClient::new(channel.clone());
    for n in (0..users).step_by((users / 100).max(1)) {
        let bindings = devices
            .list_bindings(authed(
                ListBindingsRequest {
                    user: user(n),
                    ..Default::default()
                },
                token,
            ))
            .await?
            .into_inner();
        out.push(format!("{bindings:?}"));
    }
    let task = TaskServiceClient::new(channel.clone())
        .get_task(authed(
            GetTaskRequest {
                task_id: task_id.into(),
            },
            token,
        ))
        .await?
        .into_inner();
    out.push(format!("{task:?}"));
    let mut labels = LabelServiceClient::new(channel);
    let listed = labels
        .list_labels(authed(ListLabelsRequest::default(), token))
        .await?
        .into_inner();
    out.push(format!("{listed:?}"));
    let vip = labels
        .list_label_users(authed(
            ListLabelUsersRequest {
                label: "vip".into(),
                page_size: 100,
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner();
    out.push(format!("{vip:?}"));
    Ok(out)
}

/// The id of the app's one task.
async fn only_task(server: &Server, token: &str) -> Result<String> {
    let tasks = TaskServiceClient::new(server.connect().await?)
        .list_tasks(authed(ListTasksRequest::default(), token))
        .await?
        .into_inner()
        .tasks;
    match tasks.as_slice() {
        [task] => Ok(task.id.clone()),
        other => bail!("expected one task, found {}", other.len()),
    }
}

/// What the copy measured.
struct Measured {
    records: u64,
    kinds: usize,
    wall: Duration,
    sled_mib: f64,
}

/// Copies the sled store in `dir` into the database at `url`, as `pushgate store copy` does.
async fn copy_store(dir: &std::path::Path, url: &str, batch_size: usize) -> Result<Measured> {
    let sled_mib = dir_size(&dir.join("db")) as f64 / 1_048_576.0;
    let started = Instant::now();
    let source = Arc::new(SledStore::open_to_copy(dir)?);
    let config = PostgresConfig {
        url: Some(Secret::new(url)),
        ..PostgresConfig::default()
    };
    let mut target = CopyTarget::connect(&config).await?;
    let report = copy(
        source,
        &dir.display().to_string(),
        &mut target,
        &CopyOptions {
            batch_size,
            ..CopyOptions::default()
        },
        &mut (),
    )
    .await?;
    let wall = started.elapsed();
    Ok(Measured {
        records: report.counts.iter().map(|c| c.in_target).sum(),
        kinds: report.counts.iter().filter(|c| c.in_target > 0).count(),
        wall,
        sled_mib,
    })
}

/// Bytes of the files under `dir`.
fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Runs the scenario and returns its report.
pub fn run(args: Args, command: String) -> Result<Run> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = server::data_dir("copy")?;
    let result = runtime.block_on(async {
        let postgres = RunStore::start(BackendArg::Postgres).await?;
        let url = postgres
            .settings()
            .into_iter()
            .find(|(name, _)| *name == "PUSHGATE_STORE_POSTGRES_URL")
            .map(|(_, url)| url)
            .ok_or_else(|| anyhow!("no database URL"))?;
        let sandbox = broadcast::quiet_sandbox().await?;
        let server = Server::start(&dir, &[])?;
        let token = broadcast::set_up(&server, &sandbox).await?;
        server.stop()?;
        let seeding = Instant::now();
        let sled = StoreConfig::in_dir(&dir);
        broadcast::seed(&sled, args.users).await?;
        seed_users(&sled, args.users).await?;
        let server = Server::start(&dir, &[])?;
        let sent = broadcast::broadcast(&server, &token).await?;
        if sent.state != TaskState::Completed as i32 || sent.users_done != args.users as u64 {
            bail!(
                "the broadcast did not complete: {} users done",
                sent.users_done
            );
        }
        let task_id = only_task(&server, &token).await?;
        let before = answers(&server, &token, args.users, &task_id).await?;
        server.stop()?;
        println!(
            "filled a sled store with {} users and a broadcast to them in {:.1} s",
            args.users,
            seeding.elapsed().as_secs_f64()
        );

        let measured = copy_store(&dir, &url, args.batch_size).await?;

        let server = Server::start(&dir, &postgres.settings())?;
        let after = answers(&server, &token, args.users, &task_id).await?;
        server.stop()?;
        if let Some(i) =
            (0..before.len().max(after.len())).find(|i| before.get(*i) != after.get(*i))
        {
            bail!(
                "the server on the copy answers differently: {:?} became {:?}",
                before.get(i),
                after.get(i)
            );
        }
        Ok::<_, anyhow::Error>((measured, before.len()))
    });
    server::remove_data_dir(&dir);
    let (m, compared) = result?;
    let per_second = m.records as f64 / m.wall.as_secs_f64();
    println!(
        "copy: {} users, {} records of {} kinds ({:.0} MiB of sled) in {:.1} s = {per_second:.0} records/s; \
         {compared} answers the same on PostgreSQL",
        args.users,
        m.records,
        m.kinds,
        m.sled_mib,
        m.wall.as_secs_f64()
    );
    Ok(Run {
        title: "copy: a sled store moved to PostgreSQL by `pushgate store copy`".into(),
        command,
        machine: machine::describe(),
        columns: [
            "users",
            "records",
            "kinds",
            "sled MiB",
            "batch",
            "wall s",
            "records/s",
            "same answers",
        ]
        .map(String::from)
        .to_vec(),
        rows: vec![vec![
            args.users.to_string(),
            m.records.to_string(),
            m.kinds.to_string(),
            format!("{:.0}", m.sled_mib),
            args.batch_size.to_string(),
            format!("{:.1}", m.wall.as_secs_f64()),
            format!("{per_second:.0}"),
            compared.to_string(),
        ]],
        notes: vec![format!(
            "Each user has one bound device (spread over one sandbox notifier per vendor), a push nickname, \
             a membership of label `all` (one in ten of `vip` too), and one delivery event of a broadcast \
             task that ran to every device before the copy. The copy runs in the bench process (sled read \
             on a blocking thread, one transaction per batch) into a throwaway PostgreSQL server on the \
             same 2 cores with fsync on; wall time from opening sled to the counts checked. \"Same \
             answers\": ListBindings of one user in a hundred, GetTask of the broadcast, ListLabels and a \
             page of ListLabelUsers, compared between the server on sled and the server on the copy."
        )],
    })
}
