//! The send path for one user: plan (targets and the rules that decide before any delivery), then execute
//! (vendor lanes and the own channel, with the strategy's fallback).

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::future::join_all;
use opentelemetry::KeyValue;
use tracing::Instrument;

use super::events::{PushEvents, channel_name};
use super::{
    DeviceOutcome, Failure, PushConfig,
    reason::{classify, outcome_text},
    render::{self, Sender},
    route::{self, Plan, Target},
};
use crate::{
    callback::EventLog,
    channel::{Channel, ChannelError, ChannelPush},
    clock::now_ms,
    dispatch::{Dispatch, DispatchError, Outcome, Rendered},
    notifier::Notifiers,
    proto::v1::{
        DeliveryChannel, DeliveryStatus, Notifier, NotifierState, PushMessage, Strategy, Vendor,
    },
    settings::{
        dnd::{PushContext, conversation_of, held_back, is_mentioned},
        parse_time_zone,
    },
    store::{BindingRecord, Store, StoreError},
    telemetry::metrics::metrics,
};

/// A push to one user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPush {
    /// The app.
    pub app: String,
    /// The receiving user.
    pub user: String,
    /// The routing strategy.
    pub strategy: Strategy,
    /// The message as accepted (validated, not rendered); shared, since a task page sends one message to
    /// a thousand users.
    pub message: Arc<PushMessage>,
    /// Id of the push.
    pub message_id: String,
    /// When it was accepted, Unix milliseconds.
    pub accepted_ms: i64,
    /// The task that sends it; empty for PushService sends.
    pub task_id: String,
}

/// Why a push could not be planned at all (the store failed); per-device failures are outcomes instead.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The own channel failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

/// One target of a planned push and its outcome when planning already decided it.
#[derive(Debug, Clone)]
struct Slot {
    target: Option<Target>,
    decided: Option<DeviceOutcome>,
}

impl Slot {
    /// Whether a failure here may still be replaced by a delivery over the own channel (strategy 0).
    fn falls_back(&self) -> bool {
        self.target
            .as_ref()
            .is_some_and(|t| t.plan == (Plan::Vendor { fallback: true }))
    }

    /// Whether an outcome of `status` here is final as soon as it is known: a success always is (a fallback
    /// replaces only a device whose every vendor delivery failed), anything else unless it may still be
    /// replaced. The rest wait for the fallback's decision.
    fn final_at_once(&self, status: DeliveryStatus) -> bool {
        status == DeliveryStatus::Success || !self.falls_back()
    }
}

/// A user's push with its targets and the outcomes decided before any delivery.
#[derive(Debug)]
pub struct Planned {
    push: UserPush,
    /// Shared with the page's other plans that rendered the same (see `push_many`).
    rendered: Arc<PushMessage>,
    slots: Vec<Slot>,
}

impl Planned {
    /// How many outcomes the push has (one per target).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the push has no target (never: a user without devices gets one failure outcome).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The outcome of target `index` when its delivery has not finished by a deadline: an ERROR saying the
    /// push goes on in the background.
    pub fn unfinished(&self, index: usize) -> DeviceOutcome {
        let slot = &self.slots[index];
        let target = slot.target.as_ref();
        let mut outcome = DeviceOutcome::failed(
            target.map_or("", |t| t.device_id.as_str()),
            Failure::PushYetButFail,
            "deadline exceeded before the outcome was known; the push goes on in the background",
        )
        .with_status(DeliveryStatus::Error);
        if let Some(b) = target.and_then(|t| t.binding.as_ref()) {
            outcome = outcome.via(&b.notifier_name, vendor_of(b), &b.device_token);
        }
        outcome
    }
}

/// Outcomes as they become known, shared with a caller that may stop waiting (SendSync's deadline) or that
/// shows them while they come in (a task's watchers).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    slots: Arc<Mutex<Vec<Option<DeviceOutcome>>>>,
    /// Final outcomes so far by status (success, fail, error): an outcome counts once it can no longer be
    /// replaced (a failed vendor attempt of a device with a channel fallback is not final), so these only
    /// grow and end equal to the counts of the outcomes returned.
    settled: Arc<[AtomicU64; 3]>,
    /// For a page of many users: which user each slot belongs to and which slots are final, so that a task's
    /// watchers see users done within the page, not only a page at a time.
    page: Arc<Mutex<PageUsers>>,
}

