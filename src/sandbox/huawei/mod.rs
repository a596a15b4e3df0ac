//! The Huawei Push Kit fake: the OAuth 2.0 client-credentials token endpoint
//! (`POST /oauth2/v3/token`, Huawei's `oauth-login.cloud.huawei.com`) and
//! `POST /v1/{appId}/messages:send` (`push-api.cloud.huawei.com`), on one port.
//!
//! Sources: Huawei's "OAuth 2.0 client credentials" and Push Kit "Sending Messages" server docs, the
//! official `HMS-Core/hms-push-serverdemo-*` SDKs (success `80000000`, parameter error `80100001`, auth
//! `80200001`/`80200003` refreshed and retried once), and Huawei's published error-code tables. Not
//! confirmed from a primary source: the OAuth error's HTTP status (400 here) and its `sub_error` values
//! other than `12304` ("invalid client_secret"), and the HTTP status paired with each business code (the
//! fake sends 401 for auth codes, 400 for request errors, 500 for `81000001`, 200 otherwise).

pub mod message;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use axum::{Router, extract::Request, response::Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    batch::{self, Verdict},
    client_credentials::{ClientCredentials, GrantRefusal, random_secret},
    core::{FakeCore, FaultOutcome, Incoming, json_response, retry_after},
    fault::lock,
    handle::{Fake, VendorState},
    tls::reset_response,
    tokens::TokenRefusal,
};

/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/oauth2/v3/token";
/// Default `expires_in` of issued access tokens, as Huawei's.
pub const DEFAULT_ACCESS_TOKEN_SECS: u64 = 3600;

/// Huawei's business codes (the `code` field, a string).
pub mod code {
    /// Sent.
    pub const SUCCESS: &str = "80000000";
    /// Some tokens failed: `msg` is a JSON string with `success`, `failure`, `illegal_tokens`.
    pub const PARTIAL: &str = "80100000";
    /// A request parameter is wrong (target not exactly one of token/topic/condition, …).
    pub const PARAMETER_ERROR: &str = "80100001";
    /// The message structure is wrong (illegal payload).
    pub const ILLEGAL_PAYLOAD: &str = "80100003";
    /// OAuth authentication error: no, unknown, or another app's access token.
    pub const AUTH_ERROR: &str = "80200001";
    /// The access token expired.
    pub const TOKEN_EXPIRED: &str = "80200003";
    /// Every token of the request is invalid.
    pub const ALL_TOKENS_INVALID: &str = "80300007";
    /// The message (tokens excluded) is over 4096 bytes.
    pub const MESSAGE_TOO_BIG: &str = "80300008";
    /// The token list is empty or over 1000.
    pub const TOO_MANY_TOKENS: &str = "80300010";
    /// System internal error (retry).
    pub const INTERNAL: &str = "81000001";
}

/// The message Huawei pairs with a code (used for fault answers).
fn message_for(code: &str) -> &'static str {
    match code {
        code::SUCCESS => "Success",
        code::PARAMETER_ERROR => "Some request parameters are incorrect",
        code::ILLEGAL_PAYLOAD => "Illegal payload",
        code::AUTH_ERROR => "Oauth authentication error",
        code::TOKEN_EXPIRED => "Oauth Token expired",
        code::ALL_TOKENS_INVALID => "All the tokens are invalid",
        code::MESSAGE_TOO_BIG => "The message body size exceeds the default value",
        code::TOO_MANY_TOKENS => {
            "The number of tokens in the message body exceeds the default value"
        }
        code::INTERNAL => "System inner error",
        "80300002" => "The current app does not have the permission to send messages",
        "80300013" => "The number of messages sent by the app exceeds the daily limit",
        _ => "Error",
    }
}

/// The HTTP status the fake pairs with a business code.
fn status_for(code: &str) -> u16 {
    match code {
        code::SUCCESS | code::PARTIAL => 200,
        code::AUTH_ERROR | code::TOKEN_EXPIRED => 401,
        code::INTERNAL => 500,
        _ => 400,
    }
}

