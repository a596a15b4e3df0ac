//! The command line as a user types it: every command parses, and bad input is refused with a message that
//! names the problem. The task group, which has the most to check, is in `task.rs`; here are the helpers and
//! what holds for the whole command line.

mod task;

use clap::{CommandFactory, Parser};

use super::{Cli, Command};

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("pushgate").chain(args.iter().copied()))
}

fn rejected(args: &[&str]) -> String {
    match parse(args) {
        Ok(cli) => panic!("{args:?} was accepted as {cli:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_command_line_is_well_formed() {
    Cli::command().debug_assert();
}

#[test]
fn the_existing_commands_still_parse() {
    assert!(matches!(
        parse(&["app", "create", "acme#shop", "--endpoint", "http://h:1"])
            .unwrap()
            .command,
        Command::App { .. }
    ));
    assert!(matches!(
        parse(&["token", "issue", "--client-id", "a", "--client-secret", "b"])
            .unwrap()
            .command,
        Command::Token { .. }
    ));
    assert!(matches!(
        parse(&["serve", "--sandbox"]).unwrap().command,
        Command::Serve { sandbox: true, .. }
    ));
}

#[test]
fn the_sandbox_help_names_all_eight_vendors() {
    let help = Cli::command()
        .find_subcommand_mut("sandbox")
        .unwrap()
        .render_help()
        .to_string();
    for vendor in [
        "APNs", "FCM", "Huawei", "Honor", "Xiaomi", "OPPO", "vivo", "Meizu",
    ] {
        assert!(help.contains(vendor), "{vendor}: {help}");
    }
}

/// Every command, subcommand and flag says what it is for: `--help` is the CLI's manual.
#[test]
fn every_command_and_argument_has_help_text() {
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        let path = format!("{path} {}", command.get_name());
        if command.get_about().is_none() && path != " pushgate" {
            missing.push(format!("{path}: no about"));
        }
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.get_help().is_none() && !["help", "version"].contains(&id) {
                missing.push(format!("{path}: argument {id} has no help"));
            }
        }
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, &path, missing);
        }
    }
    let mut missing = Vec::new();
    walk(&Cli::command(), "", &mut missing);
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn the_admin_groups_parse_their_subcommands() {
    for args in [
        &["send", "--user", "u", "--title", "t"][..],
        &["app", "get", "a#b"],
        &["app", "rule", "list", "a#b"],
        &["app", "callback-rule", "delete", "a#b", "r"],
        &["token", "user", "alice", "--ttl", "60"],
        &["notifier", "create", "--from-json", "-"],
        &["notifier", "list", "--vendor", "huawei"],
        &["notifier", "update", "n", "--state", "enabled"],
        &[
            "device",
            "bind",
            "u",
            "d",
            "--notifier",
            "n",
            "--device-token",
            "t",
        ],
        &["device", "unbind", "u", "d"],
        &["label", "add-users", "vip", "--users-file", "-"],
        &["label", "users", "vip", "--output", "json"],
    ] {
        if let Err(e) = parse(args) {
            panic!("{args:?}: {e}");
        }
    }
    for (args, expected) in [
        (&["notifier", "update", "n"][..], "required"),
        (
            &["notifier", "update", "n", "--state", "banned"],
            "invalid value 'banned'",
        ),
        (
            &["device", "bind", "u", "d", "--notifier", "n"],
            "--device-token",
        ),
        (&["label", "add-users", "vip"], "--user"),
        (
            &[
                "label",
                "add-users",
                "vip",
                "--user",
                "a",
                "--per-call",
                "0",
            ],
            "0",
        ),
        (&["app", "rule", "put", "a#b", "r"], "--url"),
        (
            &[
                "app", "rule", "put", "a#b", "r", "--url", "u", "--status", "ok",
            ],
            "invalid value 'ok'",
        ),
    ] {
        let err = rejected(args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}
