//! `pushgate notifier`: the credentials and settings with which pushgate speaks to a vendor for an app
//! (NotifierService, with an app token). Secrets go in and never come out.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Subcommand, ValueEnum};
use pushgate::{
    notifier::credentials::{field_of, vendor_of},
    proto::v1::{
        CreateNotifierRequest, DeleteNotifierRequest, GetNotifierRequest, ListNotifiersRequest,
        ListNotifiersResponse, Notifier, NotifierState, UpdateNotifierRequest, Vendor,
        notifier_service_client::NotifierServiceClient,
    },
};
use serde_json::Value;

use super::{
    client::{Auth, ClientArgs, all_pages, answer},
    input::read_text,
    output::{Align, Table, key_values, name_of, or_dash, timestamp, vendor_name},
    protojson,
};

/// The notifier subcommands.
#[derive(Subcommand, Debug)]
pub enum NotifierCommand {
    /// Create notifiers from a JSON file of CreateNotifier request bodies; prints each as it is created.
    ///
    /// The file holds one body, `{"notifier": {"name": ..., "<vendor>": {credentials}}}`, or an array of
    /// them, in protobuf JSON (see proto/pushgate/v1/notifier.proto). `pushgate sandbox` writes such a file,
    /// notifiers.json, for its fake vendors. With several bodies, those before a refused one stay created.
    Create {
        /// The JSON file (`-` reads standard input).
        #[arg(long, value_name = "FILE")]
        from_json: PathBuf,
    },
    /// Print one notifier: its settings and what can be seen of its credentials.
    Get {
        /// The notifier name.
        name: String,
    },
    /// List the app's notifiers.
    List {
        /// Only notifiers of this vendor.
        #[arg(long, value_enum)]
        vendor: Option<VendorArg>,
    },
    /// Change a notifier's state, settings or credentials; only the fields given change.
    #[command(group(ArgGroup::new("change").required(true).multiple(true)))]
    Update {
        /// The notifier name.
        name: String,
        /// Switch pushes through it on or off (a banned notifier is switched back on with `enabled`).
        #[arg(long, value_enum, group = "change")]
        state: Option<StateArg>,
        /// Free text for people.
        #[arg(long, group = "change")]
        description: Option<String>,
        /// Replace the vendor's send endpoint (scheme, host, port, path prefix); empty restores the vendor's.
        #[arg(long, value_name = "URL", group = "change")]
        send_base_url: Option<String>,
        /// Replace the vendor's token endpoint; empty restores the vendor's.
        #[arg(long, value_name = "URL", group = "change")]
        token_base_url: Option<String>,
        /// A PEM file of extra CA certificates trusted for this notifier's endpoints.
        #[arg(long, value_name = "FILE", group = "change")]
        extra_ca_file: Option<PathBuf>,
        /// Most requests per second to the vendor (0 = the vendor's default).
        #[arg(long, group = "change")]
        qps_limit: Option<u32>,
        /// Android notification channel for messages that name none.
        #[arg(long, group = "change")]
        default_channel_id: Option<String>,
        /// What a tap opens when a message says nothing (intent action or activity; APNs category).
        #[arg(long, group = "change")]
        default_click_action: Option<String>,
        /// A JSON file with new credentials of the notifier's vendor, as a Notifier object holding just
        /// them (`{"huawei": {"appId": ..., "clientSecret": ...}}`); a secret left out keeps its stored value.
        #[arg(long, value_name = "FILE", group = "change")]
        credentials: Option<PathBuf>,
    },
    /// Delete a notifier; bindings that name it stay, and pushes to them fail with `no notifier exist`.
    Delete {
        /// The notifier name.
        name: String,
    },
}

/// `--vendor` of `notifier list`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorArg {
    /// Apple Push Notification service.
    Apns,
    /// Firebase Cloud Messaging.
    Fcm,
    /// Huawei Push Kit.
    Huawei,
    /// Honor Push.
    Honor,
    /// Xiaomi MiPush.
    Xiaomi,
    /// OPPO Push.
    Oppo,
    /// vivo Push.
    Vivo,
    /// Meizu Flyme Push.
    Meizu,
}

impl From<VendorArg> for Vendor {
    fn from(v: VendorArg) -> Self {
        match v {
            VendorArg::Apns => Vendor::Apns,
            VendorArg::Fcm => Vendor::Fcm,
            VendorArg::Huawei => Vendor::Huawei,
            VendorArg::Honor => Vendor::Honor,
            VendorArg::Xiaomi => Vendor::Xiaomi,
            VendorArg::Oppo => Vendor::Oppo,
            VendorArg::Vivo => Vendor::Vivo,
            VendorArg::Meizu => Vendor::Meizu,
        }
    }
}