/// A minted Huawei app: what AppGallery Connect shows for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HuaweiApp {
    /// The app id (also the OAuth `client_id`).
    pub app_id: String,
    /// The app secret (OAuth `client_secret`).
    pub client_secret: String,
}

/// What the Huawei handlers share.
pub struct HuaweiState {
    core: Arc<FakeCore>,
    oauth: Mutex<ClientCredentials>,
    lifetime_secs: AtomicU64,
}

/// Handle on the running Huawei fake. Dereferences to the shared [`FakeCore`].
pub type HuaweiFake = Fake<HuaweiState>;

impl VendorState for HuaweiState {
    fn core(&self) -> &Arc<FakeCore> {
        &self.core
    }
}

impl Fake<HuaweiState> {
    /// A fake over `core`; returns it and its router.
    pub(crate) fn new(core: Arc<FakeCore>) -> (Self, Router) {
        Self::serve(
            HuaweiState {
                core,
                oauth: Mutex::new(ClientCredentials::default()),
                lifetime_secs: AtomicU64::new(DEFAULT_ACCESS_TOKEN_SECS),
            },
            handle,
        )
    }

    /// `https://host:port/oauth2/v3/token`.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.state.core.base_url())
    }

    /// `https://host:port/v1/{app_id}/messages:send`.
    pub fn send_url(&self, app_id: &str) -> String {
        format!("{}/v1/{app_id}/messages:send", self.state.core.base_url())
    }

    /// Registers a new app (a fresh numeric app id and a random secret) and returns its credentials.
    pub fn mint_app(&self) -> HuaweiApp {
        let app = HuaweiApp {
            app_id: format!("10{:08}", rand::random::<u32>() % 100_000_000),
            client_secret: random_secret(),
        };
        lock(&self.state.oauth).register(&app.app_id, &app.client_secret, &app.app_id);
        app
    }

    /// Every access token issued so far answers `80200003`.
    pub fn expire_access_tokens(&self) {
        lock(&self.state.oauth).expire_all();
    }

    /// `expires_in` of the access tokens issued from now on.
    pub fn set_access_token_lifetime(&self, secs: u64) {
        self.state.lifetime_secs.store(secs, Ordering::Relaxed);
    }
}

/// One answer of the send endpoint.
struct Answer {
    status: u16,
    code: String,
    msg: String,
    retry_after_secs: Option<u64>,
}

impl Answer {
    fn code(code: &str, msg: impl Into<String>) -> Self {
        Self {
            status: status_for(code),
            code: code.to_owned(),
            msg: msg.into(),
            retry_after_secs: None,
        }
    }
}

async fn handle(state: Arc<HuaweiState>, request: Request) -> Response {
    let Some((request, _)) = Incoming::read(request).await else {
        return reset_response();
    };
    if request.uri.path() == TOKEN_PATH {
        return token(&state, &request);
    }
    let tokens = batch::tokens_at(&request.body, "/message/token");
    let device_token = batch::count(&state.core, &tokens);
    let answer = match state.core.apply_faults(None).await {
        FaultOutcome::Reset => None,
        FaultOutcome::Error {
            status,
            reason,
            retry_after_secs,
        } => {
            let code = if reason.is_empty() {
                match status {
                    401 | 403 => code::AUTH_ERROR,
                    s if s >= 500 => code::INTERNAL,
                    _ => code::PARAMETER_ERROR,
                }
                .to_owned()
            } else {
                reason
            };
            Some(Answer {
                status,
                msg: message_for(&code).to_owned(),
                code,
                retry_after_secs,
            })
        }
        FaultOutcome::Proceed => send(&state, &request).await,
    };
    let Some(answer) = answer else {
        return state.core.reset_send(&request, device_token);
    };
    let body = json!({
        "code": answer.code,
        "msg": answer.msg,
        "requestId": batch::request_id(request.at_ms),
    })
    .to_string();
    let accepted = answer.code == code::SUCCESS || answer.code == code::PARTIAL;
    state.core.answer_send(
        &request,
        device_token,
        answer.status,
        &body,
        &retry_after(answer.retry_after_secs),
        answer.status == 200 && accepted,
    )
}

