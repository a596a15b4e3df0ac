//! [`RouteRepository`](crate::store::RouteRepository): one route per device, the replaced route reported,
//! the end of a stream removing only its own route, and the sweep of gone replicas' routes.

use crate::store::{ChannelRoute, Store};

const APP: &str = "o#a";

fn route(user: &str, holder: &str, stream: u64, opened_ms: i64) -> ChannelRoute {
    ChannelRoute {
        user: user.into(),
        holder_id: holder.into(),
        holder_started_ms: 100,
        stream,
        opened_ms,
    }
}

async fn one_route_per_device_and_the_replaced_one_is_reported(s: Store) {
    let r = &s.routes;
    let first = route("u", "r1", 1, 1_000);
    assert_eq!(r.set_route(APP, "d", &first).await.unwrap(), None);
    let second = route("u2", "r2", 7, 2_000);
    assert_eq!(
        r.set_route(APP, "d", &second).await.unwrap(),
        Some(first.clone())
    );
    r.set_route(APP, "d2", &first).await.unwrap();
    r.set_route("o#b", "d3", &first).await.unwrap();
    let mut found = r
        .routes(APP, &["d".into(), "d2".into(), "d3".into(), "none".into()])
        .await
        .unwrap();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        found,
        [("d".to_owned(), second.clone()), ("d2".to_owned(), first)],
        "other apps' routes are theirs"
    );
    assert!(r.routes(APP, &[]).await.unwrap().is_empty());
}

/// A stream's end removes its route only while the route is still that stream's: an older stream of the
/// device, on this replica or another, ending late leaves the newer one's.
async fn ending_a_stream_removes_only_its_own_route(s: Store) {
    let r = &s.routes;
    let newer = route("u", "r2", 1, 2_000);
    r.set_route(APP, "d", &route("u", "r1", 1, 1_000))
        .await
        .unwrap();
    r.set_route(APP, "d", &newer).await.unwrap();
    assert!(!r.end_route(APP, "d", "r1@100", 1).await.unwrap());
    assert!(!r.end_route(APP, "d", "r2@100", 2).await.unwrap());
    assert!(!r.end_route(APP, "d", "r2@101", 1).await.unwrap());
    assert_eq!(r.routes(APP, &["d".into()]).await.unwrap().len(), 1);
    assert!(r.end_route(APP, "d", "r2@100", 1).await.unwrap());
    assert!(r.routes(APP, &["d".into()]).await.unwrap().is_empty());
    assert!(!r.end_route(APP, "d", "r2@100", 1).await.unwrap());
}

/// The routes of holders not among the live ones go, in every app, unless they opened after the bound.
async fn the_routes_of_gone_replicas_are_removed(s: Store) {
    let r = &s.routes;
    r.set_route(APP, "live", &route("u", "r1", 1, 1_000))
        .await
        .unwrap();
    r.set_route(APP, "gone", &route("u", "r2", 2, 1_000))
        .await
        .unwrap();
    r.set_route("o#b", "gone", &route("u", "r2", 3, 1_000))
        .await
        .unwrap();
    r.set_route(APP, "young", &route("u", "r3", 4, 5_000))
        .await
        .unwrap();
    let removed = r
        .remove_gone_routes(&["r1@100".into()], 5_000)
        .await
        .unwrap();
    assert_eq!(removed, 2);
    let mut left: Vec<String> = r
        .routes(APP, &["live".into(), "gone".into(), "young".into()])
        .await
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    left.sort();
    assert_eq!(left, ["live", "young"]);
    assert!(r.routes("o#b", &["gone".into()]).await.unwrap().is_empty());
    assert_eq!(r.remove_gone_routes(&[], 0).await.unwrap(), 0);
}

conformance_tests! {
    one_route_per_device_and_the_replaced_one_is_reported,
    ending_a_stream_removes_only_its_own_route,
    the_routes_of_gone_replicas_are_removed,
}
