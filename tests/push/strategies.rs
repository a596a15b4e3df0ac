//! The five strategies, each with the device online and offline and the vendor succeeding and failing,
//! and the own channel's inbox: replay, acks, `since`, restarts.

use pushgate::proto::v1::AckKind;

use crate::common::push::*;

/// What a case must produce.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Delivered by the vendor.
    Vendor,
    /// The vendor failed and nothing else was tried.
    VendorFailed,
    /// Delivered live over the own channel.
    Live,
    /// Kept in the inbox for the device's return.
    Inbox,
    /// Not pushed: offline and the strategy reaches online devices only.
    Offline,
}

fn expected(strategy: Strategy, online: bool, vendor_fails: bool) -> Expect {
    use Expect::*;
    match (strategy, online, vendor_fails) {
        (Strategy::VendorOnly, _, false) => Vendor,
        (Strategy::VendorOnly, _, true) => VendorFailed,
        (Strategy::VendorFirst, _, false) => Vendor,
        (Strategy::VendorFirst, true, true) => Live,
        (Strategy::VendorFirst, false, true) => Inbox,
        (Strategy::ChannelOnly, true, _) => Live,
        (Strategy::ChannelOnly, false, _) => Inbox,
        (Strategy::ChannelFirst, true, _) => Live,
        (Strategy::ChannelFirst, false, false) => Vendor,
        (Strategy::ChannelFirst, false, true) => Inbox,
        (Strategy::ChannelOnlineOnly, true, _) => Live,
        (Strategy::ChannelOnlineOnly, false, _) => Offline,
        (s, ..) => panic!("not a strategy of the table: {s:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_strategy_routes_online_and_offline_devices_by_the_vendor_outcome() {
    let mut env = Env::start().await;
    let mut waiting_in_inbox = Vec::new();
    for strategy in [
        Strategy::VendorOnly,
        Strategy::VendorFirst,
        Strategy::ChannelOnly,
        Strategy::ChannelFirst,
        Strategy::ChannelOnlineOnly,
    ] {
        for online in [true, false] {
            for vendor_fails in [false, true] {
                let case = format!("{strategy:?} online={online} vendor_fails={vendor_fails}");
                let user = format!("u{}{}{}", strategy as i32, online as u8, vendor_fails as u8);
                let token = env.bind_new(&user, "phone", FCM).await;
                if vendor_fails {
                    env.fake(FCM).invalidate_token(&token);
                }
                let mut stream = if online {
                    Some(env.subscribe(&user, "phone", 0).await.0)
                } else {
                    None
                };
                let sends_before = env.sends(FCM).len();
                let r = env.send_sync(&user, strategy, hello()).await.unwrap();
                let result = of(&r, "phone");
                let vendor_sends = env.sends(FCM).len() - sends_before;
                let own = DeliveryChannel::Own as i32;
                let vendor = DeliveryChannel::Vendor as i32;
                match expected(strategy, online, vendor_fails) {
                    Expect::Vendor => {
                        assert_eq!(
                            status(result),
                            DeliveryStatus::Success,
                            "{case}: {result:?}"
                        );
                        assert_eq!(result.delivery_channel, vendor, "{case}");
                        assert_eq!(vendor_sends, 1, "{case}");
                    }
                    Expect::VendorFailed => {
                        assert_eq!(reason(result), FailureReason::PushYetButFail, "{case}");
                        assert_eq!(result.delivery_channel, vendor, "{case}");
                    }
                    Expect::Live => {
                        assert_eq!(
                            status(result),
                            DeliveryStatus::Success,
                            "{case}: {result:?}"
                        );
                        assert_eq!(result.delivery_channel, own, "{case}");
                        assert!(!result.in_inbox, "{case}");
                        let push = next_push(stream.as_mut().expect("online")).await;
                        assert_eq!(push.message_id, r.message_id, "{case}");
                        assert!(!push.from_inbox, "{case}");
                        assert_eq!(push.message.unwrap().title, "Hello", "{case}");
                        // Only a vendor failure before the fallback may have reached the vendor.
                        assert_eq!(
                            vendor_sends,
                            usize::from(strategy == Strategy::VendorFirst),
                            "{case}"
                        );
                    }
                    Expect::Inbox => {
                        assert_eq!(
                            status(result),
                            DeliveryStatus::Success,
                            "{case}: {result:?}"
                        );
                        assert_eq!(result.delivery_channel, own, "{case}");
                        assert!(result.in_inbox, "{case}");
                        waiting_in_inbox.push((user.clone(), r.message_id.clone(), case.clone()));
                    }
                    Expect::Offline => {
                        assert_eq!(status(result), DeliveryStatus::Fail, "{case}");
                        assert_eq!(reason(result), FailureReason::NoPushBinding, "{case}");
                        assert_eq!(vendor_sends, 0, "{case}");
                    }
                }
            }
        }
    }
    assert_eq!(waiting_in_inbox.len(), 4, "{waiting_in_inbox:?}");
    // The devices come back: each finds its push in the inbox.
    for (user, message_id, case) in waiting_in_inbox {
        let (_stream, replayed) = env.subscribe(&user, "phone", 0).await;
        assert_eq!(replayed.len(), 1, "{case}");
        assert_eq!(replayed[0].message_id, message_id, "{case}");
        assert!(replayed[0].from_inbox, "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_several_devices_gets_each_routed_on_its_own() {
    let mut env = Env::start().await;
    env.bind_new("multi", "ios", APNS).await;
    env.bind_new("multi", "android", HUAWEI).await;
    let broken = env.bind_new("multi", "old", OPPO).await;
    env.fake(OPPO).invalidate_token(&broken);
    // The tablet has no vendor binding and is online; the laptop subscribed once and is offline.
    let (mut tablet, _) = env.subscribe("multi", "tablet", 0).await;
    env.subscribe_and_leave("multi", "laptop").await;
    let (mut ios, _) = env.subscribe("multi", "ios", 0).await;

    let r = env
        .send_sync("multi", Strategy::VendorFirst, hello())
        .await
        .unwrap();
    assert_eq!(r.results.len(), 5, "{:?}", r.results);
    assert_eq!(
        of(&r, "ios").delivery_channel,
        DeliveryChannel::Vendor as i32
    );
    assert_eq!(
        of(&r, "android").delivery_channel,
        DeliveryChannel::Vendor as i32
    );
    // The broken binding fell back to the own channel (the device is offline: its inbox).
    let old = of(&r, "old");
    assert_eq!(
        (old.delivery_channel, old.in_inbox),
        (DeliveryChannel::Own as i32, true)
    );
    assert_eq!(next_push(&mut tablet).await.message_id, r.message_id);
    assert!(of(&r, "laptop").in_inbox);
    for d in ["ios", "android", "old", "tablet", "laptop"] {
        assert_eq!(status(of(&r, d)), DeliveryStatus::Success, "{d}");
    }

    let r = env
        .send_sync("multi", Strategy::ChannelFirst, hello())
        .await
        .unwrap();
    // Online devices over the channel, offline ones through their vendor, channel-only ones to the inbox.
    assert_eq!(of(&r, "ios").delivery_channel, DeliveryChannel::Own as i32);
    assert_eq!(next_push(&mut ios).await.message_id, r.message_id);
    assert_eq!(
        of(&r, "android").delivery_channel,
        DeliveryChannel::Vendor as i32
    );
    assert_eq!(next_push(&mut tablet).await.message_id, r.message_id);
    assert!(of(&r, "laptop").in_inbox);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_replays_after_reconnects_and_restarts_until_acked() {
    let mut env = Env::start().await;
    env.subscribe_and_leave("ana", "tab").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let message = PushMessage {
            title: format!("n{i}"),
            ..hello()
        };
        let r = env
            .send_sync("ana", Strategy::ChannelOnly, message)
            .await
            .unwrap();
        assert!(of(&r, "tab").in_inbox);
        ids.push(r.message_id);
    }
    let (_, replayed) = env.subscribe("ana", "tab", 0).await;
    let got: Vec<&str> = replayed.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(
        got,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "oldest first"
    );
    let titles: Vec<String> = replayed
        .iter()
        .map(|m| m.message.clone().unwrap().title)
        .collect();
    assert_eq!(titles, ["n0", "n1", "n2"]);
    // `since` skips what the device has processed.
    let (_, after_first) = env.subscribe("ana", "tab", replayed[0].position).await;
    assert_eq!(after_first.len(), 2);

    env.server = env.server.restart().await;
    env.push = PushServiceClient::new(env.server.channel().await);
    let (_, replayed) = env.subscribe("ana", "tab", 0).await;
    assert_eq!(replayed.len(), 3, "the inbox survives a restart");

    // Delivered pushes leave the inbox; an unknown id is reported.
    let unknown = env
        .ack(
            "ana",
            "tab",
            &[ids[0].clone(), "nope".into()],
            AckKind::Delivered,
        )
        .await;
    assert_eq!(unknown, ["nope"]);
    assert!(
        env.ack("ana", "tab", &[ids[1].clone()], AckKind::Clicked)
            .await
            .is_empty()
    );
    let (_, replayed) = env.subscribe("ana", "tab", 0).await;
    let left: Vec<&str> = replayed.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(left, [ids[2].as_str()]);
}
