//! `pushgate device`: which device token of which user is reached through which notifier (DeviceService,
//! with an app token).

use anyhow::Result;
use clap::Subcommand;
use pushgate::proto::v1::{
    BindDeviceOutcome, BindDeviceRequest, BindDeviceResponse, Binding, DeleteUserRequest,
    ListBindingsRequest, ListBindingsResponse, UnbindDeviceRequest, UnbindDeviceResponse,
    device_service_client::DeviceServiceClient,
};

use super::{
    client::{Auth, ClientArgs, all_pages, answer},
    output::{Align, Table, name_of, timestamp, vendor_name},
};

/// Most characters of a device token a table shows: enough to tell tokens apart, short enough for a row
/// (FCM tokens run past 150). `--output json` has them whole.
const TOKEN_SHOWN: usize = 24;

/// The device subcommands.
#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// Bind a device token to a user's device through a notifier, replacing the device's token there; a
    /// device bound to another user moves to this one. Prints what changed and the user's bindings.
    Bind {
        /// The user id.
        user: String,
        /// The device id (the one push filters and the own channel use).
        device: String,
        /// The notifier that pushes to the token.
        #[arg(long)]
        notifier: String,
        /// The vendor's token for the device (APNs tokens in hex).
        #[arg(long, value_name = "TOKEN")]
        device_token: String,
    },
    /// Remove a device's binding through one notifier, or all of its bindings; prints what was removed and
    /// the user's bindings left.
    Unbind {
        /// The user id.
        user: String,
        /// The device id.
        device: String,
        /// Only the binding through this notifier. Default: every binding of the device.
        #[arg(long)]
        notifier: Option<String>,
    },
    /// List a user's bindings.
    List {
        /// The user id.
        user: String,
    },
    /// Remove everything recorded for a user: bindings, settings, label memberships, offline inbox.
    DeleteUser {
        /// The user id.
        user: String,
    },
}

/// Runs a device subcommand with an app token.
pub async fn run(args: ClientArgs, command: DeviceCommand) -> Result<()> {
    let session = args.session(Auth::App).await?;
    let mut client = DeviceServiceClient::new(session.channel());
    match command {
        DeviceCommand::Bind {
            user,
            device,
            notifier,
            device_token,
        } => {
            let request = BindDeviceRequest {
                user,
                device_id: device,
                device_token,
                notifier_name: notifier,
            };
            let r = answer(client.bind_device(session.request(request)?)).await?;
            session.print(&r, bound_text)?;
        }
        DeviceCommand::Unbind {
            user,
            device,
            notifier,
        } => {
            let request = UnbindDeviceRequest {
                user,
                device_id: device,
                notifier_name: notifier.unwrap_or_default(),
            };
            let r = answer(client.unbind_device(session.request(request)?)).await?;
            session.print(&r, unbound_text)?;
        }
        DeviceCommand::List { user } => {
            let bindings = all_pages(async |page_token| {
                let page = answer(client.list_bindings(session.request(ListBindingsRequest {
                    user: user.clone(),
                    page_size: 100,
                    page_token,
                })?))
                .await?;
                Ok((page.bindings, page.next_page_token))
            })
            .await?;
            let r = ListBindingsResponse {
                bindings,
                next_page_token: String::new(),
            };
            session.print(&r, |r| bindings_table(&r.bindings))?;
        }
        DeviceCommand::DeleteUser { user } => {
            let request = DeleteUserRequest { user: user.clone() };
            let r = answer(client.delete_user(session.request(request)?)).await?;
            session.print(&r, |r| {
                format!(
                    "deleted user {user}: {} bindings, {} user settings, {} conversation settings, \
                     {} label memberships, {} inbox messages\n",
                    r.removed_bindings,
                    r.removed_user_settings,
                    r.removed_conversation_settings,
                    r.removed_label_memberships,
                    r.removed_inbox_messages
                )
            })?;
        }
    }
    Ok(())
}

