//! The push paths: each a `PushService` call, its answer in Easemob's `{timestamp, data, duration}`.

use axum::{
    Json, body::Bytes, extract::rejection::BytesRejection, http::HeaderMap, response::Response,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tonic::Request;

use super::{AppPathWith, RestError, Services, message::EasemobMessage};
use crate::{
    clock::now_ms,
    proto::v1::{
        AcceptStatus, DeliveryStatus, DeviceResult, FailureReason, SendAsyncRequest,
        SendBatchRequest, SendSyncRequest, Strategy, TargetAcceptance,
        push_service_server::PushService, send_async_request, send_batch_request,
        send_sync_request,
    },
    tenant::Caller,
};

/// Most users one `push/single` names (Easemob's limit).
const MAX_SINGLE_TARGETS: usize = 100;

/// Easemob's strategies 0 to 4, in the contract's terms (2, vendor only, when absent).
fn strategy(n: i64) -> Result<Strategy, RestError> {
    Ok(match n {
        0 => Strategy::VendorFirst,
        1 => Strategy::ChannelOnly,
        2 => Strategy::VendorOnly,
        3 => Strategy::ChannelFirst,
        4 => Strategy::ChannelOnlineOnly,
        _ => return Err(RestError::bad_request("strategy: must be 0, 1, 2, 3 or 4")),
    })
}

fn default_strategy() -> i64 {
    2
}

/// The body of `push/sync/{user}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SyncBody {
    #[serde(default = "default_strategy")]
    strategy: i64,
    push_message: Option<EasemobMessage>,
}

/// The body of `push/single`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SingleBody {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default = "default_strategy")]
    strategy: i64,
    push_message: Option<EasemobMessage>,
}

/// The strategy and the message of a push body, checked.
fn strategy_and_message(
    n: i64,
    message: Option<EasemobMessage>,
) -> Result<(Strategy, crate::proto::v1::PushMessage), RestError> {
    let strategy = strategy(n)?;
    let message = message
        .ok_or_else(|| RestError::bad_request("pushMessage: is required"))?
        .into_proto("pushMessage")?;
    Ok((strategy, message))
}

/// One accepted (or refused) user of an async send, as Easemob prints it; `accepted_desc` is the text of
/// an acceptance (`success` for push/async, `async success.` for push/single, as Easemob's examples).
fn acceptance(t: &TargetAcceptance, accepted_desc: &str, with_id: bool) -> Value {
    let accepted = t.status == AcceptStatus::Accepted as i32;
    let mut out = if accepted {
        json!({"pushStatus": "ASYNC_SUCCESS", "desc": accepted_desc})
    } else {
        json!({"pushStatus": "FAIL", "desc": t.desc})
    };
    if with_id {
        out["id"] = Value::String(t.user.clone());
    } else if accepted {
        out["data"] = Value::String(String::new());
    }
    out
}

/// A request as the services take it: the caller authenticated already.
fn as_app<T>(message: T, app: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(Caller::App {
        app: app.to_owned(),
    });
    request
}

/// Easemob's `{timestamp, data, duration}`.
fn envelope(data: Value, began_ms: i64) -> Response {
    let now = now_ms();
    axum::response::IntoResponse::into_response(Json(json!({
        "timestamp": now,
        "data": data,
        "duration": (now - began_ms).max(0),
    })))
}

/// One device's result as Easemob prints it: `pushStatus`, the vendor's answer as `data`, and `desc`.
fn device_result(r: &DeviceResult) -> Value {
    // FAIL: a cause outside the server (a bad token, no binding); ERROR: the server's own (a timeout).
    let status = match DeliveryStatus::try_from(r.status) {
        Ok(DeliveryStatus::Success) => "SUCCESS",
        Ok(DeliveryStatus::Error) => "ERROR",
        _ => "FAIL",
    };
    let mut out = json!({ "pushStatus": status });
    if !r.vendor_response.is_empty() {
        out["data"] = serde_json::from_str(&r.vendor_response)
            .unwrap_or_else(|_| Value::String(r.vendor_response.clone()));
    }
    // Easemob's REST answer names an unknown user so (its callbacks say "no user exist").
    let desc = if r.reason == FailureReason::NoUserExist as i32 {
        "appUser not exists".to_owned()
    } else {
        r.desc.clone()
    };
    if !desc.is_empty() {
        out["desc"] = Value::String(desc);
    }
    out
}