/// The users of a page and how far each is.
#[derive(Debug, Default)]
struct PageUsers {
    /// How many users the page has.
    users: usize,
    /// The user (index in the page) of each slot, in slot order.
    owner: Vec<usize>,
    /// Whether each slot's outcome is final.
    done: Vec<bool>,
}

impl Progress {
    /// Room for `n` outcomes.
    pub fn new(n: usize) -> Self {
        let progress = Self::default();
        progress.resize(n);
        progress
    }

    /// Room for `n` outcomes, for a caller that made the progress before it knew how many.
    fn resize(&self, n: usize) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.resize(n, None);
        }
    }

    fn set(&self, index: usize, outcome: DeviceOutcome) {
        if let Ok(mut slots) = self.slots.lock()
            && let Some(slot) = slots.get_mut(index)
        {
            *slot = Some(outcome);
        }
    }

    /// Tells which of `users` users each slot belongs to (`owner`, in slot order), for
    /// [`users_final`](Self::users_final).
    fn set_users(&self, users: usize, owner: Vec<usize>) {
        if let Ok(mut page) = self.page.lock() {
            page.done = vec![false; owner.len()];
            page.users = users;
            page.owner = owner;
        }
    }

    /// Counts `outcome`, slot `index`'s, as final.
    fn settle(&self, index: usize, outcome: &DeviceOutcome) {
        self.settle_status(index, outcome.status);
    }

    /// Counts an outcome of `status`, slot `index`'s, as final.
    fn settle_status(&self, index: usize, status: DeliveryStatus) {
        let at = match status {
            DeliveryStatus::Success => 0,
            DeliveryStatus::Fail => 1,
            DeliveryStatus::Error => 2,
            _ => return,
        };
        self.settled[at].fetch_add(1, Ordering::Relaxed);
        self.finish(index);
    }

    /// Marks slot `index` final without counting it: a vendor attempt merged into its device's fallback.
    fn finish(&self, index: usize) {
        if let Ok(mut page) = self.page.lock()
            && let Some(done) = page.done.get_mut(index)
        {
            *done = true;
        }
    }

    /// How many users the page has (0 before it is planned, and for a single user's push).
    pub fn users(&self) -> u64 {
        self.page.lock().map_or(0, |p| p.users as u64)
    }

    /// How many users of the page have every slot final (a user without slots counts as done).
    pub fn users_final(&self) -> u64 {
        let Ok(page) = self.page.lock() else {
            return 0;
        };
        let mut pending = vec![false; page.users];
        for (&user, &done) in page.owner.iter().zip(&page.done) {
            if !done && let Some(p) = pending.get_mut(user) {
                *p = true;
            }
        }
        pending.iter().filter(|p| !**p).count() as u64
    }

    /// The outcomes known so far, by target index.
    pub fn snapshot(&self) -> Vec<Option<DeviceOutcome>> {
        self.slots.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Final outcomes so far: (success, fail, error).
    pub fn settled(&self) -> (u64, u64, u64) {
        let [s, f, e] = &*self.settled;
        (
            s.load(Ordering::Relaxed),
            f.load(Ordering::Relaxed),
            e.load(Ordering::Relaxed),
        )
    }
}

/// What a [`Pusher`] is built from.
pub struct PusherParts {
    /// The store.
    pub store: Store,
    /// The vendor lanes.
    pub dispatch: Dispatch,
    /// Notifiers (to ban one whose credentials the vendor refuses).
    pub notifiers: Notifiers,
    /// The own channel.
    pub channel: Channel,
    /// The `[push]` settings.
    pub config: PushConfig,
    /// `devices.max_bindings_per_user`: one read gets all of a user's bindings.
    pub max_bindings_per_user: usize,
    /// Where every outcome is recorded.
    pub events: EventLog,
}

