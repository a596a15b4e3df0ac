//! `PushService`: sync, async and batch sends, and stored messages.

use std::{sync::Arc, time::Duration};

use tonic::{Request, Response, Status, metadata::MetadataMap};

use crate::{
    api::{auth_layer::app_of, status},
    clock::now_ms,
    clock::timestamp,
    cluster::{RateError, SharedRate},
    proto::v1::{
        AcceptStatus, CreateMessageRequest, CreateMessageResponse, GetMessageRequest,
        GetMessageResponse, PushMessage, SendAsyncRequest, SendAsyncResponse, SendBatchRequest,
        SendBatchResponse, SendSyncRequest, SendSyncResponse, StoredMessage, Strategy,
        TargetAcceptance, push_service_server::PushService, send_async_request, send_batch_request,
        send_sync_request,
    },
    push::{
        Idempotency, IdempotencyError, MessageSource, PushError, PushQueue, Pusher, QueueError,
        UserPush, idempotency::MAX_REQUEST_ID_CHARS, limits::check_message,
    },
    store::QueuedPush,
    tenant::check_user_id,
    validate::{Violations, max_chars},
};

/// Time kept back from a SendSync deadline to build and send the answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(200);

/// The `PushService` implementation.
pub struct PushApi {
    pusher: Pusher,
    queue: PushQueue,
    idempotency: Arc<Idempotency>,
    /// SendSync calls per second per app, for the deployment's replicas together.
    sync_limit: SharedRate,
    /// The server's own bound on a call (`server.request_timeout`): SendSync answers before it.
    call_timeout: Duration,
}

impl PushApi {
    /// Serves sends through `pusher` and `queue`, SendSync within `sync_limit` per app (made from
    /// `push.sync_per_second_per_app`).
    pub fn new(
        pusher: Pusher,
        queue: PushQueue,
        idempotency: Arc<Idempotency>,
        call_timeout: Duration,
        sync_limit: SharedRate,
    ) -> Self {
        Self {
            sync_limit,
            pusher,
            queue,
            idempotency,
            call_timeout,
        }
    }

    /// The message of a send: the one given (validated) or the stored one named.
    async fn message_of(
        &self,
        app: &str,
        given: Option<PushMessage>,
        stored_id: Option<String>,
        v: &mut Violations,
    ) -> Result<PushMessage, Status> {
        match MessageSource::of_request(given, stored_id) {
            Some(MessageSource::Inline(m)) => {
                check_message(&m, self.pusher.config(), "message", v);
                v.clone().into_result().map_err(|v| status::invalid(&v))?;
                Ok(self
                    .pusher
                    .resolve_message(app, MessageSource::Inline(m))
                    .await?)
            }
            Some(source) => {
                v.clone().into_result().map_err(|v| status::invalid(&v))?;
                Ok(self.pusher.resolve_message(app, source).await?)
            }
            None => {
                v.add(
                    "message",
                    "is required: give a message or a stored message_id",
                );
                Err(status::invalid(v))
            }
        }
    }

    async fn idempotent<M, F>(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        call: F,
    ) -> Result<M, Status>
    where
        M: prost::Message + Default,
        F: std::future::Future<Output = Result<M, Status>>,
    {
        self.idempotency
            .answer(app, rpc, request_id, call)
            .await
            .map_err(|e| match e {
                IdempotencyError::Store(e) => e.into(),
                IdempotencyError::Call(status) => status,
            })
    }

    /// Accepts `users` (already checked) for background sending.
    async fn accept(
        &self,
        app: &str,
        users: &[String],
        strategy: Strategy,
        message: &PushMessage,
        message_id: &str,
    ) -> Result<(), Status> {
        let accepted_ms = now_ms();
        let pushes = users
            .iter()
            .map(|user| QueuedPush {
                app: app.to_owned(),
                user: user.clone(),
                message_id: message_id.to_owned(),
                strategy: strategy as i32,
                message: Some(message.clone()),
                accepted_ms,
            })
            .collect();
        self.queue.accept(pushes).await.map_err(|e| match e {
            QueueError::Full { .. } => status::quota("push queue", e.to_string()),
            QueueError::Store(e) => e.into(),
        })
    }
}