/// `POST /{org}/{app}/push/sync/{user}`: SendSync.
pub(super) async fn sync(
    services: Services,
    path: AppPathWith,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (org, app, user) = path.0;
    let began = now_ms();
    let answer = async {
        let (call, b): (_, SyncBody) = services.take(&headers, &org, &app, body).await?;
        let (strategy, message) = strategy_and_message(b.strategy, b.push_message)?;
        let sent = services
            .push
            .send_sync(as_app(
                SendSyncRequest {
                    user,
                    strategy: strategy as i32,
                    message_source: Some(send_sync_request::MessageSource::Message(message)),
                    request_id: String::new(),
                },
                &call.app,
            ))
            .await?
            .into_inner();
        let data: Vec<Value> = sent.results.iter().map(device_result).collect();
        Ok::<_, RestError>(envelope(Value::Array(data), call.began_ms))
    };
    answer.await.unwrap_or_else(|e| e.answer(began))
}

/// `POST /{org}/{app}/push/async/{user}`: SendAsync, answered once the push is accepted.
pub(super) async fn send_async(
    services: Services,
    path: AppPathWith,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (org, app, user) = path.0;
    let began = now_ms();
    let answer = async {
        let (call, b): (_, SyncBody) = services.take(&headers, &org, &app, body).await?;
        let (strategy, message) = strategy_and_message(b.strategy, b.push_message)?;
        let accepted = services
            .push
            .send_async(as_app(
                SendAsyncRequest {
                    user,
                    strategy: strategy as i32,
                    message_source: Some(send_async_request::MessageSource::Message(message)),
                    request_id: String::new(),
                },
                &call.app,
            ))
            .await?
            .into_inner();
        let data: Vec<Value> = accepted
            .target
            .iter()
            .map(|t| acceptance(t, "success", false))
            .collect();
        Ok::<_, RestError>(envelope(Value::Array(data), call.began_ms))
    };
    answer.await.unwrap_or_else(|e| e.answer(began))
}

/// `POST /{org}/{app}/push/single`: SendBatch to at most 100 users, one item per user.
pub(super) async fn single(
    services: Services,
    path: super::AppPath,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (org, app) = path.0;
    let began = now_ms();
    let answer = async {
        let (call, b): (_, SingleBody) = services.take(&headers, &org, &app, body).await?;
        if b.targets.is_empty() {
            return Err(RestError::bad_request(
                "targets: at least one user is required",
            ));
        }
        if b.targets.len() > MAX_SINGLE_TARGETS {
            return Err(RestError::bad_request(format!(
                "targets: at most {MAX_SINGLE_TARGETS} users, got {}",
                b.targets.len()
            )));
        }
        let (strategy, message) = strategy_and_message(b.strategy, b.push_message)?;
        let accepted = services
            .push
            .send_batch(as_app(
                SendBatchRequest {
                    users: b.targets,
                    strategy: strategy as i32,
                    message_source: Some(send_batch_request::MessageSource::Message(message)),
                    request_id: String::new(),
                },
                &call.app,
            ))
            .await?
            .into_inner();
        let data: Vec<Value> = accepted
            .targets
            .iter()
            .map(|t| acceptance(t, "async success.", true))
            .collect();
        Ok::<_, RestError>(envelope(Value::Array(data), call.began_ms))
    };
    answer.await.unwrap_or_else(|e| e.answer(began))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_type_is_named_by_its_field() {
        let e = match super::super::json_body::<SyncBody>(&Bytes::from_static(
            br#"{"strategy":"three","pushMessage":{"title":"t"}}"#,
        )) {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        };
        assert!(e.description.starts_with("strategy:"), "{e:?}");
    }
}