/// The send path: everything between an accepted push and the outcome of each device.
#[derive(Clone)]
pub struct Pusher {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    dispatch: Dispatch,
    notifiers: Notifiers,
    channel: Channel,
    config: PushConfig,
    max_bindings_per_user: usize,
    events: EventLog,
}

impl Pusher {
    /// A send path over `store`, delivering through `dispatch` and `channel` and recording every outcome in
    /// `events`.
    pub fn new(parts: PusherParts) -> Self {
        let PusherParts {
            store,
            dispatch,
            notifiers,
            channel,
            config,
            max_bindings_per_user,
            events,
        } = parts;
        Self {
            inner: Arc::new(Inner {
                store,
                dispatch,
                notifiers,
                channel,
                config,
                max_bindings_per_user,
                events,
            }),
        }
    }

    /// The send path's settings.
    pub fn config(&self) -> &PushConfig {
        &self.inner.config
    }

    /// The store the send path reads.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Plans and executes `push`; one outcome per target.
    pub async fn push_user(&self, push: UserPush) -> Result<Vec<DeviceOutcome>, PushError> {
        let planned = self.plan(push).await?;
        let progress = Progress::new(planned.len());
        Ok(self.execute(planned, &progress).await)
    }

    /// Finds the user's targets and decides every outcome that needs no delivery: no device, the message's
    /// own flags, expiry, do-not-disturb, the device filter, unusable bindings.
    pub async fn plan(&self, push: UserPush) -> Result<Planned, PushError> {
        let s = &self.inner;
        let (app, user) = (push.app.as_str(), push.user.as_str());
        let now = now_ms();
        let bindings = s
            .store
            .bindings
            .user_bindings(app, user, None, s.max_bindings_per_user.max(1) + 1)
            .await?
            .0;
        let channel_devices = s.channel.devices(app, user).await?;
        let targets = route::targets(push.strategy, bindings.clone(), &channel_devices, |d| {
            s.channel.is_online_as(app, user, d)
        });
        if targets.is_empty() {
            let exists = !bindings.is_empty()
                || !channel_devices.is_empty()
                || s.store.labels.has_user(app, user).await?
                || s.store.user_settings.has_user(app, user).await?;
            let failure = if exists {
                Failure::NoPushBinding
            } else {
                Failure::NoUserExist
            };
            return Ok(Planned {
                rendered: push.message.clone(),
                push,
                slots: vec![Slot {
                    target: None,
                    decided: Some(DeviceOutcome::failed("", failure, "")),
                }],
            });
        }

        let options = push.message.options.clone().unwrap_or_default();
        let conversation = options.conversation.clone().unwrap_or_default();
        let conversation_key = conversation_of(&conversation);
        let profile = s
            .store
            .user_settings
            .push_profile(app, user, conversation_key.as_ref())
            .await?;
        let named = match push
            .message
            .template
            .as_ref()
            .filter(|t| !t.name.is_empty())
        {
            Some(t) => Some(s.store.templates.get_template(app, &t.name).await?.ok_or(t)),
            None => None,
        };
        let nickname = if conversation.from.is_empty() {
            String::new()
        } else {
            s.store
                .user_settings
                .get_user_settings(app, &conversation.from)
                .await?
                .map(|r| r.nickname)
                .unwrap_or_default()
        };
        let rendered = render::for_user(
            &push.message,
            &profile,
            named.as_ref().and_then(|n| n.as_ref().ok()),
            Sender {
                nickname: &nickname,
            },
            &s.config,
        );

        // Rules for the whole message, first match wins.
        let whole: Option<(Failure, String)> = if options.ignore_notification {
            Some((Failure::MessageIgnorePush, String::new()))
        } else if let Some(waited) = self.expired(&push, now) {
            Some((
                Failure::ExpireMessage,
                format!("waited {}s before it could be sent", waited.as_secs()),
            ))
        } else if let Some(Err(t)) = &named {
            Some((
                Failure::InvalidMessage,
                format!("template {:?} no longer exists", t.name),
            ))
        } else {
            // The app's time zone matters only for a daily interval: read it only then (a task reads this
            // for every user).
            let has_interval = profile
                .user
                .notification
                .as_ref()
                .is_some_and(|n| n.ignore_interval.is_some());
            let zone = if has_interval {
                s.store
                    .apps
                    .get_app(app)
                    .await?
                    .and_then(|a| parse_time_zone(&a.time_zone).ok())
                    .unwrap_or_default()
            } else {
                Default::default()
            };
            let context = PushContext {
                conversation: conversation_key.as_ref(),
                mentioned: is_mentioned(user, options.at_all, &options.at_users),
                force: options.force_notification,
                now_ms: now,
            };
            held_back(&profile, &zone, &context)
                .map(|why| (Failure::UserIgnorePush, format!("do-not-disturb: {why:?}")))
        };
        let filter = options.filter.unwrap_or_default();
        let slots = targets
            .into_iter()
            .map(|target| {
                let decided = match (&whole, &target.binding) {
                    (Some((failure, text)), _) => Some(attribute(
                        DeviceOutcome::failed(&target.device_id, *failure, text.clone()),
                        &target,
                    )),
                    (None, binding) => {
                        let device = &target.device_id;
                        let notifier = binding.as_ref().map(|b| b.notifier_name.as_str());
                        let excluded = (!filter.accept_device_ids.is_empty()
                            && !filter.accept_device_ids.contains(device))
                            || filter.ignore_device_ids.contains(device)
                            || notifier.is_some_and(|n| {
                                (!filter.accept_notifier_names.is_empty()
                                    && !filter.accept_notifier_names.iter().any(|a| a == n))
                                    || filter.ignore_notifier_names.iter().any(|i| i == n)
                            });
                        if excluded {
                            Some(attribute(
                                DeviceOutcome::failed(device, Failure::IgnorePushDeviceId, ""),
                                &target,
                            ))
                        } else if binding
                            .as_ref()
                            .is_some_and(|b| b.device_token.is_empty() || b.notifier_name.is_empty())
                        {
                            Some(attribute(
                                DeviceOutcome::failed(
                                    device,
                                    Failure::IllegalBinding,
                                    "the binding has no token or no notifier",
                                ),
                                &target,
                            ))
                        } else if target.plan == Plan::Offline {
                            Some(DeviceOutcome::failed(
                                device,
                                Failure::NoPushBinding,
                                "the device is offline and the strategy reaches online devices only",
                            ))
                        } else {
                            None
                        }
                    }
                };
                Slot {
                    target: Some(target),
                    decided,
                }
            })
            .collect();
        Ok(Planned {
            push,
            rendered: Arc::new(rendered),
            slots,
        })
    }

