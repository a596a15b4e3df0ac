//! The Firebase Cloud Messaging HTTP v1 fake: Google's OAuth token endpoint for service accounts and
//! `POST /v1/projects/{project}/messages:send`.

mod error;
mod message;
mod oauth;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use axum::{Router, extract::Request, response::Response};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

use super::{
    SandboxError,
    core::{FakeCore, FaultOutcome, Incoming, json_response},
    fault::lock,
    form,
    handle::{Fake, VendorState},
    tls::reset_response,
    tokens::TokenRefusal,
};
use error::{ApiError, OAuthError, error_info, fcm_error};
pub use message::MAX_MESSAGE_BYTES;
pub use oauth::{FCM_SCOPE, JWT_BEARER};

/// Default `expires_in` of issued access tokens, as Google's.
pub const DEFAULT_ACCESS_TOKEN_SECS: u64 = 3599;

/// What the FCM handlers share.
pub struct FcmState {
    core: Arc<FakeCore>,
    oauth: Mutex<oauth::OAuth>,
    lifetime_secs: AtomicU64,
}

impl FcmState {
    fn token_uri(&self) -> String {
        format!("{}/token", self.core.base_url())
    }
}

/// Handle on the running FCM fake. Dereferences to the shared [`FakeCore`] for faults, recording and
/// counters.
pub type FcmFake = Fake<FcmState>;

impl VendorState for FcmState {
    fn core(&self) -> &Arc<FakeCore> {
        &self.core
    }
}

impl Fake<FcmState> {
    /// A fake over `core`; returns it and its router.
    pub(crate) fn new(core: Arc<FakeCore>) -> (Self, Router) {
        Self::serve(
            FcmState {
                core,
                oauth: Mutex::new(oauth::OAuth::default()),
                lifetime_secs: AtomicU64::new(DEFAULT_ACCESS_TOKEN_SECS),
            },
            handle,
        )
    }

    /// `https://host:port/token`, the `token_uri` of minted service accounts.
    pub fn token_uri(&self) -> String {
        self.state.token_uri()
    }

    /// Mints a service-account key file (JSON, as Google issues them) for `project_id` with a fresh RSA
    /// key, and registers its public key. Generating the key takes a moment: call it off the async
    /// runtime's worker threads when that matters.
    pub fn mint_service_account(&self, project_id: &str) -> Result<String, SandboxError> {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(|e| SandboxError::Key(e.to_string()))?;
        let private_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| SandboxError::Key(e.to_string()))?
            .to_string();
        let public_pem = rsa::RsaPublicKey::from(&key)
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| SandboxError::Key(e.to_string()))?;
        let key_id = uuid::Uuid::new_v4().simple().to_string();
        let client_email = format!(
            "sandbox-{}@{project_id}.iam.gserviceaccount.com",
            &key_id[..8]
        );
        lock(&self.state.oauth)
            .register(&key_id, &client_email, project_id, &public_pem)
            .map_err(|e| SandboxError::Key(e.to_string()))?;
        Ok(serde_json::json!({
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key_id,
            "private_key": private_pem,
            "client_email": client_email,
            "client_id": format!("{}", u128::from_str_radix(&key_id[..24], 16).unwrap_or_default()),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri(),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        })
        .to_string())
    }

    /// Every access token issued so far answers 401 `UNAUTHENTICATED`.
    pub fn expire_access_tokens(&self) {
        lock(&self.state.oauth).expire_all();
    }

    /// `expires_in` of the access tokens issued from now on.
    pub fn set_access_token_lifetime(&self, secs: u64) {
        self.state.lifetime_secs.store(secs, Ordering::Relaxed);
    }
}

async fn handle(state: Arc<FcmState>, request: Request) -> Response {
    let Some((request, _)) = Incoming::read(request).await else {
        return reset_response();
    };
    let path = request.uri.path().to_owned();
    if path == "/token" {
        return token(&state, &request);
    }
    let project = request
        .path_between("/v1/projects/", "/messages:send")
        .map(str::to_owned);
    let device_token = message::token_of(&request.body);
    let outcome = match state.core.apply_faults(device_token.as_deref()).await {
        FaultOutcome::Reset => return state.core.reset_send(&request, device_token),
        FaultOutcome::Error {
            status,
            reason,
            retry_after_secs,
        } => {
            let mut error = ApiError::new(status, fault_message(status)).with(fcm_error(&reason));
            error.retry_after_secs = retry_after_secs;
            Err(error)
        }
        FaultOutcome::Proceed => send(&state, &request, project.as_deref()),
    };
    let (status, body, response) = match outcome {
        Ok(body) => (200, body.clone(), json_response(200, &body, &[])),
        Err(error) => {
            let body = error.body();
            (error.status, body.clone(), error.response(&body))
        }
    };
    state.core.recorder.count_send(status == 200);
    state
        .core
        .record(&request, device_token, status, &body, false);
    response
}

