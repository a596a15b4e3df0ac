//! A task's fan-out as pages that replicas claim: the changes each step makes to the task's record.
//!
//! A replica cuts the next page (the users after the task's `checkpoint`, up to `page_users`) and claims it
//! in one change of the record, which moves the checkpoint past it; it pushes the page and records it with
//! a change that removes the claim and adds its counters, in the same atomic step as the page's events
//! (`TaskRepository::record_page`). A page whose holder is gone (its heartbeat stale, or it released the
//! page when it stopped) is taken over with a new epoch; the old holder's record names the old epoch and is
//! declined, so a paused replica that wakes up late writes nothing.
//!
//! Every claim is a change of the one task record, which both backends apply atomically (PostgreSQL under
//! the row's lock, sled by compare-and-swap): the pages are cut on demand, so there is no table of shards to
//! lock and skip, and the open pages are few (one per replica running the task). Each function here is
//! pure, as a `TaskChange` must be: it may run more than once when writes race.

use std::collections::BTreeMap;

use crate::{
    cluster::Holder,
    proto::v1::TaskState,
    store::{TaskPage, TaskRecord},
};

/// Where the next page starts: after `checkpoint`, or at the first user when the fan-out has not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Frontier {
    pub started: bool,
    pub checkpoint: String,
}

impl Frontier {
    /// The task's frontier now.
    pub fn of(t: &TaskRecord) -> Self {
        Self {
            started: t.started_fan_out,
            checkpoint: t.checkpoint.clone(),
        }
    }

    /// The user the next page starts after.
    pub fn after(&self) -> Option<&str> {
        self.started.then_some(self.checkpoint.as_str())
    }
}

fn running(t: &TaskRecord) -> bool {
    TaskState::try_from(t.state) == Ok(TaskState::Running)
}

/// The page `epoch` of `t` when `me` holds it.
pub(super) fn mine<'a>(t: &'a TaskRecord, epoch: u64, me: &Holder) -> Option<&'a TaskPage> {
    t.pages
        .iter()
        .find(|p| p.epoch == epoch && p.holder == me.id && p.holder_started_ms == me.started_ms)
}

/// Cuts the page of `users` users ending at `last` from `from` and claims it for `me`. Declines when the
/// task no longer runs or its frontier moved since `from` was read (another replica cut that page).
pub(super) fn cut(
    t: &TaskRecord,
    from: &Frontier,
    last: &str,
    users: u64,
    me: &Holder,
) -> Option<TaskRecord> {
    if !running(t) || t.fan_out_cut || Frontier::of(t) != *from {
        return None;
    }
    let mut next = t.clone();
    next.claims += 1;
    next.pages.push(TaskPage {
        after: from.checkpoint.clone(),
        from_start: !from.started,
        last: last.to_owned(),
        users,
        holder: me.id.clone(),
        holder_started_ms: me.started_ms,
        epoch: next.claims,
    });
    next.checkpoint = last.to_owned();
    next.started_fan_out = true;
    Some(next)
}

/// Notes that no user follows `from`: nothing more is cut, and the task completes at `now_ms` when no page is
/// open. Declines as [`cut`] does.
pub(super) fn cut_to_the_end(t: &TaskRecord, from: &Frontier, now_ms: i64) -> Option<TaskRecord> {
    if !running(t) || t.fan_out_cut || Frontier::of(t) != *from {
        return None;
    }
    let mut next = t.clone();
    next.fan_out_cut = true;
    complete_when_done(&mut next, now_ms);
    Some(next)
}

/// Claims for `me` the page `epoch`, still held by `from` (who is gone), with the next epoch. Declines when
/// the task no longer runs or the page was recorded or claimed by someone else meanwhile.
pub(super) fn take_over(
    t: &TaskRecord,
    epoch: u64,
    from: &TaskPage,
    me: &Holder,
) -> Option<TaskRecord> {
    if !running(t) {
        return None;
    }
    let at = t.pages.iter().position(|p| {
        p.epoch == epoch && p.holder == from.holder && p.holder_started_ms == from.holder_started_ms
    })?;
    let mut next = t.clone();
    next.claims += 1;
    let page = &mut next.pages[at];
    page.holder = me.id.clone();
    page.holder_started_ms = me.started_ms;
    page.epoch = next.claims;
    Some(next)
}

/// Gives up `me`'s page `epoch` unrecorded, so that another replica takes it over at once instead of after
/// this one's lease.
pub(super) fn release(t: &TaskRecord, epoch: u64, me: &Holder) -> Option<TaskRecord> {
    mine(t, epoch, me)?;
    let mut next = t.clone();
    for page in next.pages.iter_mut().filter(|p| p.epoch == epoch) {
        page.holder.clear();
        page.holder_started_ms = 0;
    }
    Some(next)
}

/// What a pushed page adds to its task.
#[derive(Debug, Clone, Default)]
pub(super) struct PageDone {
    /// Users pushed.
    pub users: u64,
    /// Whether the task learns its total a page at a time (broadcast and label tasks).
    pub grows: bool,
    /// Device outcomes by `stats` key.
    pub counts: BTreeMap<String, u64>,
}