    /// How long the push has waited, when that is past its limit (the TTL, at most `max_wait`).
    fn expired(&self, push: &UserPush, now: i64) -> Option<Duration> {
        let waited = Duration::from_millis(u64::try_from(now - push.accepted_ms).unwrap_or(0));
        let ttl = push
            .message
            .options
            .as_ref()
            .and_then(|o| o.ttl)
            .and_then(|t| Duration::try_from(t).ok());
        let limit = ttl.map_or(self.inner.config.max_wait, |t| {
            t.min(self.inner.config.max_wait)
        });
        (waited > limit).then_some(waited)
    }

    /// Delivers what planning left open and returns every outcome in target order (a device that fell back
    /// from its vendor to the own channel reports the channel's outcome once). Outcomes are written to
    /// `progress` as they become known.
    pub async fn execute(&self, planned: Planned, progress: &Progress) -> Vec<DeviceOutcome> {
        self.execute_many(vec![planned], progress, true)
            .await
            .pop()
            .unwrap_or_default()
    }

    /// Plans and executes the pushes of many users of one app together (a task's page; its events reach the
    /// disk with the caller's next flush): the devices of all of them
    /// that share a notifier and a rendered message go to the vendor in the fewest batches. One list of
    /// outcomes per push, in order. `progress` follows the outcomes while they come in.
    pub async fn push_many(
        &self,
        pushes: Vec<UserPush>,
        progress: &Progress,
    ) -> Result<Vec<Vec<DeviceOutcome>>, PushError> {
        let mut planned: Vec<Planned> = Vec::with_capacity(pushes.len());
        for push in pushes {
            let mut plan = self.plan(push).await?;
            // The users of a page mostly render the same message: keep one copy of it, not one per user (a
            // PushMessage is nearly 5 kB before its strings). Looking a few plans back is enough to catch it.
            if let Some(same) = planned
                .iter()
                .rev()
                .take(4)
                .find(|p| p.rendered == plan.rendered)
            {
                plan.rendered = same.rendered.clone();
            }
            planned.push(plan);
        }
        progress.resize(planned.iter().map(Planned::len).sum());
        let owner = planned
            .iter()
            .enumerate()
            .flat_map(|(user, plan)| std::iter::repeat_n(user, plan.len()))
            .collect();
        progress.set_users(planned.len(), owner);
        // The task runner flushes the page's events with its checkpoint, in one flush.
        Ok(self.execute_many(planned, progress, false).await)
    }

