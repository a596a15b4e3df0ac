//! `pushgate task …` as a user types it: every task subcommand parses, and bad input is refused with a
//! message that names the problem.

use clap::error::ErrorKind;
use pushgate::proto::v1::{
    LabelMatch, PushMessage, Strategy, TaskKind, TaskState, create_broadcast_task_request,
    create_label_task_request, create_list_task_request,
};

use super::{parse, rejected};
use crate::cli::{
    Cli, Command,
    input::{self, MessageSource},
    output::Output,
    task::{self, CreateArgs, CreateTarget, MatchArg, StateArg, TaskCommand},
};

fn task(args: &[&str]) -> task::TaskArgs {
    match parse(args) {
        Ok(Cli {
            command: Command::Task(t),
        }) => t,
        Ok(other) => panic!("{args:?} parsed as {other:?}"),
        Err(e) => panic!("{args:?}: {e}"),
    }
}

fn create_target(args: &[&str]) -> CreateTarget {
    match task(args).command {
        TaskCommand::Create { target } => target,
        other => panic!("{other:?}"),
    }
}

fn create_args(target: &CreateTarget) -> &CreateArgs {
    match target {
        CreateTarget::Broadcast { create }
        | CreateTarget::Label { create, .. }
        | CreateTarget::List { create, .. } => create,
    }
}

#[test]
fn every_task_subcommand_has_help() {
    for args in [
        &["task", "--help"][..],
        &["task", "create", "--help"],
        &["task", "create", "broadcast", "--help"],
        &["task", "create", "label", "--help"],
        &["task", "create", "list", "--help"],
        &["task", "watch", "--help"],
        &["task", "cancel", "--help"],
        &["task", "get", "--help"],
        &["task", "list", "--help"],
        &["task", "stats", "--help"],
    ] {
        let err = parse(args).expect_err("help is an early exit");
        assert_eq!(err.kind(), ErrorKind::DisplayHelp, "{args:?}");
        let text = err.to_string();
        assert!(text.contains("--endpoint"), "{args:?}: {text}");
        assert!(text.contains("--token"), "{args:?}: {text}");
    }
}

#[test]
fn create_broadcast_takes_an_inline_message_and_every_option() {
    let t = task(&[
        "task",
        "--endpoint",
        "http://10.0.0.1:50051",
        "--token",
        "tok",
        "create",
        "broadcast",
        "--title",
        "Hello",
        "--content",
        "World",
        "--ext",
        "k1=v1",
        "--ext",
        "url=https://x/?a=b",
        "--strategy",
        "channel-first",
        "--start-time",
        "2030-01-02T03:04:05+08:00",
        "--request-id",
        "req-1",
        "--output",
        "json",
    ]);
    assert_eq!(t.client.endpoint, "http://10.0.0.1:50051");
    assert_eq!(t.client.token.as_deref(), Some("tok"));
    assert_eq!(t.client.output, Output::Json);
    let TaskCommand::Create {
        target: CreateTarget::Broadcast { create },
    } = t.command
    else {
        panic!("{:?}", t.command)
    };
    let r = task::broadcast_request(&create).unwrap();
    let Some(create_broadcast_task_request::MessageSource::Message(m)) = r.message_source else {
        panic!("{:?}", r.message_source)
    };
    assert_eq!(m.title, "Hello");
    assert_eq!(m.content, "World");
    assert_eq!(m.ext.len(), 2);
    assert_eq!(m.ext["url"], "https://x/?a=b");
    assert_eq!(r.strategy, Strategy::ChannelFirst as i32);
    // 2030-01-01T19:04:05Z
    assert_eq!(r.start_time.unwrap().seconds, 1_893_524_645);
    assert_eq!(r.request_id, "req-1");
}

#[test]
fn create_without_options_leaves_them_to_the_server() {
    let target = create_target(&["task", "create", "broadcast", "--content", "hi"]);
    let r = task::broadcast_request(create_args(&target)).unwrap();
    assert_eq!(r.strategy, Strategy::Unspecified as i32);
    assert_eq!(r.start_time, None);
    assert_eq!(r.request_id, "");
    assert_eq!(
        r.message_source,
        Some(create_broadcast_task_request::MessageSource::Message(
            PushMessage {
                content: "hi".into(),
                ..Default::default()
            }
        ))
    );
}

#[test]
fn a_stored_message_goes_by_id() {
    let target = create_target(&["task", "create", "broadcast", "--message-id", "m-9"]);
    let r = task::broadcast_request(create_args(&target)).unwrap();
    assert_eq!(
        r.message_source,
        Some(create_broadcast_task_request::MessageSource::MessageId(
            "m-9".into()
        ))
    );
}

#[test]
fn a_message_is_required_and_only_one_kind() {
    let err = rejected(&["task", "create", "broadcast"]);
    assert!(err.contains("required"), "{err}");
    for flag in ["--title", "--content", "--ext"] {
        let value = if flag == "--ext" { "a=b" } else { "x" };
        let err = rejected(&[
            "task",
            "create",
            "list",
            "--user",
            "u1",
            "--message-id",
            "m",
            flag,
            value,
        ]);
        assert!(err.contains("cannot be used with"), "{flag}: {err}");
    }
}

