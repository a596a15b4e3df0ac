//! [`ReplicaRepository`](crate::store::ReplicaRepository): replicas register, beat, leave, and go stale.

use crate::store::{ReplicaRecord, Store};

fn replica(id: &str, beat_ms: i64) -> ReplicaRecord {
    ReplicaRecord {
        id: id.into(),
        address: format!("{id}.internal:7001"),
        started_ms: 1_000,
        beat_ms,
    }
}

fn ids(replicas: &[ReplicaRecord]) -> Vec<&str> {
    replicas.iter().map(|r| r.id.as_str()).collect()
}

/// A beat registers a replica or replaces its record; the live ones are those that beat at or after the
/// bound, in id order, read back whole.
async fn beats_register_and_renew_and_the_live_are_the_recent(s: Store) {
    let r = &s.replicas;
    assert!(r.live_replicas(0).await.unwrap().is_empty());
    r.beat(&replica("b", 5_000)).await.unwrap();
    r.beat(&replica("a", 2_000)).await.unwrap();
    r.beat(&replica("c", 4_000)).await.unwrap();
    assert_eq!(ids(&r.live_replicas(0).await.unwrap()), ["a", "b", "c"]);
    assert_eq!(ids(&r.live_replicas(4_000).await.unwrap()), ["b", "c"]);
    // Renewed: "a" is live again, with its new record.
    let renewed = ReplicaRecord {
        address: "moved:7001".into(),
        ..replica("a", 6_000)
    };
    r.beat(&renewed).await.unwrap();
    let live = r.live_replicas(4_000).await.unwrap();
    assert_eq!(ids(&live), ["a", "b", "c"]);
    assert_eq!(live[0], renewed);
    assert_eq!(
        ids(&r.live_replicas(6_001).await.unwrap()),
        Vec::<&str>::new()
    );
}

/// A replica that leaves is gone at once; the stale are removed by their last beat, the others kept.
async fn replicas_leave_and_the_stale_are_removed(s: Store) {
    let r = &s.replicas;
    for (id, beat) in [("a", 1_000), ("b", 2_000), ("c", 3_000)] {
        r.beat(&replica(id, beat)).await.unwrap();
    }
    r.remove_replica("b").await.unwrap();
    r.remove_replica("never-was").await.unwrap();
    assert_eq!(ids(&r.live_replicas(0).await.unwrap()), ["a", "c"]);
    assert_eq!(r.remove_stale_replicas(3_000).await.unwrap(), 1);
    assert_eq!(ids(&r.live_replicas(0).await.unwrap()), ["c"]);
    assert_eq!(r.remove_stale_replicas(3_000).await.unwrap(), 0);
}

conformance_tests! {
    beats_register_and_renew_and_the_live_are_the_recent,
    replicas_leave_and_the_stale_are_removed,
}
