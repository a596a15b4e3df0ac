//! A real server, an app holding every ready-made sandbox notifier, the sandbox vendors in this process,
//! and clients for the send path.

use std::time::Duration;

use super::fakes::sandbox_keeping;

// The send-path tests' prelude: they `use crate::common::push::*` and find here what they name. Every test
// binary that includes `common` compiles this file, and the others use none of it: hence the allows.
#[allow(unused_imports)]
pub use super::{TestApp, TestServer, authed, create_app, violated_fields};
#[allow(unused_imports)]
pub use pushgate::{
    proto::v1::{
        AcceptStatus, BindDeviceRequest, ClickAction, CreateBroadcastTaskRequest,
        CreateMessageRequest, CreateNotifierRequest, DeliveryChannel, DeliveryStatus, DeviceResult,
        FailureReason, GetMessageRequest, ListBindingsRequest, MessageConfig, Notifier,
        NotifierState, PushFilter, PushMessage, PushOptions, SendAsyncRequest, SendBatchRequest,
        SendSyncRequest, SendSyncResponse, Strategy, Task, UpdateNotifierRequest, Vendor,
        click_action, create_broadcast_task_request, device_service_client::DeviceServiceClient,
        notifier_service_client::NotifierServiceClient, push_service_client::PushServiceClient,
        send_async_request, send_batch_request, send_sync_request,
        task_service_client::TaskServiceClient,
    },
    sandbox::{FakeCore, FaultAction, FaultRule, RecordedRequest, Sandbox, SandboxConfig},
};
#[allow(unused_imports)]
pub use tonic::{Code, Status, transport::Channel};

/// Every ready-made sandbox notifier, by name.
pub const APNS: &str = "sandbox-apns-token";
pub const APNS_CERT: &str = "sandbox-apns-cert";
pub const FCM: &str = "sandbox-fcm";
pub const HUAWEI: &str = "sandbox-huawei";
pub const HONOR: &str = "sandbox-honor";
pub const XIAOMI: &str = "sandbox-xiaomi";
pub const OPPO: &str = "sandbox-oppo";
pub const VIVO: &str = "sandbox-vivo";
pub const MEIZU: &str = "sandbox-meizu";
/// One notifier per vendor.
pub const ONE_PER_VENDOR: [&str; 8] = [APNS, FCM, HUAWEI, HONOR, XIAOMI, OPPO, VIVO, MEIZU];

