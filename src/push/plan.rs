//! Planning a push: the user's targets, and every outcome that needs no delivery (no device, the message's
//! flags, expiry, do-not-disturb, the device filter, unusable bindings).

use std::{sync::Arc, time::Duration};

use super::engine::{PushError, Pusher, UserPush, vendor_of};
use super::{
    DeviceOutcome, Failure,
    render::{self, Sender},
    route::{self, Plan, Target},
};
use crate::{
    clock::now_ms,
    proto::v1::{DeliveryStatus, PushMessage},
    settings::{
        dnd::{PushContext, conversation_of, held_back, is_mentioned},
        parse_time_zone,
    },
};

/// One target of a planned push and its outcome when planning already decided it.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub(super) target: Option<Target>,
    pub(super) decided: Option<DeviceOutcome>,
}

impl Slot {
    /// Whether a failure here may still be replaced by a delivery over the own channel (strategy 0).
    pub(super) fn falls_back(&self) -> bool {
        self.target
            .as_ref()
            .is_some_and(|t| t.plan == (Plan::Vendor { fallback: true }))
    }

    /// Whether an outcome of `status` here is final as soon as it is known: a success always is (a fallback
    /// replaces only a device whose every vendor delivery failed), anything else unless it may still be
    /// replaced. The rest wait for the fallback's decision.
    pub(super) fn final_at_once(&self, status: DeliveryStatus) -> bool {
        status == DeliveryStatus::Success || !self.falls_back()
    }
}

/// A user's push with its targets and the outcomes decided before any delivery.
#[derive(Debug)]
pub struct Planned {
    pub(super) push: UserPush,
    /// Shared with the page's other plans that rendered the same (see `push_many`).
    pub(super) rendered: Arc<PushMessage>,
    pub(super) slots: Vec<Slot>,
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
    pub(super) fn unfinished(&self, index: usize) -> DeviceOutcome {
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

impl Pusher {
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
        // Presence decides only strategies 3 and 4; on a shared store it may be a read of the routes.
        let online = if route::needs_presence(push.strategy) && !channel_devices.is_empty() {
            s.channel.online_as(app, user, &channel_devices).await?
        } else {
            Default::default()
        };
        let targets = route::targets(push.strategy, bindings.clone(), &channel_devices, |d| {
            online.contains(d)
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
    pub(super) fn expired(&self, push: &UserPush, now: i64) -> Option<Duration> {
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
}

/// `outcome` attributed to the target's binding, when it has one.
pub(super) fn attribute(outcome: DeviceOutcome, target: &Target) -> DeviceOutcome {
    match &target.binding {
        Some(b) => outcome.via(&b.notifier_name, vendor_of(b), &b.device_token),
        None => outcome,
    }
}