/// Records `me`'s page `epoch`: removes its claim and adds `done`; the task completes at `now_ms` when it
/// was the last. Declines when `me` no longer holds it (recorded already by an earlier try whose answer was
/// lost, or taken over). A cancelled task still counts a page that went out.
pub(super) fn record(
    t: &TaskRecord,
    epoch: u64,
    me: &Holder,
    done: &PageDone,
    now_ms: i64,
) -> Option<TaskRecord> {
    mine(t, epoch, me)?;
    let mut next = t.clone();
    next.pages.retain(|p| p.epoch != epoch);
    next.users_done += done.users;
    if done.grows {
        next.users_total += done.users;
    }
    for (k, v) in &done.counts {
        *next.counts.entry(k.clone()).or_default() += v;
    }
    next.update_ms = now_ms;
    complete_when_done(&mut next, now_ms);
    Some(next)
}

/// Completes a running task whose every page is cut and recorded.
fn complete_when_done(t: &mut TaskRecord, now_ms: i64) {
    if running(t) && t.fan_out_cut && t.pages.is_empty() {
        t.state = TaskState::Completed as i32;
        t.end_ms = now_ms;
        t.update_ms = now_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Holder {
        Holder {
            id: "a".into(),
            started_ms: 1,
        }
    }

    fn other() -> Holder {
        Holder {
            id: "b".into(),
            started_ms: 2,
        }
    }

    fn task() -> TaskRecord {
        TaskRecord {
            state: TaskState::Running as i32,
            ..Default::default()
        }
    }

    fn done(users: u64) -> PageDone {
        PageDone {
            users,
            grows: true,
            counts: BTreeMap::from([("s:1".to_owned(), users)]),
        }
    }

    #[test]
    fn pages_are_cut_in_turn_and_the_last_record_completes_the_task() {
        let t = task();
        let start = Frontier::of(&t);
        let t = cut(&t, &start, "u2", 2, &me()).unwrap();
        // A second cutter that read the same frontier is declined: it must read the next page.
        assert!(cut(&t, &start, "u2", 2, &other()).is_none());
        let second = Frontier::of(&t);
        assert_eq!(second.after(), Some("u2"));
        let t = cut(&t, &second, "u4", 2, &other()).unwrap();
        assert_eq!(t.pages.iter().map(|p| p.epoch).collect::<Vec<_>>(), [1, 2]);
        assert!(t.pages[0].from_start && !t.pages[1].from_start);
        let t = cut_to_the_end(&t, &Frontier::of(&t), 10).unwrap();
        assert_eq!(t.state, TaskState::Running as i32, "two pages are open");
        let t = record(&t, 2, &other(), &done(2), 11).unwrap();
        let t = record(&t, 1, &me(), &done(2), 12).unwrap();
        assert_eq!(t.state, TaskState::Completed as i32);
        assert_eq!((t.users_done, t.users_total, t.end_ms), (4, 4, 12));
        assert_eq!(t.counts["s:1"], 4);
    }

    #[test]
    fn a_page_is_recorded_once_and_only_by_its_holder() {
        let t = cut(&task(), &Frontier::of(&task()), "u1", 1, &me()).unwrap();
        assert!(
            record(&t, 1, &other(), &done(1), 5).is_none(),
            "not b's page"
        );
        let recorded = record(&t, 1, &me(), &done(1), 5).unwrap();
        assert!(
            record(&recorded, 1, &me(), &done(1), 6).is_none(),
            "an earlier try recorded it"
        );
    }

    #[test]
    fn a_page_taken_over_refuses_its_old_holder() {
        let t = cut(&task(), &Frontier::of(&task()), "u1", 1, &me()).unwrap();
        let page = t.pages[0].clone();
        let t = take_over(&t, 1, &page, &other()).unwrap();
        assert_eq!((t.pages[0].epoch, t.pages[0].holder.as_str()), (2, "b"));
        // The old holder wakes up late: its record and a second take-over of the old claim are declined.
        assert!(record(&t, 1, &me(), &done(1), 5).is_none());
        assert!(take_over(&t, 1, &page, &me()).is_none());
        // A restart of the same replica id is another holder.
        let restarted = Holder {
            id: "b".into(),
            started_ms: 3,
        };
        assert!(record(&t, 2, &restarted, &done(1), 5).is_none());
        assert!(record(&t, 2, &other(), &done(1), 5).is_some());
    }

    #[test]
    fn a_released_page_has_no_holder_and_nothing_runs_once_cancelled() {
        let t = cut(&task(), &Frontier::of(&task()), "u1", 1, &me()).unwrap();
        let released = release(&t, 1, &me()).unwrap();
        assert!(released.pages[0].holder.is_empty());
        assert!(release(&released, 1, &me()).is_none());
        let cancelled = TaskRecord {
            state: TaskState::Cancelled as i32,
            ..t.clone()
        };
        assert!(cut(&cancelled, &Frontier::of(&cancelled), "u2", 1, &me()).is_none());
        assert!(take_over(&cancelled, 1, &t.pages[0], &other()).is_none());
        // The page that went out before the cancel still counts.
        let counted = record(&cancelled, 1, &me(), &done(1), 5).unwrap();
        assert_eq!(
            (counted.users_done, counted.state),
            (1, TaskState::Cancelled as i32)
        );
    }
}