/// One device to bind: user, device id, notifier, device token.
pub type BindJob = (String, String, &'static str, String);

/// The test world.
pub struct Env {
    /// The server process.
    pub server: TestServer,
    /// The app, with its token.
    pub app: TestApp,
    /// The vendors.
    pub sandbox: Sandbox,
    /// PushService.
    pub push: PushServiceClient<Channel>,
    /// DeviceService.
    pub devices: DeviceServiceClient<Channel>,
    /// NotifierService.
    pub notifiers: NotifierServiceClient<Channel>,
}

impl Env {
    /// A fresh server and sandbox, every sandbox notifier created.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// The same with extra `PUSHGATE_*` settings.
    pub async fn start_with(settings: &[(&str, &str)]) -> Self {
        let sandbox = sandbox_keeping(20_000).await;
        let settings: Vec<(String, String)> = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let server = tokio::task::spawn_blocking(move || {
            let pairs: Vec<(&str, &str)> = settings
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            TestServer::start_with(&pairs)
        })
        .await
        .expect("server starts");
        Self::around(server, sandbox).await
    }

    /// The test world on a server already running and a sandbox: a new app on `server` with every sandbox
    /// notifier created.
    pub async fn around(server: TestServer, sandbox: Sandbox) -> Self {
        let app = create_app(&server, "push#test").await;
        let channel = server.channel().await;
        let mut env = Self {
            push: PushServiceClient::new(channel.clone()),
            devices: DeviceServiceClient::new(channel.clone()),
            notifiers: NotifierServiceClient::new(channel),
            server,
            app,
            sandbox,
        };
        for notifier in env.sandbox.notifiers() {
            env.create_notifier(notifier).await;
        }
        env
    }

    /// Creates a broadcast task of [`hello`] starting now, through this world's server.
    pub async fn broadcast_hello(&self) -> Result<Task, Status> {
        TaskServiceClient::new(self.push_channel())
            .create_broadcast_task(authed(
                CreateBroadcastTaskRequest {
                    message_source: Some(create_broadcast_task_request::MessageSource::Message(
                        hello(),
                    )),
                    ..Default::default()
                },
                &self.app.token,
            ))
            .await
            .map(|r| r.into_inner().task.expect("the created task"))
    }

    /// Creates `notifier` in the app.
    pub async fn create_notifier(&mut self, notifier: Notifier) {
        let name = notifier.name.clone();
        self.notifiers
            .create_notifier(authed(
                CreateNotifierRequest {
                    notifier: Some(notifier),
                },
                &self.app.token,
            ))
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e:?}"));
    }

    /// The ready-made sandbox notifier `name`.
    pub fn ready_made(&self, name: &str) -> Notifier {
        self.sandbox
            .notifiers()
            .into_iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no sandbox notifier {name}"))
    }

    /// Changes the notifier's `state`.
    pub async fn set_state(&mut self, name: &str, state: NotifierState) {
        self.notifiers
            .update_notifier(authed(
                UpdateNotifierRequest {
                    notifier: Some(Notifier {
                        name: name.into(),
                        state: state as i32,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["state".into()],
                    }),
                },
                &self.app.token,
            ))
            .await
            .unwrap_or_else(|e| panic!("update {name}: {e:?}"));
    }

    /// Sets the notifier's `qps_limit`: its vendor requests a second at most.
    pub async fn set_qps_limit(&mut self, name: &str, qps_limit: u32) {
        self.notifiers
            .update_notifier(authed(
                UpdateNotifierRequest {
                    notifier: Some(Notifier {
                        name: name.into(),
                        qps_limit,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["qps_limit".into()],
                    }),
                },
                &self.app.token,
            ))
            .await
            .unwrap_or_else(|e| panic!("update {name}: {e:?}"));
    }

    /// Binds `device` of `user` to `token` through `notifier`.
    pub async fn bind(&mut self, user: &str, device: &str, notifier: &str, token: &str) {
        self.devices
            .bind_device(authed(
                BindDeviceRequest {
                    user: user.into(),
                    device_id: device.into(),
                    device_token: token.into(),
                    notifier_name: notifier.into(),
                },
                &self.app.token,
            ))
            .await
            .unwrap_or_else(|e| panic!("bind {user}/{device}: {e:?}"));
    }

    /// Binds every job's device, 200 at a time.
    pub async fn bind_all(&self, jobs: &[BindJob]) {
        let channel = self.push_channel();
        for chunk in jobs.chunks(200) {
            futures::future::join_all(chunk.iter().map(
                |(user, device, notifier, device_token)| {
                    let mut devices = DeviceServiceClient::new(channel.clone());
                    let token = self.app.token.clone();
                    async move {
                        devices
                            .bind_device(authed(
                                BindDeviceRequest {
                                    user: user.clone(),
                                    device_id: device.clone(),
                                    device_token: device_token.clone(),
                                    notifier_name: notifier.to_string(),
                                },
                                &token,
                            ))
                            .await
                            .unwrap_or_else(|e| panic!("bind {user}/{device}: {e:?}"));
                    }
                },
            ))
            .await;
        }
    }

    /// Binds `device` of `user` through `notifier` with a token of the right shape, and returns the token.
    pub async fn bind_new(&mut self, user: &str, device: &str, notifier: &str) -> String {
        let token = token_for(notifier, &format!("{user}/{device}"));
        self.bind(user, device, notifier, &token).await;
        token
    }

    /// Makes `user` known to the app with nothing to push to: bound once (as `device`, to FCM), then unbound,
    /// and a member of a label `vip`.
    pub async fn known_without_devices(&mut self, user: &str, device: &str) {
        self.bind_new(user, device, FCM).await;
        self.devices
            .unbind_device(authed(
                pushgate::proto::v1::UnbindDeviceRequest {
                    user: user.into(),
                    device_id: device.into(),
                    ..Default::default()
                },
                &self.app.token,
            ))
            .await
            .unwrap();
        let mut labels = pushgate::proto::v1::label_service_client::LabelServiceClient::new(
            self.server.channel().await,
        );
        labels
            .create_label(authed(
                pushgate::proto::v1::CreateLabelRequest {
                    name: "vip".into(),
                    description: String::new(),
                },
                &self.app.token,
            ))
            .await
            .unwrap();
        labels
            .add_label_users(authed(
                pushgate::proto::v1::AddLabelUsersRequest {
                    label: "vip".into(),
                    users: vec![user.into()],
                },
                &self.app.token,
            ))
            .await
            .unwrap();
    }

    /// The device ids of the user's bindings.
    pub async fn bound_devices(&mut self, user: &str) -> Vec<String> {
        self.devices
            .list_bindings(authed(
                ListBindingsRequest {
                    user: user.into(),
                    ..Default::default()
                },
                &self.app.token,
            ))
            .await
            .expect("list bindings")
            .into_inner()
            .bindings
            .into_iter()
            .map(|b| b.device_id)
            .collect()
    }

    /// SendSync of `message` to `user`.
    pub async fn send_sync(
        &mut self,
        user: &str,
        strategy: Strategy,
        message: PushMessage,
    ) -> Result<SendSyncResponse, Status> {
        self.send_sync_request(SendSyncRequest {
            user: user.into(),
            strategy: strategy as i32,
            message_source: Some(send_sync_request::MessageSource::Message(message)),
            request_id: String::new(),
        })
        .await
    }

    /// SendSync as given.
    pub async fn send_sync_request(
        &mut self,
        request: SendSyncRequest,
    ) -> Result<SendSyncResponse, Status> {
        self.push
            .send_sync(authed(request, &self.app.token))
            .await
            .map(|r| r.into_inner())
    }

    /// A connection to the server.
    pub fn push_channel(&self) -> Channel {
        Channel::from_shared(self.server.url())
            .expect("server url")
            .connect_lazy()
    }

    /// The fake behind notifier `name`.
    pub fn fake(&self, name: &str) -> &FakeCore {
        let s = &self.sandbox;
        match name {
            APNS | APNS_CERT => s.apns().core(),
            FCM => s.fcm().core(),
            HUAWEI => s.huawei().core(),
            HONOR => s.honor().core(),
            XIAOMI => s.xiaomi().core(),
            OPPO => s.oppo().core(),
            VIVO => s.vivo().core(),
            MEIZU => s.meizu().core(),
            other => panic!("no fake for {other}"),
        }
    }

    /// Send requests (not token requests) the fake behind `name` received.
    pub fn sends(&self, name: &str) -> Vec<RecordedRequest> {
        self.fake(name)
            .requests()
            .into_iter()
            .filter(|r| !r.token_request)
            .collect()
    }

    /// Send requests over every fake.
    pub fn all_sends(&self) -> usize {
        ONE_PER_VENDOR.iter().map(|n| self.sends(n).len()).sum()
    }

    /// Waits (at most 20 s) until the fake behind `name` received `n` send requests.
    pub async fn wait_for_sends(&self, name: &str, n: usize) -> Vec<RecordedRequest> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let sends = self.sends(name);
            if sends.len() >= n {
                return sends;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} got {} of {n} sends",
                sends.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A token of the shape `notifier`'s vendor hands out, unique per `seed`.
pub fn token_for(notifier: &str, seed: &str) -> String {
    let n: u64 = seed.bytes().fold(1469598103934665603u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1099511628211)
    });
    match notifier {
        APNS | APNS_CERT => format!("{n:064x}"),
        FCM => format!("dev{n:016x}:APA91b{}", "x".repeat(140)),
        _ => format!("tok{n:016x}"),
    }
}