/// `--state` of `notifier update`: the states a caller may set.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateArg {
    /// Pushes go through the notifier.
    Enabled,
    /// Pushes to its bindings fail with `notifier disabled`.
    Disabled,
}

/// Reads `--from-json`: one CreateNotifier body or an array of them.
pub fn create_requests(path: &Path) -> Result<Vec<CreateNotifierRequest>> {
    let text = read_text(path)?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let bodies = match &value {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    if bodies.is_empty() {
        bail!("{} holds no CreateNotifier body", path.display());
    }
    let count = bodies.len();
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            protojson::from_value(body)
                .with_context(|| format!("{}: body {} of {count}", path.display(), i + 1))
        })
        .collect()
}

/// The UpdateNotifier request for the flags of `notifier update`: each given flag sets its field and names
/// it in the mask, so that nothing else changes.
pub fn update_request(command: &NotifierCommand) -> Result<Option<UpdateNotifierRequest>> {
    let NotifierCommand::Update {
        name,
        state,
        description,
        send_base_url,
        token_base_url,
        extra_ca_file,
        qps_limit,
        default_channel_id,
        default_click_action,
        credentials,
    } = command
    else {
        return Ok(None);
    };
    let mut n = Notifier {
        name: name.clone(),
        ..Default::default()
    };
    let mut paths = Vec::new();
    let mut set = |path: &str, given: bool| {
        if given {
            paths.push(path.to_owned());
        }
    };
    if let Some(s) = state {
        n.state = match s {
            StateArg::Enabled => NotifierState::Enabled,
            StateArg::Disabled => NotifierState::Disabled,
        } as i32;
    }
    set("state", state.is_some());
    n.description = description.clone().unwrap_or_default();
    set("description", description.is_some());
    n.send_base_url = send_base_url.clone().unwrap_or_default();
    set("send_base_url", send_base_url.is_some());
    n.token_base_url = token_base_url.clone().unwrap_or_default();
    set("token_base_url", token_base_url.is_some());
    if let Some(path) = extra_ca_file {
        n.extra_ca_certificates_pem = read_text(path)?;
    }
    set("extra_ca_certificates_pem", extra_ca_file.is_some());
    n.qps_limit = qps_limit.unwrap_or_default();
    set("qps_limit", qps_limit.is_some());
    n.default_channel_id = default_channel_id.clone().unwrap_or_default();
    set("default_channel_id", default_channel_id.is_some());
    n.default_click_action = default_click_action.clone().unwrap_or_default();
    set("default_click_action", default_click_action.is_some());
    if let Some(path) = credentials {
        let given: Notifier = protojson::from_json(&read_text(path)?)
            .with_context(|| format!("cannot read the credentials in {}", path.display()))?;
        let Some(c) = given.credentials else {
            bail!(
                "{} sets no credentials: give one of apns, fcm, huawei, honor, xiaomi, oppo, vivo, meizu",
                path.display()
            );
        };
        set(field_of(vendor_of(&c)), true);
        n.credentials = Some(c);
    }
    Ok(Some(UpdateNotifierRequest {
        notifier: Some(n),
        update_mask: Some(prost_types::FieldMask { paths }),
    }))
}

/// Runs a notifier subcommand with an app token.
pub async fn run(args: ClientArgs, command: NotifierCommand) -> Result<()> {
    // Files are read before connecting, so that a bad one is reported as such even with no server up.
    let creates = match &command {
        NotifierCommand::Create { from_json } => create_requests(from_json)?,
        _ => Vec::new(),
    };
    let update = update_request(&command)?;
    let session = args.session(Auth::App).await?;
    let mut client = NotifierServiceClient::new(session.channel());
    match command {
        NotifierCommand::Create { .. } => {
            for request in creates {
                let name = request.notifier.as_ref().map(|n| n.name.clone());
                let r = answer(client.create_notifier(session.request(request)?))
                    .await
                    .with_context(|| format!("notifier {}", name.unwrap_or_default()))?;
                session.print(&r, |r| {
                    let n = r.notifier.clone().unwrap_or_default();
                    format!("created notifier {} ({})\n", n.name, vendor_name(n.vendor))
                })?;
            }
        }
        NotifierCommand::Get { name } => {
            let r =
                answer(client.get_notifier(session.request(GetNotifierRequest { name })?)).await?;
            session.print(&r, |r| {
                r.notifier.as_ref().map(notifier_text).unwrap_or_default()
            })?;
        }
        NotifierCommand::List { vendor } => {
            let vendor = vendor.map_or(Vendor::Unspecified, Vendor::from) as i32;
            let notifiers = all_pages(async |page_token| {
                let page =
                    answer(client.list_notifiers(session.request(ListNotifiersRequest {
                        page_size: 100,
                        page_token,
                        vendor,
                    })?))
                    .await?;
                Ok((page.notifiers, page.next_page_token))
            })
            .await?;
            let r = ListNotifiersResponse {
                notifiers,
                next_page_token: String::new(),
            };
            session.print(&r, |r| notifiers_table(&r.notifiers))?;
        }
        NotifierCommand::Update { .. } => {
            let Some(request) = update else {
                bail!("no update request was built")
            };
            let r = answer(client.update_notifier(session.request(request)?)).await?;
            session.print(&r, |r| {
                r.notifier.as_ref().map(notifier_text).unwrap_or_default()
            })?;
        }
        NotifierCommand::Delete { name } => {
            let request = DeleteNotifierRequest { name: name.clone() };
            let r = answer(client.delete_notifier(session.request(request)?)).await?;
            session.print(&r, |_| format!("deleted notifier {name}\n"))?;
        }
    }
    Ok(())
}

