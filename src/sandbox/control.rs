//! The control API: plain HTTP JSON endpoints with which tests, benchmarks and people steer the fakes
//! (faults, invalidated tokens, recorded requests, counters, credentials).

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    apns::ApnsFake,
    core::FakeCore,
    fault::FaultRule,
    fcm::FcmFake,
    handle::{Fake, VendorState},
    honor::HonorFake,
    huawei::HuaweiFake,
    xiaomi::XiaomiFake,
};

/// One vendor as the control API sees it: its core and how to expire the credentials it issued.
pub struct VendorControl {
    /// The fake's shared core.
    pub core: Arc<FakeCore>,
    /// Expires every credential (provider or access token) issued so far.
    pub expire: Box<dyn Fn() + Send + Sync>,
}

impl VendorControl {
    /// The control of `fake`, expiring its credentials with `expire`.
    pub fn of<S: VendorState>(fake: &Fake<S>, expire: fn(&Fake<S>)) -> Self {
        let expiring = fake.clone();
        Self {
            core: fake.core().clone(),
            expire: Box::new(move || expire(&expiring)),
        }
    }
}

/// What the control handlers share.
pub struct ControlState {
    /// The vendors by name (`apns`, `fcm`, …).
    pub vendors: BTreeMap<&'static str, VendorControl>,
    /// The APNs fake, for minting keys and certificates.
    pub apns: ApnsFake,
    /// The FCM fake, for minting service accounts.
    pub fcm: FcmFake,
    /// The Huawei fake, for minting apps.
    pub huawei: HuaweiFake,
    /// The Honor fake, for minting apps.
    pub honor: HonorFake,
    /// The Xiaomi fake, for minting apps and setting the quota.
    pub xiaomi: XiaomiFake,
    /// The ready-made notifiers as proto3 JSON.
    pub notifiers: Value,
    /// The sandbox CA, PEM.
    pub ca_pem: String,
}

type Shared = State<Arc<ControlState>>;

/// The control API's routes.
pub fn router(state: Arc<ControlState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/ca.pem", get(ca))
        .route("/notifiers", get(notifiers))
        .route("/apns/token-keys", post(mint_token_key))
        .route("/apns/certificates", post(mint_certificate))
        .route("/fcm/service-accounts", post(mint_service_account))
        .route("/huawei/apps", post(mint_huawei_app))
        .route("/honor/apps", post(mint_honor_app))
        .route("/xiaomi/apps", post(mint_xiaomi_app))
        .route("/xiaomi/quota", post(xiaomi_quota))
        .route(
            "/{vendor}/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/{vendor}/invalid-tokens", post(invalidate))
        .route("/{vendor}/requests", get(requests).delete(clear_requests))
        .route("/{vendor}/stats", get(stats))
        .route("/{vendor}/recording", post(recording))
        .route("/{vendor}/expire-credentials", post(expire))
        .with_state(state)
}

fn not_found(vendor: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": format!("no sandbox vendor {vendor:?}")})),
    )
        .into_response()
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

fn with_vendor(
    state: &ControlState,
    vendor: &str,
    f: impl FnOnce(&VendorControl) -> Response,
) -> Response {
    match state.vendors.get(vendor) {
        Some(v) => f(v),
        None => not_found(vendor),
    }
}

async fn index(State(state): Shared) -> Response {
    let vendors: Vec<Value> = state
        .vendors
        .values()
        .map(|v| json!({"vendor": v.core.name(), "base_url": v.core.base_url()}))
        .collect();
    Json(json!({"vendors": vendors, "fcm_token_uri": state.fcm.token_uri()})).into_response()
}

async fn ca(State(state): Shared) -> Response {
    (
        [("content-type", "application/x-pem-file")],
        state.ca_pem.clone(),
    )
        .into_response()
}

async fn notifiers(State(state): Shared) -> Response {
    Json(state.notifiers.clone()).into_response()
}

#[derive(Deserialize)]
struct TopicBody {
    topic: String,
}

async fn mint_token_key(State(state): Shared, Json(body): Json<TopicBody>) -> Response {
    match state.apns.mint_token_key(&body.topic) {
        Ok(key) => Json(key).into_response(),
        Err(e) => bad_request(e.to_string()),
    }
}

