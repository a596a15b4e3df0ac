//! sled implementation of [`EventRepository`]: events are stored in chunks, one record per chunk, compressed.
//!
//! A task page records a thousand events at once, and one sled record per event made the event log cost a
//! broadcast more than its fan-out (sled copies and re-allocates leaf nodes on every insert). A chunk holds the
//! events of one append (split when large) and is keyed by its first position; its header carries what the
//! retention needs, so a sweep never decompresses. The events of one push share most of their text (call id,
//! payload, the vendor's answer), which LZ4 takes out cheaply.

use std::ops::Bound;

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode};
use crate::{
    proto::v1::DeliveryEvent,
    store::{EventRepository, StoreError},
};

/// Most events in one chunk.
const CHUNK_EVENTS: usize = 256;
/// A chunk is closed once its encoded events pass this many bytes.
const CHUNK_BYTES: usize = 64 * 1024;
/// Bytes of a chunk's header: newest timestamp (ms, i64), last position (u64), event count (u32), big-endian.
const HEADER: usize = 20;

/// The events of one chunk, in position order.
#[derive(Clone, PartialEq, prost::Message)]
struct EventChunk {
    #[prost(message, repeated, tag = "1")]
    events: Vec<DeliveryEvent>,
}

/// What a chunk's header says.
pub(super) struct Header {
    newest_ms: i64,
    last_position: u64,
    pub(super) count: u32,
}

fn timestamp_ms(event: &DeliveryEvent) -> i64 {
    event
        .timestamp
        .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

pub(super) fn encode_chunk(events: &[DeliveryEvent]) -> Vec<u8> {
    let newest_ms = events.iter().map(timestamp_ms).max().unwrap_or(0);
    let last_position = events.last().map_or(0, |e| e.position);
    let count = u32::try_from(events.len()).unwrap_or(u32::MAX);
    let body = EventChunk {
        events: events.to_vec(),
    }
    .encode_to_vec();
    let packed = lz4_flex::compress_prepend_size(&body);
    let mut value = Vec::with_capacity(HEADER + packed.len());
    value.extend_from_slice(&newest_ms.to_be_bytes());
    value.extend_from_slice(&last_position.to_be_bytes());
    value.extend_from_slice(&count.to_be_bytes());
    value.extend_from_slice(&packed);
    value
}

fn corrupt(key: &[u8], reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        reason: reason.to_string(),
    }
}

pub(super) fn header(key: &[u8], value: &[u8]) -> Result<Header, StoreError> {
    let field = |at: usize, len: usize| {
        value
            .get(at..at + len)
            .ok_or_else(|| corrupt(key, "event chunk shorter than its header"))
    };
    let eight = |at| -> Result<[u8; 8], StoreError> {
        field(at, 8)?
            .try_into()
            .map_err(|_| corrupt(key, "bad event chunk header"))
    };
    let count: [u8; 4] = field(16, 4)?
        .try_into()
        .map_err(|_| corrupt(key, "bad event chunk header"))?;
    Ok(Header {
        newest_ms: i64::from_be_bytes(eight(0)?),
        last_position: u64::from_be_bytes(eight(8)?),
        count: u32::from_be_bytes(count),
    })
}

pub(super) fn decode_chunk(key: &[u8], value: &[u8]) -> Result<Vec<DeliveryEvent>, StoreError> {
    let packed = value
        .get(HEADER..)
        .ok_or_else(|| corrupt(key, "event chunk shorter than its header"))?;
    let body = lz4_flex::decompress_size_prepended(packed).map_err(|e| corrupt(key, e))?;
    Ok(decode::<EventChunk>(key, &body)?.events)
}

