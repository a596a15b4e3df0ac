//! Assembles the tonic server: store, services, tower layers, health, reflection and graceful shutdown.

mod internal;
mod shed;

use std::{future::Future, sync::Arc};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tower::ServiceBuilder;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use shed::ShedLayer;

use crate::{
    api::{
        auth::AuthApi, auth_layer::AuthLayer, callback::EventApi, channel::ChannelApi,
        devices::DeviceApi, labels::LabelApi, notifier::NotifierApi, push::PushApi,
        settings::SettingsApi, tasks::TaskApi, tenant::AppApi,
    },
    callback::{EventLog, Outbox, Poster, rules::CallbackRules},
    channel::Channel,
    cluster::Membership,
    config::Config,
    devices::Devices,
    dispatch::{Dispatch, apns::TokenShare},
    labels::Labels,
    notifier::{Notifiers, endpoints::EndpointRules, sealing::Sealer},
    proto::{
        FILE_DESCRIPTOR_SET,
        v1::{
            app_service_server::AppServiceServer, auth_service_server::AuthServiceServer,
            channel_service_server::ChannelServiceServer,
            device_service_server::DeviceServiceServer, event_service_server::EventServiceServer,
            label_service_server::LabelServiceServer,
            notifier_service_server::NotifierServiceServer, push_service_server::PushServiceServer,
            task_service_server::TaskServiceServer,
            user_settings_service_server::UserSettingsServiceServer,
        },
    },
    push::{Idempotency, PushQueue, Pusher, PusherParts},
    settings::UserSettings,
    store::{self, StoreError},
    tasks::Tasks,
    tenant::{TenantError, Tenants, secrets},
};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened or flushed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Credentials could not be set up.
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// The listen address could not be bound, or the address file written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TLS files could not be read or used.
    #[error("tls: {0}")]
    Tls(String),
    /// Vendor dispatch could not be set up (the extra CA file).
    #[error(transparent)]
    Dispatch(#[from] crate::dispatch::DispatchError),
    /// Reflection could not load the contract.
    #[error("reflection: {0}")]
    Reflection(String),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Caps glibc's malloc arenas at two per process. By default glibc gives each thread that allocates its own
/// arena (up to eight per core), and memory freed in one arena is not reused by another: a server whose
/// tokio workers, blocking threads and TLS tasks all allocate fragments into many arenas, which in the
/// million-device broadcast benchmark cost about 60 MiB of peak RSS. Call it first thing in `main`, before
/// any thread starts. Other allocators (musl builds) ignore it.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; M_ARENA_MAX with a positive value is valid at any
    // time, and it is called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Makes every file and directory this process creates from here on private to its user (umask 077). The
/// data directory holds device tokens and user ids, and sled creates its files (conf, db, snapshots, blobs)
/// with the process's umask, which it offers no way to override; the key files are written 0600 and the
/// data directory 0700 anyway. Call it in `main` before any thread starts: the umask is one per process, and
/// a thread creating a file while it changes would get either mask.
pub fn private_umask() {
    #[cfg(unix)]
    // SAFETY: umask only replaces the process's file-creation mask and cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// File in the data directory that holds a generated notifier-credentials key.
pub const CREDENTIALS_KEY_FILE: &str = "credentials.key";

/// The names of every service of the contract, as reflection lists them (health and reflection aside).
pub const SERVICE_NAMES: &[&str] = &[
    "pushgate.v1.AuthService",
    "pushgate.v1.AppService",
    "pushgate.v1.NotifierService",
    "pushgate.v1.DeviceService",
    "pushgate.v1.UserSettingsService",
    "pushgate.v1.LabelService",
    "pushgate.v1.PushService",
    "pushgate.v1.TaskService",
    "pushgate.v1.ChannelService",
    "pushgate.v1.EventService",
];

/// Runs the server until `shutdown` resolves, then drains in-flight calls (for at most the configured grace
/// period) and flushes the store.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let data_dir = config.store.data_dir.clone();
    let store = store::open(&config.store).await?;
    // Bound before joining, so the address the replica registers is one it listens on.
    let internal = internal::bind(&config.cluster).await?;
    let mut cluster = config.cluster.clone();
    cluster.internal_address = internal.as_ref().and_then(|b| b.address.clone());
    if internal.is_none() && store.is_shared() {
        tracing::info!(
            "cluster.internal_listen is unset: with several replicas, a push for a device whose stream is on \
             another replica waits in its inbox"
        );
    }
    // Registered before anything runs: the other replicas count this one from its first beat.
    let membership = Membership::join(store.clone(), &cluster).await?;
    let tenants = Arc::new(Tenants::init(store.clone(), config.auth.clone(), &data_dir).await?);
    let credentials_key = match &config.notifiers.credentials_key {
        Some(key) => key.expose().to_owned(),
        None => {
            secrets::load_or_create(&data_dir.join(CREDENTIALS_KEY_FILE), "")
                .map_err(TenantError::from)?
                .0
        }
    };
    // Built before the services so that every one that needs the own channel (the device service for
    // user deletion, the send path) shares this one hub of open streams.
    let channel = Channel::new(store.clone(), config.channel.clone(), &membership);
    let internal =
        internal.map(|bound| internal::serve(bound, channel.clone(), config.cluster.relay_timeout));
    let sealer = Sealer::new(&credentials_key);
    let notifiers = Notifiers::new(
        store.clone(),
        sealer.clone(),
        config.notifiers.max_per_app,
        EndpointRules {
            allowed: config.dispatch.allowed_endpoints.clone(),
            allow_ca_certificates: config.dispatch.allow_notifier_ca_certificates,
        },
    );
    // Dashboards find each notifier's circuit from the start, not from its first push.
    if let Err(e) = notifiers.announce_stored().await {
        tracing::error!(error = %e, "cannot list the notifiers: their metrics show from their first push");
    }
    let events = EventLog::new(store.clone());
    events.sweep_every(
        std::time::Duration::from_secs(600),
        config.events.retention,
        membership.leases(),
    );
    let dispatch = Dispatch::new(notifiers.clone(), config.dispatch.clone())?.in_cluster(
        membership.clone(),
        TokenShare::new(store.clone(), membership.leases()),
    );
    // Resumes every enabled rule's deliveries from where they were.
    let outbox = Outbox::start(
        store.clone(),
        sealer,
        config.callbacks.clone(),
        Poster::new(config.callbacks.request_timeout, dispatch.extra_ca_pem())?,
        events.clone(),
        &membership,
    )
    .await?;
    let outbox_drain = outbox.clone();
    let rules = CallbackRules::new(store.clone(), outbox);
    let pusher = Pusher::new(PusherParts {
        store: store.clone(),
        dispatch,
        notifiers: notifiers.clone(),
        channel: channel.clone(),
        config: config.push.clone(),
        max_bindings_per_user: config.devices.max_bindings_per_user,
        events: events.clone(),
    });
    // Resumes the pushes accepted before a stop or a crash.
    let queue = PushQueue::start(
        store.clone(),
        pusher.clone(),
        config.push.max_queued,
        config.push.async_workers,
        membership.clone(),
    )
    .await?;
    // A call holds its request id for longer than any call may run (the request timeout bounds them all).
    let idempotency = Arc::new(Idempotency::new(
        store.clone(),
        config.push.idempotency_window,
        config.server.request_timeout + std::time::Duration::from_secs(30),
    ));
    tokio::spawn(sweep_idempotent_answers(
        idempotency.clone(),
        membership.leases(),
    ));
    // Resumes the tasks a stop or a crash left scheduled or running.
    let tasks = Tasks::start(
        store.clone(),
        pusher.clone(),
        config.tasks.clone(),
        membership.clone(),
    )
    .await?;

    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServerError::Reflection(e.to_string()))?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| ServerError::Reflection(e.to_string()))?;

    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|source| ServerError::Io {
            what: format!("cannot listen on {}", config.server.listen),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Io {
        what: "cannot read the bound address".into(),
        source,
    })?;

    let admin = crate::telemetry::serve_admin(&config.admin, crate::telemetry::registry())
        .await
        .map_err(|source| ServerError::Io {
            what: format!("cannot serve the admin port on {}", config.admin.listen),
            source,
        })?;
    let mut builder = Server::builder()
        .timeout(config.server.request_timeout)
        .trace_fn(|request| {
            let span = tracing::info_span!(
                "grpc",
                otel.kind = "server",
                rpc.system = "grpc",
                rpc.method = %request.uri().path(),
                app = tracing::field::Empty,
            );
            // The caller's W3C trace context: the call continues the caller's trace.
            let _ = span.set_parent(crate::telemetry::parent_context(request.headers()));
            span
        });
    if let Some(tls) = &config.server.tls {
        builder = builder
            .tls_config(tls_config(tls)?)
            .map_err(|e| ServerError::Tls(e.to_string()))?;
    }
    // Shared by the gRPC listener and the REST one, which translates onto the same services.
    let auth_api = Arc::new(AuthApi::new(tenants.clone()));
    let push_api = Arc::new(PushApi::new(
        pusher,
        queue.clone(),
        idempotency.clone(),
        config.server.request_timeout,
        crate::cluster::SharedRate::new(
            "sync",
            config.push.sync_per_second_per_app,
            store.clone(),
            membership.clone(),
        ),
    ));
    let rest = if config.rest.enabled {
        let listener = crate::rest::RestListener::bind(&config.rest)
            .await
            .map_err(|source| ServerError::Io {
                what: format!("cannot listen for the REST API on {}", config.rest.listen),
                source,
            })?;
        let router = crate::rest::router(
            Arc::new(crate::rest::RestServices {
                tenants: tenants.clone(),
                auth: auth_api.clone(),
                push: push_api.clone(),
            }),
            config.rest.max_body_bytes,
        );
        if let Some(path) = &config.rest.address_file {
            std::fs::write(path, listener.addr.to_string()).map_err(|source| ServerError::Io {
                what: format!("cannot write the address file {}", path.display()),
                source,
            })?;
        }
        Some((listener, router))
    } else {
        None
    };
    let layers = ServiceBuilder::new()
        .layer(ShedLayer::new(config.server.max_concurrent_requests))
        .layer(AuthLayer::new(tenants.clone()));
    let router = builder
        .layer(layers)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(AuthServiceServer::from_arc(auth_api.clone()))
        .add_service(AppServiceServer::new(AppApi::new(
            tenants.clone(),
            rules.clone(),
        )))
        .add_service(NotifierServiceServer::new(NotifierApi::new(notifiers)))
        .add_service(PushServiceServer::from_arc(push_api.clone()))
        .add_service(EventServiceServer::new(EventApi::new(
            events,
            config.events.heartbeat_interval,
            rules,
        )))
        .add_service(TaskServiceServer::new(TaskApi::new(
            tasks.clone(),
            channel.clone(),
            idempotency,
            config.push.clone(),
        )))
        .add_service(DeviceServiceServer::new(DeviceApi::new(Devices::new(
            store.clone(),
            config.devices.max_bindings_per_user,
        ))))
        .add_service(LabelServiceServer::new(LabelApi::new(Labels::new(
            store.clone(),
            config.labels.clone(),
        ))))
        .add_service(UserSettingsServiceServer::new(SettingsApi::new(
            UserSettings::new(store.clone(), config.settings.clone()),
        )))
        .add_service(ChannelServiceServer::new(ChannelApi::new(channel.clone())));

    // The store is open and every service is registered: from here on the server can answer.
    for name in std::iter::once("").chain(SERVICE_NAMES.iter().copied()) {
        health
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    if let Some(path) = &config.server.address_file {
        std::fs::write(path, addr.to_string()).map_err(|source| ServerError::Io {
            what: format!("cannot write the address file {}", path.display()),
            source,
        })?;
    }
    if let Some(admin) = &admin {
        admin.set_serving(true);
    }
    tracing::info!(%addr, tls = config.server.tls.is_some(), data_dir = %data_dir.display(), "pushgate listening");

    // The REST listener stops taking calls when the gRPC one does.
    let (rest_stop, mut rest_stopped) = tokio::sync::watch::channel(false);
    let rest = rest.map(|(listener, router)| {
        tracing::info!(addr = %listener.addr, "Easemob REST API listening");
        tokio::spawn(async move {
            let stopped = async move {
                let _ = rest_stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = listener.serve(router, stopped).await {
                tracing::error!(error = %e, "the REST listener failed");
            }
        })
    });
    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    // When the stop began: the calls and then the background work share the grace period.
    let stopping = Arc::new(std::sync::OnceLock::<tokio::time::Instant>::new());
    let stop_began = stopping.clone();
    let drain_health = health.clone();
    let drain_channel = channel.clone();
    let signal = async move {
        shutdown.await;
        let _ = stop_began.set(tokio::time::Instant::now());
        tracing::info!("shutting down: no new calls, finishing the ones in flight");
        if let Some(admin) = &admin {
            admin.set_serving(false);
        }
        for name in std::iter::once("").chain(SERVICE_NAMES.iter().copied()) {
            drain_health
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
        // Own-channel streams never end on their own: end them now (UNAVAILABLE, so devices reconnect
        // elsewhere or later) rather than holding the drain for the whole grace period.
        drain_channel.shutdown();
        let _ = rest_stop.send(true);
        let _ = draining_tx.send(());
    };
    let serve = router.serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal);
    let grace = config.server.shutdown_grace;
    tokio::select! {
        result = serve => result?,
        _ = async {
            if draining_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!(grace = ?grace, "grace period over; dropping the calls still in flight");
        }
    }
    // The background work stops within what is left of the grace period: the pages of tasks go back
    // unrecorded, the async pushes running finish, the callback workers stop; then this replica leaves,
    // releasing its leases, so that the others take everything up at once rather than after a lease.
    if let Some(rest) = rest {
        // Its calls in flight end within the grace period as the gRPC ones do.
        let _ = tokio::time::timeout(grace, rest).await;
    }
    let began = *stopping.get_or_init(tokio::time::Instant::now);
    let left = grace.saturating_sub(began.elapsed());
    tasks.drain(left / 2).await;
    queue.drain(grace.saturating_sub(began.elapsed())).await;
    outbox_drain.drain();
    membership.leave().await;
    if let Some(internal) = internal {
        internal.stop().await;
    }
    store.flush().await?;
    tracing::info!("store flushed; bye");
    Ok(())
}

/// How often expired idempotent answers are swept, and how many at most per sweep.
const IDEMPOTENCY_SWEEP: (std::time::Duration, usize) =
    (std::time::Duration::from_secs(600), 10_000);

async fn sweep_idempotent_answers(idempotency: Arc<Idempotency>, leases: crate::cluster::Leases) {
    let mut every = tokio::time::interval(IDEMPOTENCY_SWEEP.0);
    // One replica sweeps the shared answers.
    let mut turn = crate::cluster::OneReplica::new("sweep/idempotency");
    loop {
        every.tick().await;
        if !turn.mine(&leases).await {
            continue;
        }
        if let Err(e) = idempotency.sweep(IDEMPOTENCY_SWEEP.1).await {
            tracing::error!(error = %e, "cannot sweep expired idempotent answers");
        }
    }
}

fn tls_config(tls: &crate::config::TlsConfig) -> Result<ServerTlsConfig, ServerError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| ServerError::Tls(format!("cannot read {}: {e}", path.display())))
    };
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(
        read(&tls.cert_file)?,
        read(&tls.key_file)?,
    ));
    if let Some(ca) = &tls.client_ca_file {
        config = config.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    Ok(config)
}
