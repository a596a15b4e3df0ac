//! The push paths: each a `PushService` call, its answer in Easemob's `{timestamp, data, duration}`.

use axum::{
    Json, body::Bytes, extract::rejection::BytesRejection, http::HeaderMap, response::Response,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tonic::Request;

use super::{AppPathWith, RestError, Services, json_body, message::EasemobMessage};
use crate::{
    clock::now_ms,
    proto::v1::{
        DeliveryStatus, DeviceResult, FailureReason, SendSyncRequest, Strategy,
        push_service_server::PushService, send_sync_request,
    },
    tenant::Caller,
};

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
        let call = services.call(&headers, &org, &app).await?;
        let body = body.map_err(|e| RestError::too_large(e.body_text()))?;
        let b: SyncBody = json_body(&body)?;
        let strategy = strategy(b.strategy)?;
        let message = b
            .push_message
            .ok_or_else(|| RestError::bad_request("pushMessage: is required"))?
            .into_proto("pushMessage")?;
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