/// Splits `events` into chunks of at most [`CHUNK_EVENTS`] events and about [`CHUNK_BYTES`] bytes.
pub(super) fn chunks(events: &[DeliveryEvent]) -> Vec<&[DeliveryEvent]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, event) in events.iter().enumerate() {
        bytes += event.encoded_len();
        if i + 1 - start >= CHUNK_EVENTS || bytes >= CHUNK_BYTES {
            out.push(&events[start..=i]);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < events.len() {
        out.push(&events[start..]);
    }
    out
}

#[async_trait]
impl EventRepository for SledStore {
    async fn append_events(
        &self,
        app: &str,
        mut events: Vec<DeliveryEvent>,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        let written: Result<_, StoreError> = async {
            // Positions are taken and written under one lock, so they become visible in order: a reader
            // that has seen position p never later finds an event below p (two appends racing could
            // otherwise write the higher position first). The flush that follows runs outside it, shared.
            let _in_order = self
                .event_appends
                .lock()
                .map_err(|_| StoreError::Backend("event append lock poisoned".into()))?;
            for event in &mut events {
                // sled's ids only grow, across restarts too: positions keep the order events were recorded in.
                event.position = self.db.generate_id()? + 1;
            }
            let mut batch = sled::Batch::default();
            for chunk in chunks(&events) {
                batch.insert(keys::event(app, chunk[0].position), encode_chunk(chunk));
            }
            self.tree(keys::EVENTS)?.apply_batch(batch)?;
            Ok(events)
        }
        .await;
        self.durably(written).await
    }

    async fn events_after(
        &self,
        app: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        let tree = self.tree(keys::EVENTS)?;
        let prefix = keys::app_prefix(app);
        // The chunk holding `after` starts at or below it: the last chunk key not above it.
        let holding = tree
            .range(prefix.clone()..=keys::event(app, after))
            .next_back()
            .transpose()?
            .map(|(key, _)| key);
        let from = match &holding {
            Some(key) => Bound::Included(key.to_vec()),
            None => Bound::Excluded(keys::event(app, after)),
        };
        let mut out = Vec::new();
        for entry in tree.range((from, Bound::Unbounded::<Vec<u8>>)) {
            let (key, value) = entry?;
            if !key.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            if header(&key, &value)?.last_position <= after {
                continue;
            }
            let room = limit - out.len();
            out.extend(
                decode_chunk(&key, &value)?
                    .into_iter()
                    .filter(|e| e.position > after)
                    .take(room),
            );
        }
        Ok(out)
    }

    async fn first_event_position(&self, app: &str) -> Result<Option<u64>, StoreError> {
        match self
            .tree(keys::EVENTS)?
            .scan_prefix(keys::app_prefix(app))
            .next()
        {
            Some(entry) => {
                let (key, value) = entry?;
                Ok(decode_chunk(&key, &value)?.first().map(|e| e.position))
            }
            None => Ok(None),
        }
    }

    async fn last_event_position(&self, app: &str) -> Result<Option<u64>, StoreError> {
        match self
            .tree(keys::EVENTS)?
            .scan_prefix(keys::app_prefix(app))
            .next_back()
        {
            Some(entry) => {
                let (key, value) = entry?;
                Ok(Some(header(&key, &value)?.last_position))
            }
            None => Ok(None),
        }
    }

    async fn swept_through(&self, app: &str) -> Result<u64, StoreError> {
        Ok(self
            .tree(keys::EVENT_HORIZONS)?
            .get(keys::app_prefix(app))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    async fn sweep_events(&self, before_ms: i64, limit: usize) -> Result<usize, StoreError> {
        let written: Result<_, StoreError> = async {
            let tree = self.tree(keys::EVENTS)?;
            let horizons = self.tree(keys::EVENT_HORIZONS)?;
            let mut removed = 0;
            for entry in tree.iter() {
                let (key, value) = entry?;
                let chunk = header(&key, &value)?;
                // A chunk goes whole, once its newest event is past the retention.
                if chunk.newest_ms < before_ms {
                    // The horizon first: a resume below it must be refused, never silently short.
                    let app = keys::app_of_key(&key).unwrap_or_default();
                    horizons.fetch_and_update(keys::app_prefix(app), |old| {
                        let old = old
                            .and_then(|v| <[u8; 8]>::try_from(v).ok())
                            .map_or(0, u64::from_be_bytes);
                        Some(old.max(chunk.last_position).to_be_bytes().to_vec())
                    })?;
                    tree.remove(&key)?;
                    removed += chunk.count as usize;
                    if removed >= limit {
                        break;
                    }
                }
            }
            Ok(removed)
        }
        .await;
        self.durably(written).await
    }
}

/// sled-only: the chunking and the chunk encoding are how this backend stores the log. What the log does (reads
/// from inside an append, across appends, the sweep and its horizon) is in `store::conformance::events`.
#[cfg(test)]
mod tests {
    use super::*;

    fn event(position: u64, data: &str) -> DeliveryEvent {
        DeliveryEvent {
            position,
            data: data.into(),
            ..Default::default()
        }
    }

    #[test]
    fn chunks_are_bounded_by_count_and_bytes() {
        let many: Vec<_> = (1..=600).map(|p| event(p, "x")).collect();
        let sizes: Vec<_> = chunks(&many).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [256, 256, 88]);
        let big: Vec<_> = (1..=5).map(|p| event(p, &"y".repeat(40_000))).collect();
        let sizes: Vec<_> = chunks(&big).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(chunks(&[]).is_empty());
    }

    #[test]
    fn a_chunk_round_trips_with_its_header() {
        let events: Vec<_> = (7..10).map(|p| event(p, "answer")).collect();
        let value = encode_chunk(&events);
        let h = header(b"k", &value).unwrap();
        assert_eq!((h.last_position, h.count), (9, 3));
        assert_eq!(decode_chunk(b"k", &value).unwrap(), events);
        assert!(decode_chunk(b"k", &value[..HEADER + 2]).is_err());
        assert!(header(b"k", &value[..10]).is_err());
    }
}