/// Checks the fields every send has; the strategy as an enum.
fn check_send(strategy: i32, request_id: &str, v: &mut Violations) -> Strategy {
    if !request_id.is_empty() {
        v.check("request_id", max_chars(request_id, MAX_REQUEST_ID_CHARS));
    }
    match Strategy::try_from(strategy) {
        Ok(s) => s,
        Err(_) => {
            v.add("strategy", "is not a strategy");
            Strategy::Unspecified
        }
    }
}

/// A new push id.
fn new_message_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The caller's deadline (`grpc-timeout`), if it sent one.
fn deadline_of(metadata: &MetadataMap) -> Option<Duration> {
    let text = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn push_status(e: PushError) -> Status {
    match e {
        PushError::Store(e) => e.into(),
        PushError::Channel(e) => {
            tracing::error!(error = %e, "own channel failure");
            Status::unavailable("the own channel is unavailable")
        }
        PushError::Aborted(why) => {
            tracing::error!(error = %why, "a SendSync push failed");
            Status::internal("the push failed")
        }
    }
}

#[tonic::async_trait]
impl PushService for PushApi {
    async fn send_sync(
        &self,
        request: Request<SendSyncRequest>,
    ) -> Result<Response<SendSyncResponse>, Status> {
        let app = app_of(&request)?;
        let wait = deadline_of(request.metadata())
            .map_or(self.call_timeout, |d| d.min(self.call_timeout))
            .saturating_sub(ANSWER_MARGIN);
        let r = request.into_inner();
        let mut v = Violations::new();
        v.check("user", check_user_id(&r.user));
        let strategy = check_send(r.strategy, &r.request_id, &mut v);
        let (given, stored) = match r.message_source {
            Some(send_sync_request::MessageSource::Message(m)) => (Some(m), None),
            Some(send_sync_request::MessageSource::MessageId(id)) => (None, Some(id)),
            None => (None, None),
        };
        let message = self.message_of(&app, given, stored, &mut v).await?;
        match self.sync_limit.admit(&app).await {
            Ok(()) => {}
            Err(RateError::Limited { retry_after }) => {
                return Err(status::quota(
                    "SendSync calls per app",
                    format!(
                        "at most {} SendSync calls per second per app; retry in {} ms",
                        self.pusher.config().sync_per_second_per_app,
                        retry_after.as_millis().max(1)
                    ),
                ));
            }
            Err(RateError::Store(e)) => return Err(e.into()),
        }
        let answer = self.idempotent(&app, "SendSync", &r.request_id, async {
            let message_id = new_message_id();
            let push = UserPush {
                app: app.clone(),
                user: r.user.clone(),
                strategy,
                message: Arc::new(message),
                message_id: message_id.clone(),
                accepted_ms: now_ms(),
                task_id: String::new(),
            };
            let outcomes = self
                .pusher
                .push_within(push, wait)
                .await
                .map_err(push_status)?;
            let results = outcomes.iter().map(|o| o.to_proto()).collect();
            Ok(SendSyncResponse {
                message_id,
                results,
            })
        });
        Ok(Response::new(answer.await?))
    }

    async fn send_async(
        &self,
        request: Request<SendAsyncRequest>,
    ) -> Result<Response<SendAsyncResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        v.check("user", check_user_id(&r.user));
        let strategy = check_send(r.strategy, &r.request_id, &mut v);
        let (given, stored) = match r.message_source {
            Some(send_async_request::MessageSource::Message(m)) => (Some(m), None),
            Some(send_async_request::MessageSource::MessageId(id)) => (None, Some(id)),
            None => (None, None),
        };
        let message = self.message_of(&app, given, stored, &mut v).await?;
        let answer = self.idempotent(&app, "SendAsync", &r.request_id, async {
            let message_id = new_message_id();
            self.accept(
                &app,
                std::slice::from_ref(&r.user),
                strategy,
                &message,
                &message_id,
            )
            .await?;
            Ok(SendAsyncResponse {
                message_id,
                target: Some(TargetAcceptance {
                    user: r.user.clone(),
                    status: AcceptStatus::Accepted as i32,
                    desc: "success".into(),
                }),
            })
        });
        Ok(Response::new(answer.await?))
    }

    async fn send_batch(
        &self,
        request: Request<SendBatchRequest>,
    ) -> Result<Response<SendBatchResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let max = self.pusher.config().max_batch_users;
        if r.users.is_empty() || r.users.len() > max {
            v.add(
                "users",
                format!("must hold 1 to {max} user ids; use TaskService.CreateListTask for more"),
            );
        }
        let strategy = check_send(r.strategy, &r.request_id, &mut v);
        let (given, stored) = match r.message_source {
            Some(send_batch_request::MessageSource::Message(m)) => (Some(m), None),
            Some(send_batch_request::MessageSource::MessageId(id)) => (None, Some(id)),
            None => (None, None),
        };
        let message = self.message_of(&app, given, stored, &mut v).await?;
        let answer = self.idempotent(&app, "SendBatch", &r.request_id, async {
            let mut seen = std::collections::HashSet::new();
            let mut accepted = Vec::new();
            let targets: Vec<TargetAcceptance> = r
                .users
                .iter()
                .map(|user| {
                    let rejected = |desc: &str| TargetAcceptance {
                        user: user.clone(),
                        status: AcceptStatus::Rejected as i32,
                        desc: desc.into(),
                    };
                    if check_user_id(user).is_err() {
                        rejected("invalid user id")
                    } else if !seen.insert(user.as_str()) {
                        rejected("duplicate user")
                    } else {
                        accepted.push(user.clone());
                        TargetAcceptance {
                            user: user.clone(),
                            status: AcceptStatus::Accepted as i32,
                            desc: "success".into(),
                        }
                    }
                })
                .collect();
            let message_id = new_message_id();
            if !accepted.is_empty() {
                self.accept(&app, &accepted, strategy, &message, &message_id)
                    .await?;
            }
            Ok(SendBatchResponse {
                message_id,
                targets,
            })
        });
        Ok(Response::new(answer.await?))
    }

    async fn create_message(
        &self,
        request: Request<CreateMessageRequest>,
    ) -> Result<Response<CreateMessageResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let message = self.message_of(&app, r.message, None, &mut v).await?;
        let stored = StoredMessage {
            id: new_message_id(),
            message: Some(message),
            create_time: Some(timestamp(now_ms())),
        };
        self.pusher.put_message(&app, &stored).await?;
        Ok(Response::new(CreateMessageResponse {
            message: Some(stored),
        }))
    }

    async fn get_message(
        &self,
        request: Request<GetMessageRequest>,
    ) -> Result<Response<GetMessageResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        if r.message_id.is_empty() {
            return Err(status::invalid(&Violations::single(
                "message_id",
                "is required",
            )));
        }
        match self.pusher.stored_message(&app, &r.message_id).await? {
            Some(message) => Ok(Response::new(GetMessageResponse {
                message: Some(message),
            })),
            None => Err(status::not_found("message", &r.message_id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_in_every_unit() {
        let mut m = MetadataMap::new();
        assert_eq!(deadline_of(&m), None);
        for (text, d) in [
            ("5S", Duration::from_secs(5)),
            ("250m", Duration::from_millis(250)),
            ("2M", Duration::from_secs(120)),
            ("1H", Duration::from_secs(3600)),
            ("7u", Duration::from_micros(7)),
        ] {
            m.insert("grpc-timeout", text.parse().unwrap());
            assert_eq!(deadline_of(&m), Some(d), "{text}");
        }
        m.insert("grpc-timeout", "5x".parse().unwrap());
        assert_eq!(deadline_of(&m), None);
    }
}