async fn mint_certificate(State(state): Shared, Json(body): Json<TopicBody>) -> Response {
    match state.apns.mint_certificate(&body.topic) {
        Ok(cert) => Json(cert).into_response(),
        Err(e) => bad_request(e.to_string()),
    }
}

#[derive(Deserialize)]
struct ProjectBody {
    project_id: String,
}

async fn mint_service_account(State(state): Shared, Json(body): Json<ProjectBody>) -> Response {
    let fcm = state.fcm.clone();
    // RSA key generation is CPU-bound: keep it off the runtime's workers.
    match tokio::task::spawn_blocking(move || fcm.mint_service_account(&body.project_id)).await {
        Ok(Ok(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(value) => Json(value).into_response(),
            Err(e) => bad_request(e.to_string()),
        },
        Ok(Err(e)) => bad_request(e.to_string()),
        Err(e) => bad_request(e.to_string()),
    }
}

async fn mint_huawei_app(State(state): Shared) -> Response {
    Json(state.huawei.mint_app()).into_response()
}

async fn mint_honor_app(State(state): Shared) -> Response {
    Json(state.honor.mint_app()).into_response()
}

#[derive(Deserialize)]
struct PackageBody {
    package_name: String,
}

async fn mint_xiaomi_app(State(state): Shared, Json(body): Json<PackageBody>) -> Response {
    if body.package_name.is_empty() {
        return bad_request("package_name is required".into());
    }
    Json(state.xiaomi.mint_app(&body.package_name)).into_response()
}

#[derive(Deserialize)]
struct QuotaBody {
    #[serde(default)]
    daily: Option<u64>,
    #[serde(default)]
    reset_usage: bool,
}

async fn xiaomi_quota(State(state): Shared, Json(body): Json<QuotaBody>) -> Response {
    if let Some(daily) = body.daily {
        state.xiaomi.set_daily_quota(daily);
    }
    if body.reset_usage {
        state.xiaomi.reset_quota_usage();
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn list_faults(State(state): Shared, Path(vendor): Path<String>) -> Response {
    with_vendor(&state, &vendor, |v| Json(v.core.faults()).into_response())
}

async fn add_fault(
    State(state): Shared,
    Path(vendor): Path<String>,
    Json(rule): Json<FaultRule>,
) -> Response {
    with_vendor(&state, &vendor, |v| {
        v.core.add_fault(rule);
        StatusCode::NO_CONTENT.into_response()
    })
}

async fn clear_faults(State(state): Shared, Path(vendor): Path<String>) -> Response {
    with_vendor(&state, &vendor, |v| {
        v.core.clear_faults();
        StatusCode::NO_CONTENT.into_response()
    })
}

#[derive(Deserialize)]
struct TokenBody {
    device_token: String,
}

async fn invalidate(
    State(state): Shared,
    Path(vendor): Path<String>,
    Json(body): Json<TokenBody>,
) -> Response {
    with_vendor(&state, &vendor, |v| {
        v.core.invalidate_token(&body.device_token);
        StatusCode::NO_CONTENT.into_response()
    })
}

async fn requests(State(state): Shared, Path(vendor): Path<String>) -> Response {
    with_vendor(&state, &vendor, |v| Json(v.core.requests()).into_response())
}

async fn clear_requests(State(state): Shared, Path(vendor): Path<String>) -> Response {
    with_vendor(&state, &vendor, |v| {
        v.core.clear_requests();
        StatusCode::NO_CONTENT.into_response()
    })
}

async fn stats(State(state): Shared, Path(vendor): Path<String>) -> Response {
    with_vendor(&state, &vendor, |v| Json(v.core.stats()).into_response())
}

#[derive(Deserialize)]
struct RecordingBody {
    on: bool,
}

async fn recording(
    State(state): Shared,
    Path(vendor): Path<String>,
    Json(body): Json<RecordingBody>,
) -> Response {
    with_vendor(&state, &vendor, |v| {
        v.core.set_recording(body.on);
        StatusCode::NO_CONTENT.into_response()
    })
}

async fn expire(State(state): Shared, Path(vendor): Path<String>) -> Response {
    with_vendor(&state, &vendor, |v| {
        (v.expire)();
        StatusCode::NO_CONTENT.into_response()
    })
}
