//! Executing planned pushes: vendor lanes batched per notifier and message, the own channel, the strategy's
//! fallback, progress as outcomes settle, and the events of every outcome.

use std::{collections::BTreeMap, time::Duration};

use futures::{StreamExt, future::join_all};
use opentelemetry::KeyValue;
use tracing::Instrument;

use super::engine::{PushError, Pusher, UserPush, vendor_of};
use super::events::{PushEvents, channel_name};
use super::plan::Planned;
use super::progress::Progress;
use super::{
    DeviceOutcome, Failure,
    reason::{classify, outcome_text},
    render,
    route::Plan,
};
use crate::{
    channel::{ChannelError, ChannelPush},
    clock::now_ms,
    dispatch::{DispatchError, Outcome, Rendered},
    notifier::NotifierError,
    proto::v1::{
        DeliveryChannel, DeliveryEvent, DeliveryStatus, Notifier, NotifierState, PushMessage,
        Vendor,
    },
    store::{BindingRecord, StoreError},
    telemetry::metrics::metrics,
};

/// The users of a page planned at once ([`Pusher::push_many`]).
const PLANS_AT_ONCE: usize = 8;

impl Pusher {
    /// Delivers what planning left open and returns every outcome in target order (a device that fell back
    /// from its vendor to the own channel reports the channel's outcome once). Outcomes are written to
    /// `progress` as they become known.
    ///
    /// Fails when the store failed on the way: the push's events could not be recorded, or the store was
    /// unavailable to a delivery (see [`execute_many`](Self::execute_many)). Some devices may have been sent to
    /// by then; the caller says the push failed (a SendSync answers UNAVAILABLE, the queue tries again) rather
    /// than answer outcomes whose record did not commit.
    pub async fn execute(
        &self,
        planned: Planned,
        progress: &Progress,
    ) -> Result<Vec<DeviceOutcome>, PushError> {
        let app = planned.push.app.clone();
        let (mut outcomes, events) = self.execute_many(vec![planned], progress).await?;
        self.inner.events.record(&app, events).await?;
        Ok(outcomes.pop().unwrap_or_default())
    }

    /// Plans and executes the pushes of many users of one app together (a task's page), and answers their
    /// outcomes with the delivery events to record, which the caller records with its checkpoint
    /// ([`TaskRepository::record_page`](crate::store::TaskRepository::record_page)) and then announces
    /// ([`Pusher::announce_events`]): the devices of all of them that share a notifier and a rendered message go to the vendor in the fewest batches. One list of
    /// outcomes per push, in order. `progress` follows the outcomes while they come in.
    pub async fn push_many(
        &self,
        pushes: Vec<UserPush>,
        progress: &Progress,
    ) -> Result<(Vec<Vec<DeviceOutcome>>, Vec<DeliveryEvent>), PushError> {
        // Planned several at a time, in order: a plan is a few store reads, and on a database server each is
        // a round trip, so one user after the other left a page waiting on the network (a 1,000,000-user
        // broadcast on PostgreSQL spent minutes there). Bounded, to leave the pool's other connections to
        // the calls served meanwhile.
        let plans: Vec<Result<Planned, PushError>> = futures::stream::iter(pushes)
            .map(|push| self.plan(push))
            .buffered(PLANS_AT_ONCE)
            .collect()
            .await;
        let mut planned: Vec<Planned> = Vec::with_capacity(plans.len());
        for plan in plans {
            let mut plan = plan?;
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
        self.execute_many(planned, progress).await
    }

    /// [`execute`](Self::execute) for many planned pushes; `progress` is indexed over their slots in order.
    /// Also answers the delivery events of the outcomes, for the caller to record.
    ///
    /// A device whose delivery could not be tried because the store was unavailable (its notifier could not
    /// be read, the own channel could not write its inbox) fails the whole call with
    /// [`PushError::Store`]: such an outcome says nothing about the device, and reporting it as final would
    /// end an accepted push that was never sent. The caller tries again, or tells its own caller.
    pub(super) async fn execute_many(
        &self,
        planned: Vec<Planned>,
        progress: &Progress,
    ) -> Result<(Vec<Vec<DeviceOutcome>>, Vec<DeliveryEvent>), PushError> {
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
                let outcome = self.to_channel(push, &device, handoff).await?;
                progress.set(i, outcome.clone());
                if slot(i).final_at_once(outcome.status) {
                    progress.settle(i, &outcome);
                }
                Ok::<_, PushError>((i, outcome))
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
                    .await?;
                for (&i, outcome) in indexes.iter().zip(&results) {
                    progress.set(i, outcome.clone());
                }
                Ok::<_, PushError>(indexes.into_iter().zip(results).collect::<Vec<_>>())
            }
        }));
        let (channel_done, vendor_done) = futures::join!(channel_work, vendor_work);
        let vendor_done = vendor_done.into_iter().collect::<Result<Vec<_>, _>>()?;
        for result in channel_done
            .into_iter()
            .chain(vendor_done.into_iter().flatten().map(Ok))
        {
            let (i, outcome) = result?;
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
                .await?;
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
        Ok((out, events))
    }

    /// Wakes the event log's subscribers for events of `app` already stored (a task page's, recorded with
    /// its checkpoint).
    pub fn announce_events(&self, app: &str, stored: Vec<DeliveryEvent>) {
        self.inner.events.announce(app, stored);
    }

    pub(super) async fn to_channel(
        &self,
        push: &UserPush,
        device: &str,
        handoff: &ChannelPush,
    ) -> Result<DeviceOutcome, PushError> {
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
            Err(ChannelError::Store(e @ StoreError::Unavailable(_))) => return Err(e.into()),
            Err(e) => {
                tracing::error!(app = %push.app, device, error = %e, "own channel delivery failed");
                DeviceOutcome::failed(device, Failure::PushYetButFail, e.to_string())
                    .with_status(DeliveryStatus::Error)
            }
        };
        outcome.channel = DeliveryChannel::Own;
        Ok(outcome)
    }

    /// Pushes `bindings` (all of `notifier`) through its lane and reports each; `on_final` is told each
    /// binding's status (by its index in `bindings`) once its outcome is final, while the others may still
    /// be under way.
    pub(super) async fn through_vendor(
        &self,
        app: &str,
        notifier: &str,
        bindings: Vec<BindingRecord>,
        message: &Rendered,
        on_final: &(dyn Fn(usize, DeliveryStatus) + Sync),
    ) -> Result<Vec<DeviceOutcome>, PushError> {
        let every = |failure: Failure, status: DeliveryStatus, text: &str| {
            (0..bindings.len()).for_each(|k| on_final(k, status));
            Ok(bindings
                .iter()
                .map(|b| {
                    DeviceOutcome::failed(&b.device_id, failure, text)
                        .with_status(status)
                        .via(notifier, vendor_of(b), &b.device_token)
                })
                .collect::<Vec<_>>())
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
            Err(DispatchError::Notifier(NotifierError::Store(e @ StoreError::Unavailable(_)))) => {
                return Err(e.into());
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
        Ok(out)
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