fn fault_message(status: u16) -> &'static str {
    match status {
        400 => "Request contains an invalid argument.",
        401 => "Request had invalid authentication credentials.",
        403 => "The caller does not have permission",
        404 => "Requested entity was not found.",
        429 => "Quota exceeded for quota metric 'Send requests'.",
        503 => "The service is currently unavailable.",
        _ => "Internal error encountered.",
    }
}

/// `POST /token`.
fn token(state: &FcmState, request: &Incoming) -> Response {
    let result = if request.method != http::Method::POST {
        Err(OAuthError {
            error: "invalid_request",
            description: "Required method POST.".into(),
        })
    } else {
        let form = form::parse_map(&request.body);
        match (form.get("grant_type"), form.get("assertion")) {
            (Some(grant), _) if grant != JWT_BEARER => Err(OAuthError {
                error: "unsupported_grant_type",
                description: format!("Invalid grant_type: {grant}"),
            }),
            (None, _) => Err(OAuthError {
                error: "unsupported_grant_type",
                description: "Invalid grant_type: ".into(),
            }),
            (_, None) => Err(OAuthError {
                error: "invalid_request",
                description: "Missing required parameter: assertion".into(),
            }),
            (_, Some(assertion)) => lock(&state.oauth).exchange(
                assertion,
                &state.token_uri(),
                request.at_ms,
                state.lifetime_secs.load(Ordering::Relaxed),
            ),
        }
    };
    let (status, body) = match result {
        Ok(grant) => {
            state.core.recorder.count_token(Some(&grant.key_id));
            let body = serde_json::json!({
                "access_token": grant.access_token,
                "expires_in": state.lifetime_secs.load(Ordering::Relaxed),
                "token_type": "Bearer",
            });
            (200, body.to_string())
        }
        Err(e) => {
            state.core.recorder.count_token(None);
            (400, e.body())
        }
    };
    state.core.record(request, None, status, &body, true);
    json_response(status, &body, &[])
}

const MISSING_CREDENTIALS: &str = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
const INVALID_CREDENTIALS: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// `POST /v1/projects/{project}/messages:send`: the answer body on success.
fn send(state: &FcmState, request: &Incoming, project: Option<&str>) -> Result<String, ApiError> {
    let Some(project) = project else {
        return Err(ApiError::new(404, "Requested entity was not found."));
    };
    if request.method != http::Method::POST {
        return Err(ApiError::new(404, "Requested entity was not found."));
    }
    let bearer = request.header("authorization").and_then(|v| {
        v.get(..7)
            .filter(|s| s.eq_ignore_ascii_case("bearer "))
            .map(|_| v[7..].trim().to_owned())
    });
    let Some(bearer) = bearer else {
        return Err(ApiError::new(401, MISSING_CREDENTIALS).with(error_info("CREDENTIALS_MISSING")));
    };
    {
        let oauth = lock(&state.oauth);
        let token = oauth
            .access_token(&bearer, request.at_ms)
            .map_err(|refusal| {
                let reason = match refusal {
                    TokenRefusal::Expired => "ACCESS_TOKEN_EXPIRED",
                    TokenRefusal::Unknown => "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                };
                ApiError::new(401, INVALID_CREDENTIALS).with(error_info(reason))
            })?;
        if !token.fcm_scope {
            return Err(
                ApiError::new(403, "Request had insufficient authentication scopes.")
                    .with(error_info("ACCESS_TOKEN_SCOPE_INSUFFICIENT")),
            );
        }
        if token.project_id != project {
            return Err(ApiError::new(
                403,
                format!(
                    "Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist)."
                ),
            )
            .with(error_info("IAM_PERMISSION_DENIED")));
        }
    }
    let checked = message::parse(&request.body)?;
    if let message::Target::Token(token) = &checked.target
        && state.core.is_invalidated(token)
    {
        return Err(
            ApiError::new(404, "Requested entity was not found.").with(fcm_error("UNREGISTERED"))
        );
    }
    let id = if checked.validate_only {
        "fake_message_id".to_owned()
    } else {
        format!(
            "0:{}%{}",
            request.at_ms,
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        )
    };
    Ok(serde_json::json!({ "name": format!("projects/{project}/messages/{id}") }).to_string())
}