/// `POST /v1/{appId}/messages:send`; `None` when a token-scoped fault asks for a reset.
async fn send(state: &HuaweiState, request: &Incoming) -> Option<Answer> {
    let app_id = request.path_between("/v1/", "/messages:send");
    let Some(app_id) = app_id else {
        return Some(Answer {
            status: 404,
            code: "80100002".into(),
            msg: "Not Found".into(),
            retry_after_secs: None,
        });
    };
    if request.method != http::Method::POST {
        return Some(Answer {
            status: 405,
            code: code::PARAMETER_ERROR.into(),
            msg: "Request method not supported".into(),
            retry_after_secs: None,
        });
    }
    // An access token of app A used to push for app B is an auth error, as Huawei answers it.
    let authorized =
        lock(&state.oauth).authorize(request.header("authorization"), app_id, request.at_ms);
    match authorized {
        Err(TokenRefusal::Expired) => {
            return Some(Answer::code(
                code::TOKEN_EXPIRED,
                message_for(code::TOKEN_EXPIRED),
            ));
        }
        Err(TokenRefusal::Unknown) => {
            return Some(Answer::code(
                code::AUTH_ERROR,
                message_for(code::AUTH_ERROR),
            ));
        }
        Ok(()) => {}
    }
    let checked = match message::check(&request.body) {
        Ok(checked) => checked,
        Err(refusal) => return Some(Answer::code(refusal.code, refusal.msg)),
    };
    let message::Target::Tokens(tokens) = checked.target else {
        return Some(Answer::code(code::SUCCESS, "Success"));
    };
    let verdicts = batch::judge(&state.core, &tokens, message::well_formed).await?;
    let illegal = batch::tokens_where(&verdicts, |v| *v != Verdict::Deliver);
    if illegal.is_empty() {
        return Some(Answer::code(code::SUCCESS, "Success"));
    }
    if illegal.len() == tokens.len() {
        return Some(Answer::code(
            code::ALL_TOKENS_INVALID,
            message_for(code::ALL_TOKENS_INVALID),
        ));
    }
    // The v1 API's partial answer: `msg` is itself JSON. (Huawei's newer v3 API groups the tokens by
    // cause under `illegalTokens`; the v1 shape is what the Android Push Kit API documents.)
    let msg = json!({
        "success": tokens.len() - illegal.len(),
        "failure": illegal.len(),
        "illegal_tokens": illegal,
    })
    .to_string();
    Some(Answer::code(code::PARTIAL, msg))
}

/// `POST /oauth2/v3/token` (client credentials).
fn token(state: &HuaweiState, request: &Incoming) -> Response {
    let result = lock(&state.oauth).grant_request(
        request,
        state.lifetime_secs.load(Ordering::Relaxed),
        "CgB6e3x9",
    );
    let (status, body, key) = match result {
        Ok((access_token, record)) => (
            200,
            json!({
                "access_token": access_token,
                "expires_in": state.lifetime_secs.load(Ordering::Relaxed),
                "token_type": "Bearer",
            })
            .to_string(),
            Some(record.client_id),
        ),
        Err(refusal) => {
            // Account Kit's error shape: numeric `error` and `sub_error` with a description.
            let (error, sub_error, description) = match refusal {
                GrantRefusal::BadSecret => (1101, 12304, "invalid client_secret"),
                GrantRefusal::UnknownClient => (1101, 12303, "invalid client_id"),
                GrantRefusal::Missing => (1102, 11000, "missing required parameter"),
                GrantRefusal::GrantType => (1102, 11004, "unsupported grant_type"),
            };
            (
                400,
                json!({"error": error, "sub_error": sub_error, "error_description": description})
                    .to_string(),
                None,
            )
        }
    };
    state.core.recorder.count_token(key.as_deref());
    state.core.record(request, None, status, &body, true);
    json_response(status, &body, &[("cache-control", "no-store".into())])
}
