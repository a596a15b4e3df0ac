//! A task's counters: device outcomes counted by status, channel, failure reason and vendor, kept as one map
//! in the task record so that they are written with the checkpoint they belong to.

use std::collections::BTreeMap;

use crate::{
    clock::timestamp,
    proto::v1::{
        ChannelStats, DeliveryChannel, DeliveryStatus, FailureReason, FailureReasonCount,
        StatusCount, TaskProgress, TaskState, TaskStats, Vendor, VendorStats,
    },
    push::DeviceOutcome,
    store::TaskRecord,
};

/// Counts `outcome` into `counts`.
pub fn count(counts: &mut BTreeMap<String, u64>, outcome: &DeviceOutcome) {
    let status = outcome.status as i32;
    let mut add = |key: String| *counts.entry(key).or_default() += 1;
    add(format!("s:{status}"));
    add(format!("c:{}:{status}", outcome.channel as i32));
    if let Some(f) = outcome.failure {
        add(format!("r:{}", f.proto() as i32));
    }
    if outcome.channel == DeliveryChannel::Vendor {
        add(format!("v:{}:{status}", outcome.vendor as i32));
    }
}

fn get(counts: &BTreeMap<String, u64>, key: &str) -> u64 {
    counts.get(key).copied().unwrap_or(0)
}

/// The progress of `task`.
pub fn progress(task: &TaskRecord) -> TaskProgress {
    TaskProgress {
        state: task.state,
        users_total: task.users_total,
        users_done: task.users_done,
        success_count: get(
            &task.counts,
            &format!("s:{}", DeliveryStatus::Success as i32),
        ),
        fail_count: get(&task.counts, &format!("s:{}", DeliveryStatus::Fail as i32)),
        error_count: get(&task.counts, &format!("s:{}", DeliveryStatus::Error as i32)),
        update_time: Some(timestamp(task.update_ms)),
    }
}

/// `progress` with no count below the one in `before`: a running task's counts only grow, but a read of its
/// page in flight can race the page's checkpoint and see the page in neither.
pub fn no_lower_than(progress: TaskProgress, before: &TaskProgress) -> TaskProgress {
    TaskProgress {
        users_total: progress.users_total.max(before.users_total),
        users_done: progress.users_done.max(before.users_done),
        success_count: progress.success_count.max(before.success_count),
        fail_count: progress.fail_count.max(before.fail_count),
        error_count: progress.error_count.max(before.error_count),
        ..progress
    }
}

/// The statistics of `task`; `acked` are the own channel's (delivered, clicked) counts.
pub fn stats(task: &TaskRecord, acked: (u64, u64)) -> TaskStats {
    let statuses = [
        DeliveryStatus::Success,
        DeliveryStatus::Fail,
        DeliveryStatus::Error,
    ];
    let by_status: Vec<StatusCount> = statuses
        .iter()
        .map(|s| StatusCount {
            status: *s as i32,
            count: get(&task.counts, &format!("s:{}", *s as i32)),
        })
        .filter(|c| c.count > 0)
        .collect();
    let triple = |prefix: String| -> [u64; 3] {
        statuses.map(|s| get(&task.counts, &format!("{prefix}:{}", s as i32)))
    };
    let by_delivery_channel = [
        DeliveryChannel::Vendor,
        DeliveryChannel::Own,
        DeliveryChannel::Unspecified,
    ]
    .iter()
    .map(|c| {
        let [success_count, fail_count, error_count] = triple(format!("c:{}", *c as i32));
        ChannelStats {
            delivery_channel: *c as i32,
            total: success_count + fail_count + error_count,
            success_count,
            fail_count,
            error_count,
        }
    })
    .filter(|c| c.total > 0)
    .collect();
    let by_vendor = (1..=8)
        .filter_map(|v| Vendor::try_from(v).ok())
        .map(|v| {
            let [success_count, fail_count, error_count] = triple(format!("v:{}", v as i32));
            VendorStats {
                vendor: v as i32,
                total: success_count + fail_count + error_count,
                success_count,
                fail_count,
                error_count,
            }
        })
        .filter(|v| v.total > 0)
        .collect();
    let by_failure_reason = (1..=16)
        .filter_map(|r| FailureReason::try_from(r).ok())
        .map(|r| FailureReasonCount {
            reason: r as i32,
            count: get(&task.counts, &format!("r:{}", r as i32)),
        })
        .filter(|r| r.count > 0)
        .collect();
    TaskStats {
        task_id: task.id.clone(),
        state: task.state,
        total: by_status.iter().map(|s| s.count).sum(),
        by_delivery_channel,
        by_status,
        by_failure_reason,
        by_vendor,
        delivered_count: acked.0,
        clicked_count: acked.1,
        update_time: Some(timestamp(task.update_ms)),
    }
}

/// Whether `state` is final.
pub fn ended(state: i32) -> bool {
    matches!(
        TaskState::try_from(state),
        Ok(TaskState::Completed | TaskState::Cancelled | TaskState::Failed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::Failure;

    fn outcome(status: DeliveryStatus, channel: DeliveryChannel, vendor: Vendor) -> DeviceOutcome {
        let mut o = DeviceOutcome::failed("d", Failure::PushYetButFail, "").with_status(status);
        if status == DeliveryStatus::Success {
            o.failure = None;
        }
        o.channel = channel;
        o.vendor = vendor;
        o
    }

    #[test]
    fn counts_add_up_in_every_breakdown() {
        let mut task = TaskRecord::default();
        let all = [
            outcome(
                DeliveryStatus::Success,
                DeliveryChannel::Vendor,
                Vendor::Apns,
            ),
            outcome(
                DeliveryStatus::Success,
                DeliveryChannel::Own,
                Vendor::Unspecified,
            ),
            outcome(DeliveryStatus::Fail, DeliveryChannel::Vendor, Vendor::Fcm),
            outcome(DeliveryStatus::Error, DeliveryChannel::Vendor, Vendor::Fcm),
            DeviceOutcome::failed("", Failure::NoPushBinding, ""),
        ];
        for o in &all {
            count(&mut task.counts, o);
        }
        let p = progress(&task);
        assert_eq!((p.success_count, p.fail_count, p.error_count), (2, 2, 1));
        let s = stats(&task, (1, 0));
        assert_eq!(s.total, 5);
        assert_eq!(
            s.by_delivery_channel.iter().map(|c| c.total).sum::<u64>(),
            5
        );
        assert_eq!(s.by_vendor.iter().map(|v| v.total).sum::<u64>(), 3);
        let fcm = s
            .by_vendor
            .iter()
            .find(|v| v.vendor == Vendor::Fcm as i32)
            .unwrap();
        assert_eq!((fcm.total, fcm.fail_count, fcm.error_count), (2, 1, 1));
        let reasons: Vec<(i32, u64)> = s
            .by_failure_reason
            .iter()
            .map(|r| (r.reason, r.count))
            .collect();
        assert_eq!(
            reasons,
            [
                (FailureReason::NoPushBinding as i32, 1),
                (FailureReason::PushYetButFail as i32, 2)
            ]
        );
        assert_eq!(s.delivered_count, 1);
    }
}