/// A notifier state for people.
pub fn notifier_state_name(state: i32) -> String {
    name_of(state, |s| match s {
        NotifierState::Unspecified => "unspecified",
        NotifierState::Enabled => "enabled",
        NotifierState::Disabled => "disabled",
        NotifierState::Banned => "banned",
    })
}

/// Notifiers as one row each.
pub fn notifiers_table(notifiers: &[Notifier]) -> String {
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("VENDOR", Align::Left),
        ("STATE", Align::Left),
        ("DESCRIPTION", Align::Left),
        ("UPDATED", Align::Left),
    ]);
    for n in notifiers {
        table.row([
            n.name.clone(),
            vendor_name(n.vendor),
            notifier_state_name(n.state),
            or_dash(&n.description),
            timestamp(n.update_time.as_ref()).unwrap_or_default(),
        ]);
    }
    table.render()
}

/// A notifier in detail: its settings, the non-secret fields of its credentials, and the summary of its
/// secrets.
pub fn notifier_text(n: &Notifier) -> String {
    let mut state = notifier_state_name(n.state);
    if !n.state_reason.is_empty() {
        state.push_str(&format!(" ({})", n.state_reason));
    }
    let mut pairs = vec![
        ("name", n.name.clone()),
        ("vendor", vendor_name(n.vendor)),
        ("state", state),
    ];
    let optional = [
        ("description", n.description.clone()),
        ("send base url", n.send_base_url.clone()),
        ("token base url", n.token_base_url.clone()),
        ("default channel", n.default_channel_id.clone()),
        ("default click", n.default_click_action.clone()),
        (
            "extra CAs",
            match n
                .extra_ca_certificates_pem
                .matches("BEGIN CERTIFICATE")
                .count()
            {
                0 => String::new(),
                count => format!("{count} certificate(s)"),
            },
        ),
        (
            "qps limit",
            match n.qps_limit {
                0 => String::new(),
                limit => limit.to_string(),
            },
        ),
        ("credentials", credential_fields(n)),
    ];
    pairs.extend(optional.into_iter().filter(|(_, v)| !v.is_empty()));
    if let Some(s) = &n.credential_summary {
        pairs.push(("fingerprint", s.fingerprint.clone()));
        let times = [
            ("secrets set", &s.secret_update_time),
            ("cert expires", &s.certificate_expire_time),
        ];
        for (key, time) in times {
            if let Some(text) = timestamp(time.as_ref()) {
                pairs.push((key, text));
            }
        }
        if !s.certificate_subject.is_empty() {
            pairs.push(("cert subject", s.certificate_subject.clone()));
        }
    }
    for (key, time) in [("created", &n.create_time), ("updated", &n.update_time)] {
        if let Some(text) = timestamp(time.as_ref()) {
            pairs.push((key, text));
        }
    }
    key_values(&pairs)
}

/// The credentials' fields that are set, as `path=value` words: the server clears the secrets, so what is
/// left (topic, environment, app ids, client email) is what tells one notifier from another. Read through
/// protobuf JSON so that every vendor's fields, nested ones included, come out without a list per vendor.
fn credential_fields(n: &Notifier) -> String {
    let Some(c) = &n.credentials else {
        return String::new();
    };
    let Ok(json) = protojson::to_json(n) else {
        return String::new();
    };
    let mut words = Vec::new();
    flatten("", &json[field_of(vendor_of(c))], &mut words);
    words.join(" ")
}