/// What a bind did, then the user's bindings.
pub fn bound_text(r: &BindDeviceResponse) -> String {
    let outcome = name_of(r.outcome, |o| match o {
        BindDeviceOutcome::Unspecified => "unspecified",
        BindDeviceOutcome::Bound => "bound",
        BindDeviceOutcome::Updated => "updated: the token was replaced",
        BindDeviceOutcome::Moved => "moved",
        BindDeviceOutcome::Unbound => "unbound",
        BindDeviceOutcome::Unchanged => "unchanged: the token was bound already",
    });
    let mut out = match r.previous_user.as_str() {
        "" => format!("{outcome}\n"),
        previous => format!("{outcome} from user {previous}\n"),
    };
    out.push_str(&removed_text(&r.removed_bindings));
    out.push_str(&bindings_table(&r.bindings));
    out
}

/// What an unbind removed, then the user's bindings left.
pub fn unbound_text(r: &UnbindDeviceResponse) -> String {
    match r.removed_bindings.is_empty() {
        true => "nothing to remove\n".to_owned() + &bindings_table(&r.bindings),
        false => removed_text(&r.removed_bindings) + &bindings_table(&r.bindings),
    }
}

fn removed_text(removed: &[Binding]) -> String {
    removed
        .iter()
        .map(|b| {
            format!(
                "removed {}/{} through {}\n",
                b.user, b.device_id, b.notifier_name
            )
        })
        .collect()
}

/// Bindings as one row each.
pub fn bindings_table(bindings: &[Binding]) -> String {
    let mut table = Table::new(&[
        ("USER", Align::Left),
        ("DEVICE", Align::Left),
        ("NOTIFIER", Align::Left),
        ("VENDOR", Align::Left),
        ("TOKEN", Align::Left),
        ("UPDATED", Align::Left),
    ]);
    for b in bindings {
        table.row([
            b.user.clone(),
            b.device_id.clone(),
            b.notifier_name.clone(),
            vendor_name(b.vendor),
            shorten(&b.device_token, TOKEN_SHOWN),
            timestamp(b.update_time.as_ref()).unwrap_or_default(),
        ]);
    }
    table.render()
}

/// The first `max` characters of `text`, with `…` when some were cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushgate::proto::v1::Vendor;

    fn binding(device: &str, token: &str) -> Binding {
        Binding {
            user: "alice".into(),
            device_id: device.into(),
            device_token: token.into(),
            notifier_name: "sandbox-fcm".into(),
            vendor: Vendor::Fcm as i32,
            update_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn long_tokens_are_shortened_in_the_table() {
        let long = "f".repeat(160);
        assert_eq!(
            bindings_table(&[binding("phone", &long), binding("tab", "abc")]),
            "USER   DEVICE  NOTIFIER     VENDOR  TOKEN                      UPDATED\n\
             alice  phone   sandbox-fcm  FCM     ffffffffffffffffffffffff…  2023-11-14T22:13:20Z\n\
             alice  tab     sandbox-fcm  FCM     abc                        2023-11-14T22:13:20Z\n"
        );
        assert_eq!(shorten("héllo", 2), "hé…");
    }

    #[test]
    fn a_move_names_the_user_it_came_from_and_what_it_removed() {
        let mut old = binding("phone", "t");
        old.user = "bob".into();
        let text = bound_text(&BindDeviceResponse {
            outcome: BindDeviceOutcome::Moved as i32,
            previous_user: "bob".into(),
            removed_bindings: vec![old],
            bindings: vec![binding("phone", "t")],
        });
        assert!(
            text.starts_with("moved from user bob\nremoved bob/phone through sandbox-fcm\nUSER"),
            "{text}"
        );
        assert_eq!(
            unbound_text(&UnbindDeviceResponse::default()),
            "nothing to remove\nUSER  DEVICE  NOTIFIER  VENDOR  TOKEN  UPDATED\n"
        );
    }
}
