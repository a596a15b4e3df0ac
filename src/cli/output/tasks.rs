//! What the task commands print for people: a task in detail, the task list, `task watch`'s summary and a
//! task's statistics.

use std::time::Duration;

use pushgate::proto::v1::{Task, TaskKind, TaskProgress, TaskStats};

use super::{
    Align, Table,
    enum_names::{
        channel_name, kind_name, label_match_name, reason_name, state_name, status_name,
        strategy_name, vendor_name,
    },
    human_duration, key_values, timestamp,
};

/// One task in detail, as `key: value` lines.
pub fn task_text(t: &Task) -> String {
    let mut pairs = vec![
        ("id", t.id.clone()),
        ("kind", kind_name(t.kind)),
        ("state", state_name(t.state)),
        ("strategy", strategy_name(t.strategy)),
        ("message id", t.message_id.clone()),
    ];
    if t.kind == TaskKind::Label as i32 {
        pairs.push((
            "labels",
            format!(
                "{} (match {})",
                t.labels.join(", "),
                label_match_name(t.label_match)
            ),
        ));
    }
    if t.kind == TaskKind::List as i32 {
        pairs.push(("list size", t.list_size.to_string()));
    }
    let times = [
        ("created", &t.create_time),
        ("start", &t.start_time),
        ("running since", &t.run_time),
        ("ended", &t.end_time),
    ];
    for (key, time) in times {
        if let Some(text) = timestamp(time.as_ref()) {
            pairs.push((key, text));
        }
    }
    if let Some(p) = &t.progress {
        pairs.push(("users", format!("{}/{}", p.users_done, p.users_total)));
        pairs.push((
            "pushes",
            format!(
                "{} success, {} fail, {} error",
                p.success_count, p.fail_count, p.error_count
            ),
        ));
    }
    if !t.error.is_empty() {
        pairs.push(("error", t.error.clone()));
    }
    key_values(&pairs)
}

/// Tasks as one table row each.
pub fn tasks_table(tasks: &[Task]) -> String {
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("KIND", Align::Left),
        ("STATE", Align::Left),
        ("USERS", Align::Right),
        ("SUCCESS", Align::Right),
        ("FAIL", Align::Right),
        ("ERROR", Align::Right),
        ("CREATED", Align::Left),
    ]);
    for t in tasks {
        let p = t.progress.unwrap_or_default();
        table.row([
            t.id.clone(),
            kind_name(t.kind),
            state_name(t.state),
            format!("{}/{}", p.users_done, p.users_total),
            p.success_count.to_string(),
            p.fail_count.to_string(),
            p.error_count.to_string(),
            timestamp(t.create_time.as_ref()).unwrap_or_default(),
        ]);
    }
    table.render()
}

/// The summary `task watch` prints when the stream ends: the final progress and how long the task ran.
pub fn summary_table(p: &TaskProgress, wall: Option<Duration>) -> String {
    let mut table = Table::new(&[
        ("STATE", Align::Left),
        ("USERS", Align::Right),
        ("SUCCESS", Align::Right),
        ("FAIL", Align::Right),
        ("ERROR", Align::Right),
        ("WALL TIME", Align::Right),
    ]);
    table.row([
        state_name(p.state),
        format!("{}/{}", p.users_done, p.users_total),
        p.success_count.to_string(),
        p.fail_count.to_string(),
        p.error_count.to_string(),
        wall.map_or_else(|| "-".to_owned(), human_duration),
    ]);
    table.render()
}