fn flatten(prefix: &str, value: &Value, words: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (key, value) in fields {
                let path = match prefix {
                    "" => key.clone(),
                    prefix => format!("{prefix}.{key}"),
                };
                flatten(&path, value, words);
            }
        }
        Value::String(s) if s.is_empty() => {}
        Value::String(s) => words.push(format!("{prefix}={s}")),
        Value::Bool(false) | Value::Null => {}
        Value::Number(n) if n.as_f64() == Some(0.0) => {}
        other => words.push(format!("{prefix}={other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushgate::proto::v1::{
        ApnsCredentials, ApnsEnvironment, ApnsTokenAuth, HuaweiCredentials,
        NotifierCredentialSummary, apns_credentials::Auth as ApnsAuth, notifier::Credentials,
    };

    fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn apns() -> Notifier {
        Notifier {
            name: "ios".into(),
            vendor: Vendor::Apns as i32,
            state: NotifierState::Banned as i32,
            state_reason: "403 InvalidProviderToken".into(),
            send_base_url: "https://127.0.0.1:8601".into(),
            extra_ca_certificates_pem: "-----BEGIN CERTIFICATE-----\n...".into(),
            credentials: Some(Credentials::Apns(ApnsCredentials {
                auth: Some(ApnsAuth::Token(ApnsTokenAuth {
                    private_key_pem: String::new(),
                    key_id: "KEY1234567".into(),
                    team_id: "TEAM123456".into(),
                })),
                environment: ApnsEnvironment::Sandbox as i32,
                topic: "com.example.app".into(),
                voip: false,
            })),
            credential_summary: Some(NotifierCredentialSummary {
                fingerprint: "ab12".into(),
                secret_update_time: ts(1_700_000_000),
                ..Default::default()
            }),
            create_time: ts(1_700_000_000),
            update_time: ts(1_700_000_060),
            ..Default::default()
        }
    }

    #[test]
    fn a_notifier_shows_its_settings_and_the_non_secret_credentials() {
        assert_eq!(
            notifier_text(&apns()),
            "name:          ios\n\
             vendor:        APNs\n\
             state:         banned (403 InvalidProviderToken)\n\
             send base url: https://127.0.0.1:8601\n\
             extra CAs:     1 certificate(s)\n\
             credentials:   environment=APNS_ENVIRONMENT_SANDBOX token.keyId=KEY1234567 \
             token.teamId=TEAM123456 topic=com.example.app\n\
             fingerprint:   ab12\n\
             secrets set:   2023-11-14T22:13:20Z\n\
             created:       2023-11-14T22:13:20Z\n\
             updated:       2023-11-14T22:14:20Z\n"
        );
    }

    #[test]
    fn notifiers_list_as_a_table() {
        assert_eq!(
            notifiers_table(&[apns()]),
            "NAME  VENDOR  STATE   DESCRIPTION  UPDATED\n\
             ios   APNs    banned  -            2023-11-14T22:14:20Z\n"
        );
    }

    fn update(args: &[&str]) -> Result<UpdateNotifierRequest> {
        let mut all = vec!["pushgate", "notifier", "update"];
        all.extend(args);
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(all).expect("parses");
        let crate::cli::Command::Notifier { command, .. } = cli.command else {
            panic!("not a notifier command")
        };
        update_request(&command).map(|r| r.expect("an update"))
    }

    #[test]
    fn update_names_exactly_the_given_fields_in_the_mask() {
        let r = update(&["hw", "--state", "disabled", "--qps-limit", "0"]).unwrap();
        let n = r.notifier.unwrap();
        assert_eq!(n.name, "hw");
        assert_eq!(n.state, NotifierState::Disabled as i32);
        assert_eq!(r.update_mask.unwrap().paths, ["state", "qps_limit"]);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.json");
        std::fs::write(
            &file,
            r#"{"huawei": {"appId": "1", "clientSecret": "new"}}"#,
        )
        .unwrap();
        let r = update(&[
            "hw",
            "--credentials",
            file.to_str().unwrap(),
            "--description",
            "",
        ])
        .unwrap();
        assert_eq!(r.update_mask.unwrap().paths, ["description", "huawei"]);
        assert_eq!(
            r.notifier.unwrap().credentials,
            Some(Credentials::Huawei(HuaweiCredentials {
                app_id: "1".into(),
                client_secret: "new".into(),
            }))
        );

        std::fs::write(&file, r#"{"description": "no credentials"}"#).unwrap();
        let err = update(&["hw", "--credentials", file.to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("sets no credentials"), "{err}");
    }

    #[test]
    fn create_reads_one_body_or_an_array_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("n.json");
        let one = r#"{"notifier": {"name": "hw", "huawei": {"appId": "1", "clientSecret": "s"}}}"#;
        std::fs::write(&file, one).unwrap();
        let r = create_requests(&file).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].notifier.as_ref().unwrap().name, "hw");

        std::fs::write(&file, format!("[{one}, {one}]")).unwrap();
        assert_eq!(create_requests(&file).unwrap().len(), 2);

        std::fs::write(
            &file,
            format!(r#"[{one}, {{"notifier": {{"nmae": "x"}}}}]"#),
        )
        .unwrap();
        let err = format!("{:#}", create_requests(&file).unwrap_err());
        assert!(err.contains("body 2 of 2"), "{err}");
        std::fs::write(&file, "[]").unwrap();
        assert!(create_requests(&file).is_err());
    }
}
