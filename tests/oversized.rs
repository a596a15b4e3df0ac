//! Every RPC of the contract, called with every string it takes 20,000 characters long: the error that comes
//! back stays small (a client's 16 KiB metadata limit turns a larger one into RESOURCE_EXHAUSTED), and when it
//! quotes the long value it quotes a part and says how long the value was.
//!
//! The methods are read from the contract's descriptor set, so a method added later is walked too.

mod common;

use std::time::Duration;

use common::{TestServer, authed, create_app};
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, Kind, MessageDescriptor, MethodDescriptor, ReflectMessage,
    Value,
};
use pushgate::proto::{
    FILE_DESCRIPTOR_SET,
    v1::{IssueUserTokenRequest, auth_service_client::AuthServiceClient},
};
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};
use tonic_types::StatusExt;

/// How long every string of a request is.
const LONG: usize = 20_000;
/// Most bytes of a status message.
const MAX_MESSAGE: usize = 1024;
/// Most bytes of the encoded `google.rpc.Status` details.
const MAX_DETAILS: usize = 8 * 1024;

/// Encodes and decodes `DynamicMessage`s of one response type.
struct DynamicCodec(MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder(self.0.clone())
    }
}

struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("test codec: {e}")))
    }
}

struct DynamicDecoder(MessageDescriptor);

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|e| Status::internal(format!("test codec: {e}")))
    }
}

/// How much of a request is filled with long strings.
#[derive(Clone, Copy, Debug)]
enum Fill {
    /// The request's own string and repeated string fields.
    TopLevel,
    /// Those and the strings of nested messages (one member per oneof) and string maps, a few levels down.
    Nested,
}

fn long() -> String {
    "a".repeat(LONG)
}

/// Sets the string fields of `message` to [`long`] values, as `fill` says.
fn fill(message: &mut DynamicMessage, fill: Fill, depth: usize) {
    let mut oneofs_set = std::collections::HashSet::new();
    for field in message.descriptor().fields() {
        if let Some(oneof) = field.containing_oneof() {
            // Setting a second member would clear the first.
            if oneofs_set.contains(oneof.full_name()) {
                continue;
            }
        }
        let value = match field.kind() {
            Kind::String if field.is_list() => Some(Value::List(vec![Value::String(long())])),
            Kind::String => Some(Value::String(long())),
            Kind::Message(m) if field.is_map() && matches!(fill, Fill::Nested) => {
                let string_map = matches!(m.map_entry_key_field().kind(), Kind::String)
                    && matches!(m.map_entry_value_field().kind(), Kind::String);
                string_map.then(|| {
                    Value::Map(
                        [(prost_reflect::MapKey::String(long()), Value::String(long()))].into(),
                    )
                })
            }
            Kind::Message(m) if matches!(fill, Fill::Nested) && depth < 4 => {
                let mut nested = DynamicMessage::new(m);
                fill_nested(&mut nested, depth + 1);
                if field.is_list() {
                    Some(Value::List(vec![Value::Message(nested)]))
                } else {
                    Some(Value::Message(nested))
                }
            }
            _ => None,
        };
        if let Some(value) = value {
            if let Some(oneof) = field.containing_oneof() {
                oneofs_set.insert(oneof.full_name().to_owned());
            }
            message.set_field(&field, value);
        }
    }
}

fn fill_nested(message: &mut DynamicMessage, depth: usize) {
    fill(message, Fill::Nested, depth)
}

/// The token a method takes: the admin token for `AppService`, a user token for the device's
/// `ChannelService`, an app token for the rest.
fn token_for<'a>(method: &MethodDescriptor, tokens: &'a Tokens) -> &'a str {
    match method.parent_service().full_name() {
        "pushgate.v1.AppService" => &tokens.admin,
        "pushgate.v1.ChannelService" => &tokens.user,
        _ => &tokens.app,
    }
}

struct Tokens {
    admin: String,
    app: String,
    user: String,
}

/// Calls `method` with `request`: the status it ended with (`Ok` for a success, or a stream that yielded an
/// item or stayed open and quiet).
async fn call(
    channel: &Channel,
    method: &MethodDescriptor,
    token: &str,
    request: DynamicMessage,
) -> Status {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("channel ready");
    let codec = DynamicCodec(method.output());
    let request = authed(request, token);
    let path = path.parse().expect("method path");
    if method.is_server_streaming() {
        let mut stream = match grpc.server_streaming(request, path, codec).await {
            Ok(response) => response.into_inner(),
            Err(status) => return status,
        };
        match tokio::time::timeout(Duration::from_secs(3), stream.message()).await {
            Ok(Err(status)) => status,
            Ok(Ok(_)) | Err(_) => Status::ok("the stream opened"),
        }
    } else {
        match grpc.unary(request, path, codec).await {
            Ok(_) => Status::ok("the call succeeded"),
            Err(status) => status,
        }
    }
}

