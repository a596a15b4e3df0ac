//! `pushgate app`: tenants and their callback rules (AppService, with the admin token).

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use pushgate::proto::v1::{
    App, CallbackRule, CreateAppRequest, CreateAppResponse, DeleteAppRequest,
    DeleteCallbackRuleRequest, DeliveryStatus, GetAppRequest, ListAppsRequest, ListAppsResponse,
    ListCallbackRulesRequest, PutCallbackRuleRequest, RotateAppSecretRequest,
    app_service_client::AppServiceClient,
};

use super::{
    client::{Auth, ClientArgs, all_pages, answer},
    output::{Align, Table, key_values, or_dash, status_name, timestamp},
};

/// The app subcommands.
#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Create an app `org#app`; prints its client id and secret (the secret is shown only now).
    Create {
        /// The app name, `org#app`.
        name: String,
        /// Time zone for do-not-disturb intervals (UTC, +08:00, Asia/Shanghai). Default: UTC.
        #[arg(long, default_value = "")]
        time_zone: String,
    },
    /// Print one app.
    Get {
        /// The app name, `org#app`.
        name: String,
    },
    /// List every app.
    List,
    /// Delete an app and everything it owns; its tokens stop working at once.
    Delete {
        /// The app name, `org#app`.
        name: String,
    },
    /// Replace an app's client secret; the old secret and every token issued before stop working.
    RotateSecret {
        /// The app name, `org#app`.
        name: String,
    },
    /// Manage the app's callback rules: where delivery outcomes are POSTed (at most 4 rules per app).
    #[command(subcommand, visible_alias = "rule")]
    CallbackRule(RuleCommand),
}

/// The callback rule subcommands.
#[derive(Subcommand, Debug)]
pub enum RuleCommand {
    /// Create a rule, or replace the rule of that name; prints it.
    ///
    /// Every outcome recorded from then on (of the chosen statuses) is POSTed to the URL as JSON, signed
    /// with the secret (X-Pushgate-Signature, HMAC-SHA256), and retried until it is answered with a 2xx.
    Put {
        /// The app name, `org#app`.
        app: String,
        /// The rule name (1..64 characters of a-z A-Z 0-9 _ -).
        name: String,
        /// The http or https URL that receives the callbacks.
        #[arg(long)]
        url: String,
        /// Secret for the signatures; required for a new rule, and left as it is when a replaced rule gets
        /// none.
        #[arg(long, env = "PUSHGATE_CALLBACK_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Only outcomes of these statuses (repeat or separate with commas). Default: all.
        #[arg(
            long = "status",
            value_enum,
            value_delimiter = ',',
            value_name = "STATUS"
        )]
        statuses: Vec<StatusArg>,
        /// Keep the rule but send nothing for now.
        #[arg(long)]
        disabled: bool,
    },
    /// List an app's callback rules (secrets are never shown).
    List {
        /// The app name, `org#app`.
        app: String,
    },
    /// Delete a callback rule.
    Delete {
        /// The app name, `org#app`.
        app: String,
        /// The rule name.
        name: String,
    },
}

/// `--status` of a callback rule.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusArg {
    /// Delivered to the vendor or the device.
    Success,
    /// Refused (one of the failure reasons).
    Fail,
    /// Not known to have arrived (a timeout, a connection error).
    Error,
}

impl From<StatusArg> for DeliveryStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Success => DeliveryStatus::Success,
            StatusArg::Fail => DeliveryStatus::Fail,
            StatusArg::Error => DeliveryStatus::Error,
        }
    }
}

/// Runs an app subcommand with the admin token.
pub async fn run(args: ClientArgs, command: AppCommand) -> Result<()> {
    let session = args.session(Auth::Admin).await?;
    let mut client = AppServiceClient::new(session.channel());
    match command {
        AppCommand::Create { name, time_zone } => {
            let r =
                answer(client.create_app(session.request(CreateAppRequest { name, time_zone })?))
                    .await?;
            session.print(&r, created_text)?;
        }
        AppCommand::Get { name } => {
            let r = answer(client.get_app(session.request(GetAppRequest { name })?)).await?;
            session.print(&r, |r| r.app.as_ref().map(app_text).unwrap_or_default())?;
        }
        AppCommand::List => {
            let apps = all_pages(async |page_token| {
                let page = answer(client.list_apps(session.request(ListAppsRequest {
                    page_size: 100,
                    page_token,
                })?))
                .await?;
                Ok((page.apps, page.next_page_token))
            })
            .await?;
            let r = ListAppsResponse {
                apps,
                next_page_token: String::new(),
            };
            session.print(&r, |r| apps_table(&r.apps))?;
        }
        AppCommand::Delete { name } => {
            let request = DeleteAppRequest { name: name.clone() };
            let r = answer(client.delete_app(session.request(request)?)).await?;
            session.print(&r, |r| {
                format!("deleted app {name} ({} records)\n", r.removed_records)
            })?;
        }
        AppCommand::RotateSecret { name } => {
            let r =
                answer(client.rotate_app_secret(session.request(RotateAppSecretRequest { name })?))
                    .await?;
            session.print(&r, |r| {
                format!(
                    "client_secret: {}\n(the secret is shown only now; older tokens no longer work)\n",
                    r.client_secret
                )
            })?;
        }
        AppCommand::CallbackRule(RuleCommand::Put {
            app,
            name,
            url,
            secret,
            statuses,
            disabled,
        }) => {
            let rule = CallbackRule {
                name,
                url,
                secret: secret.unwrap_or_default(),
                enabled: !disabled,
                statuses: statuses
                    .into_iter()
                    .map(|s| DeliveryStatus::from(s) as i32)
                    .collect(),
                ..Default::default()
            };
            let request = PutCallbackRuleRequest {
                app,
                rule: Some(rule),
            };
            let r = answer(client.put_callback_rule(session.request(request)?)).await?;
            session.print(&r, |r| {
                let verb = if r.created { "created" } else { "replaced" };
                let rules: Vec<CallbackRule> = r.rule.iter().cloned().collect();
                format!("{verb} the callback rule\n{}", rules_table(&rules))
            })?;
        }
        AppCommand::CallbackRule(RuleCommand::List { app }) => {
            let r = answer(
                client.list_callback_rules(session.request(ListCallbackRulesRequest { app })?),
            )
            .await?;
            session.print(&r, |r| rules_table(&r.rules))?;
        }
        AppCommand::CallbackRule(RuleCommand::Delete { app, name }) => {
            let request = DeleteCallbackRuleRequest {
                app: app.clone(),
                name: name.clone(),
            };
            let r = answer(client.delete_callback_rule(session.request(request)?)).await?;
            session.print(&r, |_| format!("deleted callback rule {name} of {app}\n"))?;
        }
    }
    Ok(())
}