    /// [`execute`](Self::execute) for many planned pushes; `progress` is indexed over their slots in order.
    /// Events are flushed to disk before it returns when `durable`; else the caller flushes (the task runner,
    /// with its checkpoint).
    async fn execute_many(
        &self,
        planned: Vec<Planned>,
        progress: &Progress,
        durable: bool,
    ) -> Vec<Vec<DeviceOutcome>> {
        // Every slot of every push, flattened: (push, slot) by one index.
        let mut at: Vec<(usize, usize)> = Vec::new();
        let mut outcomes: Vec<Option<DeviceOutcome>> = Vec::new();
        // The distinct messages the vendors get, and which push renders to which.
        let mut messages: Vec<Rendered> = Vec::new();
        let mut message_of = Vec::with_capacity(planned.len());
        let mut handoffs = Vec::with_capacity(planned.len());
        for (p, plan) in planned.iter().enumerate() {
            let push = &plan.push;
            let found = messages.iter().position(|m| {
                m.id == push.message_id
                    && m.message == *plan.rendered
                    && m.accepted_ms == push.accepted_ms
            });
            message_of.push(found.unwrap_or_else(|| {
                messages.push(Rendered {
                    id: push.message_id.clone(),
                    message: PushMessage::clone(&plan.rendered),
                    accepted_ms: push.accepted_ms,
                });
                messages.len() - 1
            }));
            handoffs.push(ChannelPush {
                message_id: push.message_id.clone(),
                message: render::for_channel(&plan.rendered),
                send_time_ms: push.accepted_ms,
                expire_ms: push
                    .message
                    .options
                    .as_ref()
                    .and_then(|o| o.ttl)
                    .and_then(|t| Duration::try_from(t).ok())
                    .map(|t| {
                        push.accepted_ms + i64::try_from(t.as_millis()).unwrap_or(i64::MAX / 2)
                    }),
                task_id: push.task_id.clone(),
            });
            for (s, slot) in plan.slots.iter().enumerate() {
                if let Some(decided) = &slot.decided {
                    progress.set(at.len(), decided.clone());
                    if slot.final_at_once(decided.status) {
                        progress.settle(at.len(), decided);
                    }
                }
                at.push((p, s));
                outcomes.push(slot.decided.clone());
            }
        }
        let slot = |i: usize| &planned[at[i].0].slots[at[i].1];

        let mut groups: BTreeMap<(String, usize), Vec<usize>> = BTreeMap::new();
        let mut to_channel = Vec::new();
        for i in 0..at.len() {
            if let (None, Some(target)) = (&slot(i).decided, &slot(i).target) {
                match (&target.plan, &target.binding) {
                    (Plan::Vendor { .. }, Some(b)) => groups
                        .entry((b.notifier_name.clone(), message_of[at[i].0]))
                        .or_default()
                        .push(i),
                    _ => to_channel.push(i),
                }
            }
        }

        let channel_work = join_all(to_channel.iter().map(|&i| {
            let p = at[i].0;
            let device = slot(i)
                .target
                .as_ref()
                .map_or(String::new(), |t| t.device_id.clone());
            let (push, handoff) = (&planned[p].push, &handoffs[p]);
            async move {
                let outcome = self.to_channel(push, &device, handoff).await;
                progress.set(i, outcome.clone());
                if slot(i).final_at_once(outcome.status) {
                    progress.settle(i, &outcome);
                }
                (i, outcome)
            }
        }));
        let app = planned.first().map_or("", |p| p.push.app.as_str());
        let vendor_work = join_all(groups.into_iter().map(|((notifier, m), indexes)| {
            let bindings: Vec<BindingRecord> = indexes
                .iter()
                .filter_map(|&i| slot(i).target.as_ref()?.binding.clone())
                .collect();
            let message = &messages[m];
            async move {
                // Each device counts as the lane settles it, not when the notifier's last device has: at a
                // notifier's QPS, a page of one-device-a-request vendors takes many seconds.
                let on_final = |k: usize, status: DeliveryStatus| {
                    if let Some(&i) = indexes.get(k)
                        && slot(i).final_at_once(status)
                    {
                        progress.settle_status(i, status);
                    }
                };
                let results = self
                    .through_vendor(app, &notifier, bindings, message, &on_final)
                    .await;
                for (&i, outcome) in indexes.iter().zip(&results) {
                    progress.set(i, outcome.clone());
                }
                indexes.into_iter().zip(results).collect::<Vec<_>>()
            }
        }));
        let (channel_done, vendor_done) = futures::join!(channel_work, vendor_work);
        for (i, outcome) in channel_done
            .into_iter()
            .chain(vendor_done.into_iter().flatten())
        {
            outcomes[i] = Some(outcome);
        }

        // Fallback: a device whose every vendor delivery failed gets the push over the own channel, once.
        let mut by_device: BTreeMap<(usize, &str), Vec<usize>> = BTreeMap::new();
        for (i, &(p, s)) in at.iter().enumerate() {
            if let Some(t) = &planned[p].slots[s].target
                && t.plan == (Plan::Vendor { fallback: true })
            {
                by_device
                    .entry((p, t.device_id.as_str()))
                    .or_default()
                    .push(i);
            }
        }
        let mut merged = vec![false; at.len()];
        // The vendor attempts a fallback replaced: reported as events before the channel's outcome.
        let mut replaced: Vec<Vec<DeviceOutcome>> = vec![Vec::new(); at.len()];
        for ((p, device), indexes) in by_device {
            let all_failed = indexes
                .iter()
                .all(|&i| outcomes[i].as_ref().is_some_and(|o| !o.succeeded()));
            if !all_failed {
                // The vendor's outcomes stand; its successes counted when they came.
                for &i in &indexes {
                    if let Some(o) = outcomes[i].as_ref()
                        && o.status != DeliveryStatus::Success
                    {
                        progress.settle(i, o);
                    }
                }
                continue;
            }
            let outcome = self
                .to_channel(&planned[p].push, device, &handoffs[p])
                .await;
            progress.set(indexes[0], outcome.clone());
            progress.settle(indexes[0], &outcome);
            for &i in &indexes[1..] {
                progress.finish(i);
            }
            replaced[indexes[0]] = indexes.iter().filter_map(|&i| outcomes[i].take()).collect();
            outcomes[indexes[0]] = Some(outcome);
            for &i in &indexes[1..] {
                merged[i] = true;
            }
        }
        let now = now_ms();
        let shared: Vec<PushEvents> = planned
            .iter()
            .map(|plan| PushEvents::new(&plan.push, &plan.rendered))
            .collect();
        let mut events = Vec::with_capacity(at.len());
        let mut out: Vec<Vec<DeviceOutcome>> = vec![Vec::new(); planned.len()];
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let of_push = &shared[at[i].0];
            for attempt in &replaced[i] {
                events.push(of_push.of(attempt, now));
            }
            if !merged[i]
                && let Some(o) = outcome
            {
                events.push(of_push.of(&o, now));
                count_outcome(&o);
                out[at[i].0].push(o);
            }
        }
        let recorded = if durable {
            self.inner.events.record_durably(app, events).await
        } else {
            self.inner.events.record(app, events).await
        };
        if let Err(e) = recorded {
            tracing::error!(app, error = %e, "cannot record delivery events");
        }
        out
    }

    async fn to_channel(
        &self,
        push: &UserPush,
        device: &str,
        handoff: &ChannelPush,
    ) -> DeviceOutcome {
        let result = self
            .inner
            .channel
            .deliver(&push.app, &push.user, device, handoff.clone())
            .await;
        let mut outcome = match result {
            Ok(delivery) => {
                let mut o = DeviceOutcome::failed(device, Failure::PushYetButFail, "")
                    .with_status(DeliveryStatus::Success);
                o.failure = None;
                o.in_inbox = !delivery.live;
                o
            }
            // Its time to live ran out before the channel could take it.
            Err(e @ ChannelError::Expired { .. }) => {
                DeviceOutcome::failed(device, Failure::ExpireMessage, e.to_string())
            }
            Err(e) => {
                tracing::error!(app = %push.app, device, error = %e, "own channel delivery failed");
                DeviceOutcome::failed(device, Failure::PushYetButFail, e.to_string())
                    .with_status(DeliveryStatus::Error)
            }
        };
        outcome.channel = DeliveryChannel::Own;
        outcome
    }

    /// Pushes `bindings` (all of `notifier`) through its lane and reports each; `on_final` is told each
    /// binding's status (by its index in `bindings`) once its outcome is final, while the others may still
    /// be under way.
    async fn through_vendor(
        &self,
        app: &str,
        notifier: &str,
        bindings: Vec<BindingRecord>,
        message: &Rendered,
        on_final: &(dyn Fn(usize, DeliveryStatus) + Sync),
    ) -> Vec<DeviceOutcome> {
        let every = |failure: Failure, status: DeliveryStatus, text: &str| {
            (0..bindings.len()).for_each(|k| on_final(k, status));
            bindings
                .iter()
                .map(|b| {
                    DeviceOutcome::failed(&b.device_id, failure, text)
                        .with_status(status)
                        .via(notifier, vendor_of(b), &b.device_token)
                })
                .collect::<Vec<_>>()
        };
        let lane = match self.inner.dispatch.lane(app, notifier).await {
            Ok(Some(lane)) => lane,
            Ok(None) => return every(Failure::NoNotifierExist, DeliveryStatus::Fail, ""),
            Err(
                e @ (DispatchError::Credentials(_)
                | DispatchError::Tls(_)
                | DispatchError::Endpoint(_)),
            ) => {
                return every(
                    Failure::InvalidNotifier,
                    DeliveryStatus::Fail,
                    &e.to_string(),
                );
            }
            Err(e) => {
                tracing::error!(app, notifier, error = %e, "notifier lane unavailable");
                return every(
                    Failure::PushYetButFail,
                    DeliveryStatus::Error,
                    &e.to_string(),
                );
            }
        };
        let public: &Notifier = lane.notifier();
        match NotifierState::try_from(public.state) {
            Ok(NotifierState::Disabled) => {
                return every(Failure::NotifierDisabled, DeliveryStatus::Fail, "");
            }
            Ok(NotifierState::Banned) => {
                return every(
                    Failure::NotifierIsBan,
                    DeliveryStatus::Fail,
                    &public.state_reason,
                );
            }
            _ => {}
        }
        let vendor = Vendor::try_from(public.vendor).unwrap_or(Vendor::Unspecified);
        let span = tracing::info_span!(
            "vendor.dispatch",
            app,
            vendor = crate::notifier::credentials::field_of(vendor),
            notifier,
            devices = bindings.len(),
        );
        // The status `classify` gives here is the outcome's below: what counts early is what is returned.
        let reports = lane
            .dispatch_watched(&bindings, message, &|k, report| {
                on_final(k, classify(&report.outcome).0)
            })
            .instrument(span)
            .await;
        let mut banned = false;
        let mut out = Vec::with_capacity(reports.len());
        for (binding, report) in bindings.iter().zip(reports) {
            let (status, failure) = classify(&report.outcome);
            let mut outcome = DeviceOutcome::failed(
                &binding.device_id,
                Failure::PushYetButFail,
                outcome_text(&report.outcome),
            )
            .via(notifier, vendor, &binding.device_token)
            .with_status(status);
            outcome.failure = failure;
            outcome.vendor_response = report.answer.body.clone();
            match &report.outcome {
                Outcome::Delivered { message_id } => {
                    outcome.vendor_message_id = message_id.clone();
                }
                Outcome::InvalidToken { .. } => {
                    outcome.binding_removed = self.unbind(app, binding).await;
                }
                Outcome::AuthFailed {
                    reason,
                    at_token_endpoint: false,
                } if !banned => {
                    banned = true;
                    self.ban(app, public, reason).await;
                }
                _ => {}
            }
            out.push(outcome);
        }
        out
    }

    /// Removes a binding whose token the vendor called invalid, unless it was re-bound with another token
    /// since; answers whether it was removed.
    async fn unbind(&self, app: &str, binding: &BindingRecord) -> bool {
        let store = &self.inner.store;
        let current = store
            .bindings
            .user_bindings(
                app,
                &binding.user,
                None,
                self.inner.max_bindings_per_user.max(1) + 1,
            )
            .await;
        let still_same = current.is_ok_and(|(all, _)| {
            all.iter().any(|b| {
                b.device_id == binding.device_id
                    && b.notifier_name == binding.notifier_name
                    && b.device_token == binding.device_token
            })
        });
        if !still_same {
            return false;
        }
        match store
            .bindings
            .unbind(
                app,
                &binding.user,
                &binding.device_id,
                Some(&binding.notifier_name),
            )
            .await
        {
            Ok(removed) => !removed.is_empty(),
            Err(e) => {
                tracing::error!(app, error = %e, "cannot remove an invalid binding");
                false
            }
        }
    }

    async fn ban(&self, app: &str, notifier: &Notifier, reason: &str) {
        let fingerprint = notifier
            .credential_summary
            .as_ref()
            .map(|s| s.fingerprint.as_str())
            .unwrap_or_default();
        match self
            .inner
            .notifiers
            .ban(app, &notifier.name, fingerprint, reason)
            .await
        {
            Ok(true) => {
                tracing::warn!(app, notifier = %notifier.name, reason, "notifier banned: the vendor refused its credentials")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(app, notifier = %notifier.name, error = %e, "cannot ban a notifier")
            }
        }
    }
}

/// The vendor a binding was made for.
fn vendor_of(b: &BindingRecord) -> Vendor {
    Vendor::try_from(b.vendor).unwrap_or(Vendor::Unspecified)
}

/// `outcome` attributed to the target's binding, when it has one.
fn attribute(outcome: DeviceOutcome, target: &Target) -> DeviceOutcome {
    match &target.binding {
        Some(b) => outcome.via(&b.notifier_name, vendor_of(b), &b.device_token),
        None => outcome,
    }
}
/// Counts one device's outcome in the `pushgate.sends` metric.
fn count_outcome(outcome: &DeviceOutcome) {
    let channel = match channel_name(outcome) {
        "" => "none",
        name => name,
    };
    let status = match outcome.status {
        DeliveryStatus::Success => "success",
        DeliveryStatus::Error => "error",
        _ => "fail",
    };
    metrics().sends.add(
        1,
        &[
            KeyValue::new("channel", channel),
            KeyValue::new("status", status),
            KeyValue::new("reason", outcome.failure.map_or("", |f| f.as_str())),
        ],
    );
}