/// Every detail string of `status` with where it came from.
fn detail_strings(status: &Status) -> Vec<(String, String)> {
    let details = status.get_error_details();
    let mut out = Vec::new();
    if let Some(bad) = details.bad_request() {
        for v in &bad.field_violations {
            out.push((format!("BadRequest {}", v.field), v.description.clone()));
            out.push(("BadRequest field".into(), v.field.clone()));
        }
    }
    if let Some(info) = details.resource_info() {
        out.push((
            "ResourceInfo.resource_name".into(),
            info.resource_name.clone(),
        ));
        out.push(("ResourceInfo.description".into(), info.description.clone()));
    }
    if let Some(quota) = details.quota_failure() {
        for v in &quota.violations {
            out.push(("QuotaFailure.subject".into(), v.subject.clone()));
            out.push(("QuotaFailure.description".into(), v.description.clone()));
        }
    }
    if let Some(pre) = details.precondition_failure() {
        for v in &pre.violations {
            out.push(("PreconditionFailure.subject".into(), v.subject.clone()));
            out.push((
                "PreconditionFailure.description".into(),
                v.description.clone(),
            ));
        }
    }
    out
}

/// What is wrong with the status `method` answered; empty when nothing is.
fn problems(method: &str, fill: Fill, status: &Status) -> Vec<String> {
    let mut found = Vec::new();
    let at = format!("{method} ({fill:?})");
    let code = status.code();
    if matches!(
        code,
        Code::ResourceExhausted | Code::Unknown | Code::Internal
    ) {
        found.push(format!(
            "{at}: ended in {code:?} ({} bytes of message): {:.200}",
            status.message().len(),
            status.message()
        ));
    }
    if status.message().len() > MAX_MESSAGE {
        found.push(format!(
            "{at}: the message is {} bytes long, more than {MAX_MESSAGE}: {:.200}…",
            status.message().len(),
            status.message()
        ));
    }
    if status.details().len() > MAX_DETAILS {
        found.push(format!(
            "{at}: the details are {} bytes long, more than {MAX_DETAILS}",
            status.details().len()
        ));
    }
    let quoted = "a".repeat(50);
    let says_length = LONG.to_string();
    let mut texts = vec![("message".to_owned(), status.message().to_owned())];
    texts.extend(detail_strings(status));
    for (what, text) in texts {
        if text.contains(&quoted) && !text.contains(&says_length) {
            found.push(format!(
                "{at}: the {what} quotes the long value without saying it was {LONG} characters: {:.300}",
                text
            ));
        }
    }
    found
}

#[tokio::test]
async fn every_rpc_answers_long_strings_with_a_small_error() {
    let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("the contract's descriptor set");
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let channel = server.channel().await;
    let user = AuthServiceClient::new(channel.clone())
        .issue_user_token(authed(
            IssueUserTokenRequest {
                user: "alice".into(),
                ttl: None,
            },
            &app.token,
        ))
        .await
        .expect("issue a user token")
        .into_inner()
        .access_token;
    let tokens = Tokens {
        admin: server.admin_token.clone(),
        app: app.token.clone(),
        user,
    };

    let mut walked = 0;
    let mut failures = Vec::new();
    let mut failing = std::collections::BTreeSet::new();
    for service in pool.services() {
        if !service.full_name().starts_with("pushgate.") {
            continue;
        }
        for method in service.methods() {
            assert!(
                !method.is_client_streaming(),
                "{}: a client stream; teach this test to send one",
                method.full_name()
            );
            let token = token_for(&method, &tokens);
            for how in [Fill::TopLevel, Fill::Nested] {
                let mut request = DynamicMessage::new(method.input());
                fill(&mut request, how, 0);
                let status = call(&channel, &method, token, request).await;
                eprintln!(
                    "{} ({how:?}): {:?}, {} bytes of message, {} of details: {}",
                    method.full_name(),
                    status.code(),
                    status.message().len(),
                    status.details().len(),
                    status.message()
                );
                let found = problems(method.full_name(), how, &status);
                if !found.is_empty() {
                    failing.insert(method.full_name().to_owned());
                }
                failures.extend(found);
            }
            walked += 1;
        }
    }
    assert!(walked >= 58, "only {walked} methods found in the contract");
    assert!(
        failures.is_empty(),
        "{} of {walked} methods answer badly ({} problems):\n{}",
        failing.len(),
        failures.len(),
        failures.join("\n")
    );
}