/// An app in detail.
pub fn app_text(app: &App) -> String {
    key_values(&[
        ("app", app.name.clone()),
        ("client_id", app.client_id.clone()),
        ("time zone", app.time_zone.clone()),
        (
            "created",
            timestamp(app.create_time.as_ref()).unwrap_or_default(),
        ),
        (
            "secret set",
            timestamp(app.secret_time.as_ref()).unwrap_or_default(),
        ),
    ])
}

/// A new app with its secret, which the server never shows again.
fn created_text(r: &CreateAppResponse) -> String {
    let app = r.app.clone().unwrap_or_default();
    key_values(&[
        ("app", app.name),
        ("client_id", app.client_id),
        ("client_secret", r.client_secret.clone()),
    ]) + "(the secret is shown only now)\n"
}

/// Apps as one row each.
pub fn apps_table(apps: &[App]) -> String {
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("CLIENT ID", Align::Left),
        ("TIME ZONE", Align::Left),
        ("CREATED", Align::Left),
    ]);
    for app in apps {
        table.row([
            app.name.clone(),
            app.client_id.clone(),
            app.time_zone.clone(),
            timestamp(app.create_time.as_ref()).unwrap_or_default(),
        ]);
    }
    table.render()
}

/// Callback rules as one row each.
pub fn rules_table(rules: &[CallbackRule]) -> String {
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("URL", Align::Left),
        ("ENABLED", Align::Left),
        ("STATUSES", Align::Left),
        ("SECRET", Align::Left),
        ("PAUSED UNTIL", Align::Left),
        ("UPDATED", Align::Left),
    ]);
    for rule in rules {
        let statuses = match rule.statuses.as_slice() {
            [] => "all".to_owned(),
            some => some
                .iter()
                .map(|s| status_name(*s))
                .collect::<Vec<_>>()
                .join(","),
        };
        table.row([
            rule.name.clone(),
            rule.url.clone(),
            if rule.enabled { "yes" } else { "no" }.to_owned(),
            statuses,
            if rule.has_secret { "set" } else { "none" }.to_owned(),
            or_dash(&timestamp(rule.paused_until.as_ref()).unwrap_or_default()),
            timestamp(rule.update_time.as_ref()).unwrap_or_default(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    #[test]
    fn apps_list_as_a_table() {
        let app = App {
            name: "acme#chat".into(),
            client_id: "pgc.1".into(),
            time_zone: "UTC".into(),
            create_time: ts(1_700_000_000),
            ..Default::default()
        };
        assert_eq!(
            apps_table(&[app]),
            "NAME       CLIENT ID  TIME ZONE  CREATED\n\
             acme#chat  pgc.1      UTC        2023-11-14T22:13:20Z\n"
        );
    }

    #[test]
    fn rules_show_their_filter_secret_and_pause() {
        let rules = [
            CallbackRule {
                name: "all".into(),
                url: "https://h/cb".into(),
                enabled: true,
                has_secret: true,
                update_time: ts(1_700_000_000),
                ..Default::default()
            },
            CallbackRule {
                name: "fails".into(),
                url: "http://h/f".into(),
                statuses: vec![DeliveryStatus::Fail as i32, DeliveryStatus::Error as i32],
                paused_until: ts(1_700_000_600),
                update_time: ts(1_700_000_000),
                ..Default::default()
            },
        ];
        assert_eq!(
            rules_table(&rules),
            "NAME   URL           ENABLED  STATUSES    SECRET  PAUSED UNTIL          UPDATED\n\
             all    https://h/cb  yes      all         set     -                     2023-11-14T22:13:20Z\n\
             fails  http://h/f    no       fail,error  none    2023-11-14T22:23:20Z  2023-11-14T22:13:20Z\n"
        );
    }

    #[test]
    fn a_new_app_shows_its_secret_once() {
        let text = created_text(&CreateAppResponse {
            app: Some(App {
                name: "a#b".into(),
                client_id: "pgc.9".into(),
                ..Default::default()
            }),
            client_secret: "pgs_x".into(),
        });
        assert_eq!(
            text,
            "app:           a#b\n\
             client_id:     pgc.9\n\
             client_secret: pgs_x\n\
             (the secret is shown only now)\n"
        );
    }
}