/// A plain message.
pub fn hello() -> PushMessage {
    PushMessage {
        title: "Hello".into(),
        content: "World".into(),
        ..Default::default()
    }
}

/// The message with `options`.
pub fn with_options(options: PushOptions) -> PushMessage {
    PushMessage {
        options: Some(options),
        ..hello()
    }
}

/// The status of a result.
pub fn status(r: &DeviceResult) -> DeliveryStatus {
    DeliveryStatus::try_from(r.status).unwrap()
}

/// The failure reason of a result.
pub fn reason(r: &DeviceResult) -> FailureReason {
    FailureReason::try_from(r.reason).unwrap()
}

/// The result of device `device` (the only one for it).
pub fn of<'a>(response: &'a SendSyncResponse, device: &str) -> &'a DeviceResult {
    let mut found = response.results.iter().filter(|r| r.device_id == device);
    let first = found
        .next()
        .unwrap_or_else(|| panic!("no result for {device}: {:?}", response.results));
    assert!(found.next().is_none(), "two results for {device}");
    first
}

/// A device's own-channel stream.
pub type Stream = tonic::Streaming<pushgate::proto::v1::SubscribeResponse>;

impl Env {
    /// A user token for `user`'s devices.
    pub async fn user_token(&self, user: &str) -> String {
        pushgate::proto::v1::auth_service_client::AuthServiceClient::new(
            self.server.channel().await,
        )
        .issue_user_token(authed(
            pushgate::proto::v1::IssueUserTokenRequest {
                user: user.into(),
                ttl: None,
            },
            &self.app.token,
        ))
        .await
        .expect("user token")
        .into_inner()
        .access_token
    }

