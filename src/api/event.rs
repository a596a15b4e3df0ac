//! `EventService`: the app's delivery events as a resumable stream.
//!
//! A stream reads the event log from the store after the last position it examined, and waits for the log's
//! live signal between reads; the store decides order and completeness, the signal only says "read again".

use std::{collections::HashSet, pin::Pin, time::Duration};

use futures::Stream;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tonic::{Request, Response, Status};

use crate::{
    api::{auth::app_of, status, timestamp},
    callback::{AppEvent, EventLog, event::CHANNEL_NAMES},
    proto::v1::{
        DeliveryEvent, DeliveryStatus, EventsHeartbeat, ListFailedCallbacksRequest,
        ListFailedCallbacksResponse, RedeliverCallbacksRequest, RedeliverCallbacksResponse,
        SubscribeEventsRequest, SubscribeEventsResponse, event_service_server::EventService,
        subscribe_events_response::Item,
    },
    tenant::now_ms,
    validate::Violations,
};

/// Events read from the store at a time.
const PAGE: usize = 256;

/// The `EventService` implementation.
pub struct EventApi {
    log: EventLog,
    heartbeat: Duration,
}

impl EventApi {
    /// Serves `log`, with a heartbeat after `heartbeat` without a matching event.
    pub fn new(log: EventLog, heartbeat: Duration) -> Self {
        Self { log, heartbeat }
    }
}

/// What a subscriber asked for.
#[derive(Clone)]
struct Filter {
    statuses: HashSet<i32>,
    channels: HashSet<String>,
    task_id: String,
}

impl Filter {
    fn matches(&self, e: &DeliveryEvent) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&e.status))
            && (self.channels.is_empty() || self.channels.contains(&e.channel))
            && (self.task_id.is_empty() || self.task_id == e.task_id)
    }
}

/// A stream's state between items.
struct Cursor {
    log: EventLog,
    app: String,
    filter: Filter,
    live: Receiver<AppEvent>,
    /// Every event up to here has been examined.
    last: u64,
    /// Matching events read and not yet sent.
    ready: std::collections::VecDeque<DeliveryEvent>,
    heartbeat: Duration,
}

impl Cursor {
    /// The next item: a matching event, or a heartbeat after a quiet interval; `None` when the log closes.
    async fn next(&mut self) -> Option<Result<SubscribeEventsResponse, Status>> {
        let deadline = tokio::time::Instant::now() + self.heartbeat;
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(SubscribeEventsResponse {
                    item: Some(Item::Event(event)),
                }));
            }
            // Read what the store has after `last` before waiting.
            match self
                .log
                .store()
                .events
                .events_after(&self.app, self.last, PAGE)
                .await
            {
                Ok(page) if !page.is_empty() => {
                    for event in page {
                        self.last = event.position;
                        if self.filter.matches(&event) {
                            self.ready.push_back(event);
                        }
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => return Some(Err(e.into())),
            }
            match tokio::time::timeout_at(deadline, self.live.recv()).await {
                // New events (or too many to keep up with): read the store again.
                Ok(Ok(_) | Err(RecvError::Lagged(_))) => {}
                Ok(Err(RecvError::Closed)) => return None,
                Err(_) => {
                    return Some(Ok(SubscribeEventsResponse {
                        item: Some(Item::Heartbeat(EventsHeartbeat {
                            position: self.last,
                            server_time: Some(timestamp(now_ms())),
                        })),
                    }));
                }
            }
        }
    }
}

#[tonic::async_trait]
impl EventService for EventApi {
    type SubscribeEventsStream =
        Pin<Box<dyn Stream<Item = Result<SubscribeEventsResponse, Status>> + Send>>;

    async fn subscribe_events(
        &self,
        request: Request<SubscribeEventsRequest>,
    ) -> Result<Response<Self::SubscribeEventsStream>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        if r.statuses.iter().any(|s| {
            DeliveryStatus::try_from(*s).is_err() || *s == DeliveryStatus::Unspecified as i32
        }) {
            v.add("statuses", "holds a value that is not a delivery status");
        }
        if let Some(bad) = r
            .channels
            .iter()
            .find(|c| !CHANNEL_NAMES.contains(&c.as_str()))
        {
            v.add(
                "channels",
                format!(
                    "{bad:?} is not a channel name ({})",
                    CHANNEL_NAMES.join(", ")
                ),
            );
        }
        v.into_result().map_err(|v| status::invalid(&v))?;
        // Subscribed before the store is read, so nothing recorded meanwhile is missed.
        let live = self.log.subscribe();
        let store = self.log.store();
        let last = match r.since {
            Some(since) => {
                let horizon = store.events.swept_through(&app).await?;
                if since < horizon {
                    return Err(Status::out_of_range(format!(
                        "events up to position {horizon} are past the retention; resume with since = 0 for the oldest retained event"
                    )));
                }
                since
            }
            // Only what is recorded from now on: start after the newest event.
            None => store.events.last_event_position(&app).await?.unwrap_or(0),
        };
        let cursor = Cursor {
            log: self.log.clone(),
            app,
            filter: Filter {
                statuses: r.statuses.into_iter().collect(),
                channels: r.channels.into_iter().collect(),
                task_id: r.task_id,
            },
            live,
            last,
            ready: Default::default(),
            heartbeat: self.heartbeat,
        };
        let stream = futures::stream::unfold(cursor, |mut cursor| async move {
            let item = cursor.next().await?;
            Some((item, cursor))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn list_failed_callbacks(
        &self,
        _request: Request<ListFailedCallbacksRequest>,
    ) -> Result<Response<ListFailedCallbacksResponse>, Status> {
        Err(Status::unimplemented(
            "failed callbacks come with the callback outbox (issue 8), which is not built yet",
        ))
    }

    async fn redeliver_callbacks(
        &self,
        _request: Request<RedeliverCallbacksRequest>,
    ) -> Result<Response<RedeliverCallbacksResponse>, Status> {
        Err(Status::unimplemented(
            "failed callbacks come with the callback outbox (issue 8), which is not built yet",
        ))
    }
}