/// A task's statistics: a header line, then one table per breakdown.
pub fn stats_text(s: &TaskStats) -> String {
    let outcome_columns = |first: &'static str| {
        Table::new(&[
            (first, Align::Left),
            ("TOTAL", Align::Right),
            ("SUCCESS", Align::Right),
            ("FAIL", Align::Right),
            ("ERROR", Align::Right),
        ])
    };
    let mut by_channel = outcome_columns("CHANNEL");
    for c in &s.by_delivery_channel {
        by_channel.row([
            channel_name(c.delivery_channel),
            c.total.to_string(),
            c.success_count.to_string(),
            c.fail_count.to_string(),
            c.error_count.to_string(),
        ]);
    }
    let mut by_status = Table::new(&[("STATUS", Align::Left), ("COUNT", Align::Right)]);
    for c in &s.by_status {
        by_status.row([status_name(c.status), c.count.to_string()]);
    }
    let mut by_reason = Table::new(&[("REASON", Align::Left), ("COUNT", Align::Right)]);
    for c in &s.by_failure_reason {
        by_reason.row([reason_name(c.reason), c.count.to_string()]);
    }
    let mut by_vendor = outcome_columns("VENDOR");
    for v in &s.by_vendor {
        by_vendor.row([
            vendor_name(v.vendor),
            v.total.to_string(),
            v.success_count.to_string(),
            v.fail_count.to_string(),
            v.error_count.to_string(),
        ]);
    }
    let mut out = format!(
        "task {}: {}, {} pushes recorded, {} delivered and {} clicked over the own channel\n",
        s.task_id,
        state_name(s.state),
        s.total,
        s.delivered_count,
        s.clicked_count
    );
    let sections = [
        ("by channel", by_channel),
        ("by status", by_status),
        ("by failure reason", by_reason),
        ("by vendor", by_vendor),
    ];
    for (title, table) in sections {
        out.push_str(&format!("\n{title}:\n"));
        match table.is_empty() {
            true => out.push_str("(none)\n"),
            false => out.push_str(&table.render()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::protojson;
    use pushgate::proto::v1::{
        ChannelStats, DeliveryChannel, DeliveryStatus, FailureReason, FailureReasonCount,
        LabelMatch, StatusCount, Strategy, TaskState, Vendor, VendorStats,
    };
    use serde_json::json;

    fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn progress() -> TaskProgress {
        TaskProgress {
            state: TaskState::Completed as i32,
            users_total: 1200,
            users_done: 1200,
            success_count: 1100,
            fail_count: 97,
            error_count: 3,
            update_time: ts(1_700_000_000),
        }
    }

    fn stats() -> TaskStats {
        TaskStats {
            task_id: "t-1".into(),
            state: TaskState::Completed as i32,
            total: 1200,
            by_delivery_channel: vec![
                ChannelStats {
                    delivery_channel: DeliveryChannel::Vendor as i32,
                    total: 1150,
                    success_count: 1050,
                    fail_count: 97,
                    error_count: 3,
                },
                ChannelStats {
                    delivery_channel: DeliveryChannel::Own as i32,
                    total: 50,
                    success_count: 50,
                    fail_count: 0,
                    error_count: 0,
                },
            ],
            by_status: vec![
                StatusCount {
                    status: DeliveryStatus::Success as i32,
                    count: 1100,
                },
                StatusCount {
                    status: DeliveryStatus::Fail as i32,
                    count: 97,
                },
                StatusCount {
                    status: DeliveryStatus::Error as i32,
                    count: 3,
                },
            ],
            by_failure_reason: vec![
                FailureReasonCount {
                    reason: FailureReason::NoPushBinding as i32,
                    count: 90,
                },
                FailureReasonCount {
                    reason: FailureReason::PushYetButFail as i32,
                    count: 7,
                },
                FailureReasonCount {
                    reason: 99,
                    count: 3,
                },
            ],
            by_vendor: vec![VendorStats {
                vendor: Vendor::Apns as i32,
                total: 1150,
                success_count: 1050,
                fail_count: 97,
                error_count: 3,
            }],
            delivered_count: 48,
            clicked_count: 5,
            update_time: ts(1_700_000_000),
        }
    }

    #[test]
    fn the_watch_summary_is_one_aligned_row() {
        assert_eq!(
            summary_table(&progress(), Some(Duration::from_millis(12_345))),
            "STATE          USERS  SUCCESS  FAIL  ERROR  WALL TIME\n\
             completed  1200/1200     1100    97      3      12.3s\n"
        );
        assert!(summary_table(&progress(), None).ends_with("  -\n"));
    }

    #[test]
    fn stats_print_every_breakdown_as_a_table() {
        assert_eq!(
            stats_text(&stats()),
            "task t-1: completed, 1200 pushes recorded, 48 delivered and 5 clicked over the own channel\n\
             \n\
             by channel:\n\
             CHANNEL  TOTAL  SUCCESS  FAIL  ERROR\n\
             vendor    1150     1050    97      3\n\
             own         50       50     0      0\n\
             \n\
             by status:\n\
             STATUS   COUNT\n\
             success   1100\n\
             fail        97\n\
             error        3\n\
             \n\
             by failure reason:\n\
             REASON             COUNT\n\
             no push binding       90\n\
             push yet but fail      7\n\
             unknown(99)            3\n\
             \n\
             by vendor:\n\
             VENDOR  TOTAL  SUCCESS  FAIL  ERROR\n\
             APNs     1150     1050    97      3\n"
        );
    }

    #[test]
    fn empty_breakdowns_say_none() {
        let text = stats_text(&TaskStats {
            task_id: "t-2".into(),
            state: TaskState::Scheduled as i32,
            ..Default::default()
        });
        assert_eq!(text.matches("(none)\n").count(), 4, "{text}");
    }

    #[test]
    fn stats_json_uses_protobuf_names_and_numbers() {
        let r = pushgate::proto::v1::GetTaskStatsResponse {
            stats: Some(stats()),
        };
        let v = &protojson::to_json(&r).unwrap()["stats"];
        assert_eq!(v["taskId"], "t-1");
        assert_eq!(v["state"], "TASK_STATE_COMPLETED");
        assert_eq!(v["total"], 1200);
        assert_eq!(
            v["byDeliveryChannel"][0]["deliveryChannel"],
            "DELIVERY_CHANNEL_VENDOR"
        );
        assert_eq!(v["byStatus"][1]["status"], "DELIVERY_STATUS_FAIL");
        assert_eq!(
            v["byFailureReason"][0],
            json!({"reason": "FAILURE_REASON_NO_PUSH_BINDING", "count": 90})
        );
        // A reason this build does not know keeps its number.
        assert_eq!(v["byFailureReason"][2]["reason"], 99);
        assert_eq!(v["byVendor"][0]["vendor"], "VENDOR_APNS");
        assert_eq!(v["updateTime"], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn a_watch_item_is_one_flat_progress_object() {
        let item = pushgate::proto::v1::WatchTaskResponse {
            progress: Some(progress()),
        };
        assert_eq!(
            serde_json::to_string(&protojson::to_json(&item).unwrap()).unwrap(),
            r#"{"progress":{"errorCount":3,"failCount":97,"state":"TASK_STATE_COMPLETED","successCount":1100,"updateTime":"2023-11-14T22:13:20Z","usersDone":1200,"usersTotal":1200}}"#
        );
    }

    fn label_task() -> Task {
        Task {
            id: "t-3".into(),
            kind: TaskKind::Label as i32,
            state: TaskState::Running as i32,
            strategy: Strategy::ChannelFirst as i32,
            message_id: "m-1".into(),
            labels: vec!["vip".into(), "beta".into()],
            label_match: LabelMatch::All as i32,
            create_time: ts(1_700_000_000),
            start_time: ts(1_700_000_000),
            run_time: ts(1_700_000_060),
            progress: Some(TaskProgress {
                state: TaskState::Running as i32,
                users_total: 10,
                users_done: 4,
                success_count: 3,
                fail_count: 1,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_task_prints_as_aligned_lines() {
        assert_eq!(
            task_text(&label_task()),
            "id:            t-3\n\
             kind:          label\n\
             state:         running\n\
             strategy:      channel-first (Easemob 3)\n\
             message id:    m-1\n\
             labels:        vip, beta (match all)\n\
             created:       2023-11-14T22:13:20Z\n\
             start:         2023-11-14T22:13:20Z\n\
             running since: 2023-11-14T22:14:20Z\n\
             users:         4/10\n\
             pushes:        3 success, 1 fail, 0 error\n"
        );
    }

    #[test]
    fn a_task_as_json_leaves_unset_times_out() {
        let v = protojson::to_json(&label_task()).unwrap();
        assert_eq!(v["kind"], "TASK_KIND_LABEL");
        assert_eq!(v["strategy"], "STRATEGY_CHANNEL_FIRST");
        assert_eq!(v["labelMatch"], "LABEL_MATCH_ALL");
        assert_eq!(v["labels"], json!(["vip", "beta"]));
        assert!(v.get("endTime").is_none(), "{v}");
        assert_eq!(v["progress"]["usersDone"], 4);
    }

    #[test]
    fn the_task_list_is_a_table() {
        assert_eq!(
            tasks_table(&[label_task()]),
            "ID   KIND   STATE    USERS  SUCCESS  FAIL  ERROR  CREATED\n\
             t-3  label  running   4/10        3     1      0  2023-11-14T22:13:20Z\n"
        );
    }
}