    /// Subscribes `device` of `user` once and goes away, returning once the server has ended the stream:
    /// the device is then offline, and a push to it goes to its inbox. Dropping a stream is seen by the server
    /// a moment later; a push sent in that moment would still go out live.
    pub async fn subscribe_and_leave(&self, user: &str, device: &str) {
        let before = self.open_streams().await;
        drop(self.subscribe(user, device, 0).await);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let open = self.open_streams().await;
            if open <= before {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server still holds {open} streams, {before} before {user}/{device} subscribed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The own-channel streams the server holds open (`pushgate_channel_streams` on its admin port).
    pub async fn open_streams(&self) -> u64 {
        super::metric(&self.server, "pushgate_channel_streams")
            .await
            .expect("pushgate_channel_streams on /metrics") as u64
    }

    /// Opens `device`'s stream as `user`, replaying the inbox after `since`; returns the stream and the
    /// replayed pushes (up to the replay marker).
    pub async fn subscribe(
        &self,
        user: &str,
        device: &str,
        since: u64,
    ) -> (Stream, Vec<pushgate::proto::v1::ChannelMessage>) {
        self.subscribe_on(&self.server, user, device, since).await
    }

    /// [`Env::subscribe`] through `server` (another replica of this world's).
    pub async fn subscribe_on(
        &self,
        server: &TestServer,
        user: &str,
        device: &str,
        since: u64,
    ) -> (Stream, Vec<pushgate::proto::v1::ChannelMessage>) {
        let token = self.user_token(user).await;
        let mut stream = pushgate::proto::v1::channel_service_client::ChannelServiceClient::new(
            server.channel().await,
        )
        .subscribe(authed(
            pushgate::proto::v1::SubscribeRequest {
                device_id: device.into(),
                since,
            },
            &token,
        ))
        .await
        .expect("subscribe")
        .into_inner();
        let mut replayed = Vec::new();
        loop {
            use pushgate::proto::v1::subscribe_response::Item;
            match next_item(&mut stream).await {
                Item::Message(m) => replayed.push(m),
                Item::ReplayComplete(done) => {
                    assert_eq!(done.replayed_count as usize, replayed.len());
                    return (stream, replayed);
                }
                Item::Keepalive(_) => {}
            }
        }
    }

    /// Acknowledges `ids` from `device` of `user`; returns the ids the server did not know.
    pub async fn ack(
        &self,
        user: &str,
        device: &str,
        ids: &[String],
        kind: pushgate::proto::v1::AckKind,
    ) -> Vec<String> {
        self.ack_on(&self.server, user, device, ids, kind).await
    }

    /// [`Env::ack`] through `server` (another replica of this world's).
    pub async fn ack_on(
        &self,
        server: &TestServer,
        user: &str,
        device: &str,
        ids: &[String],
        kind: pushgate::proto::v1::AckKind,
    ) -> Vec<String> {
        let token = self.user_token(user).await;
        pushgate::proto::v1::channel_service_client::ChannelServiceClient::new(
            server.channel().await,
        )
        .ack(authed(
            pushgate::proto::v1::AckRequest {
                device_id: device.into(),
                message_ids: ids.to_vec(),
                kind: kind as i32,
            },
            &token,
        ))
        .await
        .expect("ack")
        .into_inner()
        .unknown_message_ids
    }
}

/// The next item of a stream, failing the test after 10 s.
pub async fn next_item(stream: &mut Stream) -> pushgate::proto::v1::subscribe_response::Item {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an item within 10 s")
        .expect("the stream is healthy")
        .expect("the stream goes on")
        .item
        .expect("an item")
}

/// The next push of a live stream (keepalives skipped).
pub async fn next_push(stream: &mut Stream) -> pushgate::proto::v1::ChannelMessage {
    loop {
        if let pushgate::proto::v1::subscribe_response::Item::Message(m) = next_item(stream).await {
            return m;
        }
    }
}