#[test]
fn strategies_are_easemob_numbers_or_names() {
    let expected = [
        Strategy::VendorFirst,
        Strategy::ChannelOnly,
        Strategy::VendorOnly,
        Strategy::ChannelFirst,
        Strategy::ChannelOnlineOnly,
    ];
    let names = [
        "vendor-first",
        "channel-only",
        "vendor-only",
        "channel-first",
        "channel-online-only",
    ];
    for (n, strategy) in expected.iter().enumerate() {
        for given in [n.to_string(), names[n].to_owned(), names[n].to_uppercase()] {
            let target = create_target(&[
                "task",
                "create",
                "broadcast",
                "--title",
                "t",
                "--strategy",
                &given,
            ]);
            assert_eq!(
                create_args(&target).message.strategy,
                Some(*strategy),
                "{given}"
            );
        }
    }
}

#[test]
fn unknown_strategies_are_refused_with_the_choices() {
    for bad in ["5", "-1", "fast", "vendor_first", ""] {
        // `=` so that clap does not take `-1` for a flag.
        let flag = format!("--strategy={bad}");
        let err = rejected(&["task", "create", "broadcast", "--title", "t", &flag]);
        assert!(err.contains("is not a strategy"), "{bad}: {err}");
        assert!(err.contains("0 vendor-first"), "{bad}: {err}");
    }
}

#[test]
fn ext_must_be_key_equals_value_once_per_key() {
    for bad in ["novalue", "=v"] {
        let err = rejected(&["task", "create", "broadcast", "--title", "t", "--ext", bad]);
        assert!(err.contains("is not KEY=VALUE"), "{bad}: {err}");
    }
    let target = create_target(&[
        "task",
        "create",
        "broadcast",
        "--title",
        "t",
        "--ext",
        "a=",
        "--ext",
        "a=2",
    ]);
    let err = task::broadcast_request(create_args(&target)).unwrap_err();
    assert_eq!(err.to_string(), "--ext `a` is given twice");
}

#[test]
fn start_time_must_be_rfc3339_with_an_offset() {
    for bad in [
        "tomorrow",
        "2030-01-02",
        "2030-01-02T03:04:05",
        "1700000000",
    ] {
        let err = rejected(&[
            "task",
            "create",
            "broadcast",
            "--title",
            "t",
            "--start-time",
            bad,
        ]);
        assert!(err.contains("is not an RFC 3339 time"), "{bad}: {err}");
    }
    let t = task::parse_start_time("2030-01-02T03:04:05.25Z").unwrap();
    assert_eq!((t.seconds, t.nanos), (1_893_553_445, 250_000_000));
}

#[test]
fn label_tasks_take_one_to_five_labels_and_a_match() {
    let target = create_target(&[
        "task", "create", "label", "--label", "vip", "--label", "beta", "--match", "all",
        "--title", "t",
    ]);
    let CreateTarget::Label {
        labels,
        label_match,
        create,
    } = &target
    else {
        panic!("{target:?}")
    };
    assert_eq!(*label_match, MatchArg::All);
    let r = task::label_request(labels, *label_match, create).unwrap();
    assert_eq!(r.labels, ["vip", "beta"]);
    assert_eq!(r.label_match, LabelMatch::All as i32);
    assert!(matches!(
        r.message_source,
        Some(create_label_task_request::MessageSource::Message(_))
    ));

    let target = create_target(&["task", "create", "label", "--label", "a", "--title", "t"]);
    let CreateTarget::Label { label_match, .. } = target else {
        panic!()
    };
    assert_eq!(label_match, MatchArg::Any);

    let err = rejected(&["task", "create", "label", "--title", "t"]);
    assert!(err.contains("--label"), "{err}");
    let err = rejected(&[
        "task", "create", "label", "--label", "a", "--match", "some", "--title", "t",
    ]);
    assert!(err.contains("invalid value 'some'"), "{err}");

    let six: Vec<String> = (1..=6).map(|i| format!("l{i}")).collect();
    let err = task::label_request(&six, MatchArg::Any, create_args(&target_of(&six))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--label is given 6 times; a label task takes 1..5 labels"
    );
    let dup = ["a".to_owned(), "b".to_owned(), "a".to_owned()];
    let err = task::label_request(&dup, MatchArg::Any, create_args(&target_of(&dup))).unwrap_err();
    assert_eq!(err.to_string(), "--label `a` is given twice");
}

fn target_of(labels: &[String]) -> CreateTarget {
    let mut args = vec!["task", "create", "label", "--title", "t"];
    for l in labels {
        args.extend(["--label", l]);
    }
    create_target(&args)
}

