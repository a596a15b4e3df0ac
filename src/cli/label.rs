//! `pushgate label`: named groups of users that label tasks push to (LabelService, with an app token).

use anyhow::{Context, Result};
use clap::Subcommand;
use pushgate::proto::v1::{
    AddLabelUsersRequest, AddLabelUsersResponse, CreateLabelRequest, DeleteLabelRequest,
    GetLabelRequest, Label, LabelUser, LabelUserFailureReason, ListLabelUsersRequest,
    ListLabelUsersResponse, ListLabelsRequest, ListLabelsResponse, RemoveLabelUsersRequest,
    RemoveLabelUsersResponse, label_service_client::LabelServiceClient,
};

use super::{
    client::{Auth, ClientArgs, Session, all_pages, answer},
    input::UsersArgs,
    output::{Align, Table, key_values, name_of, or_dash, timestamp},
};

/// The label subcommands.
#[derive(Subcommand, Debug)]
pub enum LabelCommand {
    /// Create an empty label.
    Create {
        /// The label name (1..64 characters of a-z A-Z 0-9 _ . -, case-sensitive).
        name: String,
        /// Free text for people.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Print one label with its user count.
    Get {
        /// The label name.
        name: String,
    },
    /// List the app's labels with their user counts.
    List,
    /// Delete a label and its memberships (refused while a label task runs over it).
    Delete {
        /// The label name.
        name: String,
    },
    /// Add users to a label; prints the users added and those refused.
    ///
    /// The users go in calls of --per-call users each; if one call is refused, those before it stay added.
    AddUsers {
        /// The label name.
        name: String,
        #[command(flatten)]
        users: UsersArgs,
        /// Users per call: the server's `labels.max_users_per_call`.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
        per_call: u32,
    },
    /// Remove users from a label; users that were not members count as removed.
    ///
    /// The users go in calls of --per-call users each; if one call is refused, those before it stay removed.
    RemoveUsers {
        /// The label name.
        name: String,
        #[command(flatten)]
        users: UsersArgs,
        /// Users per call: the server's `labels.max_users_per_call`.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
        per_call: u32,
    },
    /// List a label's users with the time each was added.
    Users {
        /// The label name.
        name: String,
    },
}

/// Runs a label subcommand with an app token.
pub async fn run(args: ClientArgs, command: LabelCommand) -> Result<()> {
    // The users files are read before connecting, so that a bad one is reported without a server.
    let users = match &command {
        LabelCommand::AddUsers { users, .. } | LabelCommand::RemoveUsers { users, .. } => {
            users.read()?
        }
        _ => Vec::new(),
    };
    let session = args.session(Auth::App).await?;
    let mut client = LabelServiceClient::new(session.channel());
    match command {
        LabelCommand::Create { name, description } => {
            let request = CreateLabelRequest { name, description };
            let r = answer(client.create_label(session.request(request)?)).await?;
            session.print(&r, |r| r.label.as_ref().map(label_text).unwrap_or_default())?;
        }
        LabelCommand::Get { name } => {
            let r = answer(client.get_label(session.request(GetLabelRequest { name })?)).await?;
            session.print(&r, |r| r.label.as_ref().map(label_text).unwrap_or_default())?;
        }
        LabelCommand::List => {
            let labels = all_pages(async |page_token| {
                let page = answer(client.list_labels(session.request(ListLabelsRequest {
                    page_size: 100,
                    page_token,
                })?))
                .await?;
                Ok((page.labels, page.next_page_token))
            })
            .await?;
            let r = ListLabelsResponse {
                labels,
                next_page_token: String::new(),
            };
            session.print(&r, |r| labels_table(&r.labels))?;
        }
        LabelCommand::Delete { name } => {
            let request = DeleteLabelRequest { name: name.clone() };
            let r = answer(client.delete_label(session.request(request)?)).await?;
            session.print(&r, |r| {
                format!("deleted label {name} ({} memberships)\n", r.removed_users)
            })?;
        }
        LabelCommand::AddUsers { name, per_call, .. } => {
            let j =
                change_members(&session, &mut client, Change::Add, &name, users, per_call).await?;
            let text = members_text(Change::Add, &name, &j);
            let r = AddLabelUsersResponse {
                success: j.success,
                fail: j.fail,
                added: j.changed,
            };
            session.print(&r, |_| text)?;
        }
        LabelCommand::RemoveUsers { name, per_call, .. } => {
            let j = change_members(
                &session,
                &mut client,
                Change::Remove,
                &name,
                users,
                per_call,
            )
            .await?;
            let text = members_text(Change::Remove, &name, &j);
            let r = RemoveLabelUsersResponse {
                success: j.success,
                fail: j.fail,
                removed: j.changed,
            };
            session.print(&r, |_| text)?;
        }
        LabelCommand::Users { name } => {
            let users = all_pages(async |page_token| {
                let page = answer(client.list_label_users(session.request(
                    ListLabelUsersRequest {
                        label: name.clone(),
                        page_size: 100,
                        page_token,
                    },
                )?))
                .await?;
                Ok((page.users, page.next_page_token))
            })
            .await?;
            let r = ListLabelUsersResponse {
                users,
                next_page_token: String::new(),
            };
            session.print(&r, |r| label_users_table(&r.users))?;
        }
    }
    Ok(())
}

/// Which way `change_members` changes a label.
#[derive(Debug, Clone, Copy)]
enum Change {
    Add,
    Remove,
}

/// The answers of every call of one add or remove, joined.
#[derive(Debug, Default)]
struct Joined {
    /// Users in the state asked for.
    success: Vec<String>,
    /// Refused users with the reason.
    fail: std::collections::HashMap<String, i32>,
    /// How many of `success` the calls changed (new members, ended memberships).
    changed: u32,
}

/// Adds or removes `users` in calls of `per_call`, and joins the answers into one.
async fn change_members(
    session: &Session,
    client: &mut LabelServiceClient<tonic::transport::Channel>,
    change: Change,
    label: &str,
    users: Vec<String>,
    per_call: u32,
) -> Result<Joined> {
    let mut joined = Joined::default();
    let mut done = 0;
    for chunk in users.chunks(per_call as usize) {
        let (success, fail, changed) = match change {
            Change::Add => {
                let request = AddLabelUsersRequest {
                    label: label.to_owned(),
                    users: chunk.to_vec(),
                };
                let r = answer(client.add_label_users(session.request(request)?)).await;
                r.map(|r| (r.success, r.fail, r.added))
            }
            Change::Remove => {
                let request = RemoveLabelUsersRequest {
                    label: label.to_owned(),
                    users: chunk.to_vec(),
                };
                let r = answer(client.remove_label_users(session.request(request)?)).await;
                r.map(|r| (r.success, r.fail, r.removed))
            }
        }
        .with_context(|| match done {
            0 => "no user was changed".to_owned(),
            n => format!("the first {n} users were changed, the rest were not"),
        })?;
        done += chunk.len();
        joined.success.extend(success);
        joined.fail.extend(fail);
        joined.changed += changed;
    }
    Ok(joined)
}

/// How many users an add or remove changed, how many were already as asked, and each refused user with the
/// reason.
fn members_text(change: Change, label: &str, r: &Joined) -> String {
    let users = |n: usize| format!("{n} user{}", if n == 1 { "" } else { "s" });
    let changed = r.changed as usize;
    let unchanged = r.success.len().saturating_sub(changed);
    let mut out = match change {
        Change::Add => format!("{} added to label {label}", users(changed)),
        Change::Remove => format!("{} removed from label {label}", users(changed)),
    };
    if unchanged > 0 {
        out.push_str(&match (change, unchanged) {
            (Change::Add, 1) => "; 1 user already was a member".to_owned(),
            (Change::Add, n) => format!("; {n} users already were members"),
            (Change::Remove, 1) => "; 1 user was not a member".to_owned(),
            (Change::Remove, n) => format!("; {n} users were not members"),
        });
    }
    out.push('\n');
    let mut refused: Vec<_> = r.fail.iter().collect();
    refused.sort();
    for (user, reason) in refused {
        let reason = name_of(*reason, |r| match r {
            LabelUserFailureReason::Unspecified => "unspecified",
            LabelUserFailureReason::InvalidUser => "invalid user id",
        });
        out.push_str(&format!("refused {user}: {reason}\n"));
    }
    out
}

/// A label in detail.
pub fn label_text(label: &Label) -> String {
    key_values(&[
        ("label", label.name.clone()),
        ("description", label.description.clone()),
        ("users", label.user_count.to_string()),
        (
            "created",
            timestamp(label.create_time.as_ref()).unwrap_or_default(),
        ),
    ])
}

/// Labels as one row each.
pub fn labels_table(labels: &[Label]) -> String {
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("USERS", Align::Right),
        ("DESCRIPTION", Align::Left),
        ("CREATED", Align::Left),
    ]);
    for label in labels {
        table.row([
            label.name.clone(),
            label.user_count.to_string(),
            or_dash(&label.description),
            timestamp(label.create_time.as_ref()).unwrap_or_default(),
        ]);
    }
    table.render()
}

