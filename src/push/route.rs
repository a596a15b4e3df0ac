//! Which way each of a user's devices is pushed, by the strategy and whether the device is online.
//!
//! Easemob's strategies (proto `Strategy`): 0 vendor first, the own channel on failure; 1 own channel only
//! (the inbox while offline); 2 vendor only (default); 3 the own channel when online, else the vendor with a
//! vendor failure kept in the inbox for the device's return; 4 the own channel to online devices only.

use std::collections::BTreeMap;

use crate::{proto::v1::Strategy, store::BindingRecord};

/// How one target is pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Through the binding's vendor; on failure through the own channel when `fallback` (once per device).
    Vendor {
        /// Whether a vendor failure goes to the own channel (live, or the inbox while offline).
        fallback: bool,
    },
    /// Through the own channel: live when online, else the inbox.
    Channel,
    /// Nowhere: the strategy reaches online devices only and this one is offline.
    Offline,
}

/// One push target: a binding for vendor plans, a device for channel plans.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The device.
    pub device_id: String,
    /// The binding to push through (vendor plans only).
    pub binding: Option<BindingRecord>,
    /// How.
    pub plan: Plan,
}

/// Whether `strategy` routes by presence (the others never ask whether a device is online).
pub fn needs_presence(strategy: Strategy) -> bool {
    matches!(
        strategy,
        Strategy::ChannelFirst | Strategy::ChannelOnlineOnly
    )
}

/// The targets of a user with `bindings` and the own-channel devices `channel_devices`. Devices are taken in
/// device-id order; an empty result means the strategy has nothing to reach.
pub fn targets(
    strategy: Strategy,
    bindings: Vec<BindingRecord>,
    channel_devices: &[String],
    online: impl Fn(&str) -> bool,
) -> Vec<Target> {
    let mut devices: BTreeMap<String, Vec<BindingRecord>> = BTreeMap::new();
    for binding in bindings {
        devices
            .entry(binding.device_id.clone())
            .or_default()
            .push(binding);
    }
    for device in channel_devices {
        devices.entry(device.clone()).or_default();
    }
    let mut out = Vec::new();
    for (device_id, bound) in devices {
        let channel = |plan| Target {
            device_id: device_id.clone(),
            binding: None,
            plan,
        };
        let vendor = |fallback: bool| {
            bound.iter().map(move |b| Target {
                device_id: b.device_id.clone(),
                binding: Some(b.clone()),
                plan: Plan::Vendor { fallback },
            })
        };
        match strategy {
            Strategy::Unspecified | Strategy::VendorOnly => out.extend(vendor(false)),
            Strategy::VendorFirst if bound.is_empty() => out.push(channel(Plan::Channel)),
            Strategy::VendorFirst => out.extend(vendor(true)),
            Strategy::ChannelOnly => out.push(channel(Plan::Channel)),
            Strategy::ChannelFirst if online(&device_id) || bound.is_empty() => {
                out.push(channel(Plan::Channel))
            }
            Strategy::ChannelFirst => out.extend(vendor(true)),
            Strategy::ChannelOnlineOnly if online(&device_id) => out.push(channel(Plan::Channel)),
            Strategy::ChannelOnlineOnly => out.push(channel(Plan::Offline)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(device: &str, notifier: &str) -> BindingRecord {
        BindingRecord {
            device_id: device.into(),
            notifier_name: notifier.into(),
            device_token: format!("tok-{device}"),
            ..Default::default()
        }
    }

    /// (device, notifier or "-", plan) per target, for `a` online with an APNs binding, `b` offline with
    /// an FCM binding, and `c` a channel-only device that is offline.
    fn plans(strategy: Strategy) -> Vec<(String, String, Plan)> {
        targets(
            strategy,
            vec![binding("a", "apns"), binding("b", "fcm")],
            &["a".into(), "c".into()],
            |d| d == "a",
        )
        .into_iter()
        .map(|t| {
            let notifier = t.binding.map_or("-".into(), |b| b.notifier_name);
            (t.device_id, notifier, t.plan)
        })
        .collect()
    }

    fn row(d: &str, n: &str, p: Plan) -> (String, String, Plan) {
        (d.into(), n.into(), p)
    }

    /// The send path reads presence (a store read on a shared store) only for the strategies that ask.
    #[test]
    fn only_the_presence_strategies_ask_whether_a_device_is_online() {
        for strategy in [
            Strategy::Unspecified,
            Strategy::VendorFirst,
            Strategy::ChannelOnly,
            Strategy::VendorOnly,
            Strategy::ChannelFirst,
            Strategy::ChannelOnlineOnly,
        ] {
            let asked = std::cell::Cell::new(false);
            targets(
                strategy,
                vec![binding("a", "apns")],
                &["a".into(), "c".into()],
                |_| {
                    asked.set(true);
                    false
                },
            );
            assert_eq!(asked.get(), needs_presence(strategy), "{strategy:?}");
        }
    }

    #[test]
    fn each_strategy_routes_each_device_on_its_own() {
        let vendor = Plan::Vendor { fallback: false };
        let first = Plan::Vendor { fallback: true };
        assert_eq!(
            plans(Strategy::VendorOnly),
            [row("a", "apns", vendor), row("b", "fcm", vendor)]
        );
        assert_eq!(plans(Strategy::Unspecified), plans(Strategy::VendorOnly));
        assert_eq!(
            plans(Strategy::VendorFirst),
            [
                row("a", "apns", first),
                row("b", "fcm", first),
                row("c", "-", Plan::Channel)
            ]
        );
        assert_eq!(
            plans(Strategy::ChannelOnly),
            [
                row("a", "-", Plan::Channel),
                row("b", "-", Plan::Channel),
                row("c", "-", Plan::Channel)
            ]
        );
        assert_eq!(
            plans(Strategy::ChannelFirst),
            [
                row("a", "-", Plan::Channel),
                row("b", "fcm", first),
                row("c", "-", Plan::Channel)
            ]
        );
        assert_eq!(
            plans(Strategy::ChannelOnlineOnly),
            [
                row("a", "-", Plan::Channel),
                row("b", "-", Plan::Offline),
                row("c", "-", Plan::Offline)
            ]
        );
    }

    #[test]
    fn nothing_to_reach_is_an_empty_plan() {
        assert!(targets(Strategy::VendorOnly, vec![], &["c".into()], |_| true).is_empty());
        assert!(targets(Strategy::ChannelOnly, vec![], &[], |_| true).is_empty());
    }
}
