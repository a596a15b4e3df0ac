//! `pushgate send`: pushes one message to a few users with PushService.SendSync and prints every device's
//! outcome.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use pushgate::proto::v1::{
    DeliveryStatus, DeviceResult, FailureReason, SendSyncRequest, SendSyncResponse,
    push_service_client::PushServiceClient, send_sync_request,
};
use serde_json::Value;

use super::{
    client::{Auth, ClientArgs, answer},
    input::{MessageArgs, UsersArgs},
    output::{
        Align, Output, Table, channel_name, enum_or_dash, or_dash, reason_name, status_name,
        vendor_name,
    },
    protojson,
};

/// `pushgate send`.
#[derive(Args, Debug)]
pub struct SendArgs {
    #[command(flatten)]
    pub users: UsersArgs,
    #[command(flatten)]
    pub message: MessageArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// One user's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// Who it went to.
    pub user: String,
    /// What SendSync answered.
    pub response: SendSyncResponse,
}

/// The SendSync requests for the flags, one per user.
pub fn requests(args: &SendArgs) -> Result<Vec<SendSyncRequest>> {
    let users = args.users.read()?;
    // The server remembers a request id per app and RPC, not per user: a second user would get the first
    // one's answer and no push.
    if args.message.request_id.is_some() && users.len() > 1 {
        bail!(
            "--request-id works with one user only ({} given): SendSync remembers it per app, so every \
             user after the first would get the first one's answer and no push",
            users.len()
        );
    }
    let source = args.message.source()?;
    Ok(users
        .into_iter()
        .map(|user| SendSyncRequest {
            user,
            strategy: args.message.strategy(),
            message_source: Some(source.clone().into_oneof(
                send_sync_request::MessageSource::Message,
                send_sync_request::MessageSource::MessageId,
            )),
            request_id: args.message.request_id(),
        })
        .collect())
}