/// A label's members as one row each.
pub fn label_users_table(users: &[LabelUser]) -> String {
    let mut table = Table::new(&[("USER", Align::Left), ("ADDED", Align::Left)]);
    for u in users {
        table.row([
            u.user.clone(),
            timestamp(u.add_time.as_ref()).unwrap_or_default(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_list_with_their_counts_right_aligned() {
        let label = |name: &str, count: u64| Label {
            name: name.into(),
            user_count: count,
            create_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            ..Default::default()
        };
        assert_eq!(
            labels_table(&[label("vip", 12_000), label("beta", 3)]),
            "NAME  USERS  DESCRIPTION  CREATED\n\
             vip   12000  -            2023-11-14T22:13:20Z\n\
             beta      3  -            2023-11-14T22:13:20Z\n"
        );
    }

    #[test]
    fn a_label_without_description_prints_no_trailing_space() {
        let text = label_text(&Label {
            name: "vip".into(),
            user_count: 2,
            ..Default::default()
        });
        assert_eq!(
            text,
            "label:       vip\ndescription:\nusers:       2\ncreated:\n"
        );
    }

    #[test]
    fn a_member_change_counts_the_users_and_lists_the_refused() {
        let r = Joined {
            success: vec!["alice".into(), "bob".into()],
            fail: [
                ("b d".to_owned(), LabelUserFailureReason::InvalidUser as i32),
                ("a d".to_owned(), 9),
            ]
            .into(),
            changed: 2,
        };
        assert_eq!(
            members_text(Change::Add, "vip", &r),
            "2 users added to label vip\n\
             refused a d: unknown(9)\n\
             refused b d: invalid user id\n"
        );
    }

    #[test]
    fn a_member_change_says_what_it_did_not_change() {
        let r = Joined {
            success: vec!["alice".into(), "bob".into(), "carol".into()],
            changed: 1,
            ..Joined::default()
        };
        assert_eq!(
            members_text(Change::Remove, "vip", &r),
            "1 user removed from label vip; 2 users were not members\n"
        );
        let r = Joined {
            success: vec!["alice".into(), "bob".into()],
            changed: 1,
            ..Joined::default()
        };
        assert_eq!(
            members_text(Change::Add, "vip", &r),
            "1 user added to label vip; 1 user already was a member\n"
        );
    }
}