#[test]
fn list_tasks_take_users_and_a_users_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.txt");
    std::fs::write(&file, "u3\r\n\n  u4  \n").unwrap();
    let file_arg = file.to_str().unwrap();
    let target = create_target(&[
        "task",
        "create",
        "list",
        "--user",
        "u1",
        "--user",
        "u2",
        "--users-file",
        file_arg,
        "--content",
        "c",
        "--strategy",
        "1",
    ]);
    let CreateTarget::List { receivers, create } = &target else {
        panic!("{target:?}")
    };
    let r = task::list_request(receivers, create).unwrap();
    assert_eq!(r.users, ["u1", "u2", "u3", "u4"]);
    assert_eq!(r.strategy, Strategy::ChannelOnly as i32);
    assert!(matches!(
        r.message_source,
        Some(create_list_task_request::MessageSource::Message(_))
    ));

    let target = create_target(&[
        "task",
        "create",
        "list",
        "--users-file",
        file_arg,
        "--title",
        "t",
    ]);
    let CreateTarget::List { receivers, create } = &target else {
        panic!()
    };
    assert_eq!(
        task::list_request(receivers, create).unwrap().users,
        ["u3", "u4"]
    );
}

#[test]
fn list_tasks_need_someone_to_push_to() {
    let err = rejected(&["task", "create", "list", "--title", "t"]);
    assert!(err.contains("--user"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "\n \n").unwrap();
    let missing = dir.path().join("missing.txt");
    for (file, message) in [
        (&empty, "no users given"),
        (&missing, "cannot read the users file"),
    ] {
        let target = create_target(&[
            "task",
            "create",
            "list",
            "--users-file",
            file.to_str().unwrap(),
            "--title",
            "t",
        ]);
        let CreateTarget::List { receivers, create } = &target else {
            panic!()
        };
        let err = task::list_request(receivers, create).unwrap_err();
        assert!(err.to_string().contains(message), "{err:#}");
    }
}

#[test]
fn the_users_reader_keeps_one_trimmed_id_per_line() {
    let text = "alice\n\n  bob\t\r\ncarol\r\n   \n dave";
    assert_eq!(
        input::read_users(text.as_bytes()).unwrap(),
        ["alice", "bob", "carol", "dave"]
    );
    assert!(input::read_users(&b""[..]).unwrap().is_empty());
    // Not UTF-8: an error, not a garbled id.
    assert!(input::read_users(&b"ok\n\xff\xfe\n"[..]).is_err());
}

#[test]
fn get_cancel_stats_and_watch_take_an_id() {
    for (name, expect) in [("get", "t-1"), ("cancel", "t-1"), ("stats", "t-1")] {
        let t = task(&["task", name, "t-1", "--token", "x"]);
        let id = match t.command {
            TaskCommand::Get { id } | TaskCommand::Cancel { id } | TaskCommand::Stats { id } => id,
            other => panic!("{other:?}"),
        };
        assert_eq!(id, expect);
        let err = rejected(&["task", name]);
        assert!(err.contains("<ID>"), "{name}: {err}");
    }
    let t = task(&[
        "task",
        "watch",
        "t-2",
        "--interval-ms",
        "250",
        "--output",
        "json",
    ]);
    assert_eq!(t.client.output, Output::Json);
    let TaskCommand::Watch(w) = t.command else {
        panic!()
    };
    assert_eq!(
        (w.id.as_str(), w.interval_ms, w.idle),
        ("t-2", Some(250), 60)
    );
    let err = rejected(&["task", "watch", "t-2", "--interval-ms", "50"]);
    assert!(err.contains("50"), "{err}");
}

#[test]
fn list_filters_by_state_and_kind() {
    let t = task(&[
        "task",
        "list",
        "--state",
        "running,completed",
        "--state",
        "failed",
        "--kind",
        "label",
    ]);
    let TaskCommand::List { state, kind, limit } = t.command else {
        panic!()
    };
    assert_eq!(
        state,
        [StateArg::Running, StateArg::Completed, StateArg::Failed]
    );
    assert_eq!(TaskState::from(state[0]), TaskState::Running);
    assert_eq!(kind.map(TaskKind::from), Some(TaskKind::Label));
    assert_eq!(limit, 50);
    let err = rejected(&["task", "list", "--state", "done"]);
    assert!(err.contains("invalid value 'done'"), "{err}");
    assert!(err.contains("scheduled"), "{err}");
}

#[test]
fn output_is_human_or_json() {
    assert_eq!(task(&["task", "list"]).client.output, Output::Human);
    let err = rejected(&["task", "list", "--output", "xml"]);
    assert!(err.contains("invalid value 'xml'"), "{err}");
}

#[test]
fn message_source_of_inline_flags() {
    let target = create_target(&["task", "create", "broadcast", "--title", "t"]);
    assert_eq!(
        create_args(&target).message.source().unwrap(),
        MessageSource::Inline(Box::new(PushMessage {
            title: "t".into(),
            ..Default::default()
        }))
    );
}