/// Sends to each user in turn (SendSync is rate limited per app and meant for a few users; a task is for
/// many) and prints the outcomes. Exits 0 when every device's push succeeded, 1 when some failed, 2 on
/// errors; an error stops the sends, after printing those already made.
pub async fn run(args: SendArgs) -> Result<ExitCode> {
    let requests = requests(&args)?;
    let session = args.client.session(Auth::App).await?;
    let mut client = PushServiceClient::new(session.channel());
    let mut sent = Vec::new();
    let mut failure = None;
    for request in requests {
        let user = request.user.clone();
        match answer(client.send_sync(session.request(request)?)).await {
            Ok(response) => {
                let done = Sent { user, response };
                // JSON goes out as each answer arrives, so a script sees them even if a later send fails.
                if session.output == Output::Json {
                    println!("{}", sent_json(&done)?);
                }
                sent.push(done);
            }
            Err(e) => {
                failure = Some(e.context(format!("send to {user}")));
                break;
            }
        }
    }
    if session.output == Output::Human && !sent.is_empty() {
        print!("{}", sent_text(&sent));
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let all_success = sent
        .iter()
        .flat_map(|s| &s.response.results)
        .all(|r| r.status == DeliveryStatus::Success as i32);
    Ok(if all_success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One user's answer as protobuf JSON, with the user it went to beside the response's own fields.
pub fn sent_json(sent: &Sent) -> Result<Value> {
    let mut value = protojson::to_json(&sent.response)?;
    let object = value
        .as_object_mut()
        .context("a SendSyncResponse is not a JSON object")?;
    object.insert("user".into(), Value::from(sent.user.clone()));
    Ok(value)
}

/// Every device's outcome as a table row, then one line per user with the message id and the counts.
pub fn sent_text(sent: &[Sent]) -> String {
    let mut table = Table::new(&[
        ("USER", Align::Left),
        ("DEVICE", Align::Left),
        ("STATUS", Align::Left),
        ("REASON", Align::Left),
        ("CHANNEL", Align::Left),
        ("VENDOR", Align::Left),
        ("NOTIFIER", Align::Left),
        ("VENDOR MESSAGE ID", Align::Left),
    ]);
    let mut summary = String::new();
    for s in sent {
        let mut counts = [0; 3];
        for r in &s.response.results {
            table.row([
                s.user.clone(),
                or_dash(&r.device_id),
                status_name(r.status),
                or_dash(&reason(r)),
                enum_or_dash(r.delivery_channel, channel_name),
                enum_or_dash(r.vendor, vendor_name),
                or_dash(&r.notifier_name),
                or_dash(&r.vendor_message_id),
            ]);
            match DeliveryStatus::try_from(r.status) {
                Ok(DeliveryStatus::Success) => counts[0] += 1,
                Ok(DeliveryStatus::Fail) => counts[1] += 1,
                _ => counts[2] += 1,
            }
        }
        summary.push_str(&format!(
            "message {} to {}: {} success, {} fail, {} error\n",
            s.response.message_id, s.user, counts[0], counts[1], counts[2]
        ));
    }
    table.render() + "\n" + &summary
}

/// The REASON cell: the failure reason, the error behind an error, and what happened beside the push
/// (kept for an offline device, a binding the vendor called invalid and that was removed).
fn reason(r: &DeviceResult) -> String {
    let mut parts = Vec::new();
    if r.reason != FailureReason::Unspecified as i32 {
        parts.push(reason_name(r.reason));
    }
    if !r.error_message.is_empty() {
        parts.push(r.error_message.clone());
    }
    if r.in_inbox {
        parts.push("kept in the offline inbox".to_owned());
    }
    if r.binding_removed {
        parts.push("binding removed".to_owned());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushgate::proto::v1::{DeliveryChannel, Vendor};

    fn sent() -> Vec<Sent> {
        vec![
            Sent {
                user: "alice".into(),
                response: SendSyncResponse {
                    message_id: "m-1".into(),
                    results: vec![
                        DeviceResult {
                            status: DeliveryStatus::Success as i32,
                            delivery_channel: DeliveryChannel::Vendor as i32,
                            vendor: Vendor::Fcm as i32,
                            notifier_name: "sandbox-fcm".into(),
                            device_id: "phone".into(),
                            vendor_message_id: "projects/p/messages/1".into(),
                            ..Default::default()
                        },
                        DeviceResult {
                            status: DeliveryStatus::Fail as i32,
                            reason: FailureReason::PushYetButFail as i32,
                            delivery_channel: DeliveryChannel::Vendor as i32,
                            vendor: Vendor::Apns as i32,
                            notifier_name: "sandbox-apns-token".into(),
                            device_id: "tablet".into(),
                            binding_removed: true,
                            ..Default::default()
                        },
                    ],
                },
            },
            Sent {
                user: "bob".into(),
                response: SendSyncResponse {
                    message_id: "m-2".into(),
                    results: vec![DeviceResult {
                        status: DeliveryStatus::Fail as i32,
                        reason: FailureReason::NoPushBinding as i32,
                        ..Default::default()
                    }],
                },
            },
        ]
    }

    #[test]
    fn every_device_is_a_row_and_every_user_a_summary_line() {
        assert_eq!(
            sent_text(&sent()),
            "USER   DEVICE  STATUS   REASON                              CHANNEL  VENDOR  NOTIFIER            VENDOR MESSAGE ID\n\
             alice  phone   success  -                                   vendor   FCM     sandbox-fcm         projects/p/messages/1\n\
             alice  tablet  fail     push yet but fail; binding removed  vendor   APNs    sandbox-apns-token  -\n\
             bob    -       fail     no push binding                     -        -       -                   -\n\
             \n\
             message m-1 to alice: 1 success, 1 fail, 0 error\n\
             message m-2 to bob: 0 success, 1 fail, 0 error\n"
        );
    }

    #[test]
    fn the_json_is_the_response_with_its_user() {
        let v = sent_json(&sent()[1]).unwrap();
        assert_eq!(v["user"], "bob");
        assert_eq!(v["messageId"], "m-2");
        assert_eq!(v["results"][0]["reason"], "FAILURE_REASON_NO_PUSH_BINDING");
    }
}
