//! `EventService`: the app's delivery events as a resumable stream, and the callbacks the outbox gave up on.
//!
//! A stream reads the event log from the store after the last position it examined, and waits for the log's
//! live signal between reads; the store decides order and completeness, the signal only says "read again".

use std::{collections::HashSet, pin::Pin, time::Duration};

use futures::Stream;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tonic::{Request, Response, Status};

use crate::{
    api::{auth_layer::app_of, page, page_token, status},
    callback::{AppEvent, EventLog, rules::CallbackRules},
    clock::now_ms,
    clock::timestamp,
    delivery_channel,
    proto::v1::{
        DeliveryEvent, DeliveryStatus, EventsHeartbeat, FailedCallbackIds,
        ListFailedCallbacksRequest, ListFailedCallbacksResponse, RedeliverCallbacksRequest,
        RedeliverCallbacksResponse, SubscribeEventsRequest, SubscribeEventsResponse,
        event_service_server::EventService, redeliver_callbacks_request::Selection,
        subscribe_events_response::Item,
    },
    store::outbox::parse_failed_id,
    validate::Violations,
};

/// Events read from the store at a time.
const PAGE: usize = 256;
/// On a shared store, the longest a stream waits before looking at the store again: the delay of an event
/// another replica recorded.
const SHARED_LOOK: Duration = Duration::from_secs(1);

/// The `EventService` implementation.
pub struct EventApi {
    log: EventLog,
    heartbeat: Duration,
    rules: CallbackRules,
}

/// Most ids one RedeliverCallbacks call takes.
const MAX_REDELIVER_IDS: usize = 100;

impl EventApi {
    /// Serves `log`, with a heartbeat after `heartbeat` without a matching event, and the failed callbacks of
    /// `rules`.
    pub fn new(log: EventLog, heartbeat: Duration, rules: CallbackRules) -> Self {
        Self {
            log,
            heartbeat,
            rules,
        }
    }

    /// NOT_FOUND unless `app` has a rule `name`.
    async fn require_rule(&self, app: &str, name: &str) -> Result<(), Status> {
        match self.rules.exists(app, name).await? {
            true => Ok(()),
            false => Err(status::not_found("callback rule", name)),
        }
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
            match self.log.after(&self.app, self.last, PAGE).await {
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
            let look_again = if self.log.is_shared() {
                deadline.min(tokio::time::Instant::now() + SHARED_LOOK)
            } else {
                deadline
            };
            match tokio::time::timeout_at(look_again, self.live.recv()).await {
                // New events (or too many to keep up with): read the store again.
                Ok(Ok(_) | Err(RecvError::Lagged(_))) => {}
                Ok(Err(RecvError::Closed)) => return None,
                // Another replica may have recorded some.
                Err(_) if look_again < deadline => {}
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
            .find(|c| !delivery_channel::ALL.contains(&c.as_str()))
        {
            v.add(
                "channels",
                format!(
                    "{bad:?} is not a channel name ({})",
                    delivery_channel::ALL.join(", ")
                ),
            );
        }
        v.into_result().map_err(|v| status::invalid(&v))?;
        // Subscribed before the store is read, so nothing recorded meanwhile is missed.
        let live = self.log.subscribe();
        let last = match r.since {
            Some(since) => {
                let horizon = self.log.swept_through(&app).await?;
                if since < horizon {
                    return Err(Status::out_of_range(format!(
                        "events up to position {horizon} are past the retention; resume with since = 0 for the oldest retained event"
                    )));
                }
                since
            }
            // Only what is recorded from now on: start after the newest event.
            None => self.log.last_position(&app).await?.unwrap_or(0),
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
        request: Request<ListFailedCallbacksRequest>,
    ) -> Result<Response<ListFailedCallbacksResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let (size, after) = page(r.page_size, &r.page_token)?;
        let after = match after.as_deref().map(parse_failed_id) {
            None => None,
            Some(Some(after)) => Some(after),
            Some(None) => {
                return Err(status::invalid(&Violations::single(
                    "page_token",
                    "is not a token this server issued",
                )));
            }
        };
        let rule = Some(r.rule_name.as_str()).filter(|n| !n.is_empty());
        if let Some(rule) = rule {
            self.require_rule(&app, rule).await?;
        }
        // One extra tells whether another page exists.
        let mut failed = self
            .rules
            .outbox()
            .failed(&app, rule, after, size + 1)
            .await?;
        let next_page_token = if failed.len() > size {
            failed.truncate(size);
            failed.last().map(|f| page_token(&f.id)).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListFailedCallbacksResponse {
            failed_callbacks: failed,
            next_page_token,
        }))
    }

    async fn redeliver_callbacks(
        &self,
        request: Request<RedeliverCallbacksRequest>,
    ) -> Result<Response<RedeliverCallbacksResponse>, Status> {
        let app = app_of(&request)?;
        let outbox = self.rules.outbox();
        let mut answer = RedeliverCallbacksResponse::default();
        match request.into_inner().selection {
            None => {
                return Err(status::invalid(&Violations::single(
                    "selection",
                    "give ids or rule_name",
                )));
            }
            Some(Selection::Ids(FailedCallbackIds { ids })) => {
                if ids.is_empty() || ids.len() > MAX_REDELIVER_IDS {
                    return Err(status::invalid(&Violations::single(
                        "ids.ids",
                        format!("must hold 1 to {MAX_REDELIVER_IDS} ids"),
                    )));
                }
                for id in ids {
                    let queued = match parse_failed_id(&id) {
                        Some((rule, position)) => outbox.redeliver(&app, rule, position).await?,
                        None => false,
                    };
                    if queued {
                        answer.queued_count += 1;
                    } else {
                        answer.unknown_ids.push(id);
                    }
                }
            }
            Some(Selection::RuleName(rule)) => {
                self.require_rule(&app, &rule).await?;
                // Requeued ones leave the list, so every round reads its head again.
                loop {
                    let failed = outbox.failed(&app, Some(&rule), None, 100).await?;
                    if failed.is_empty() {
                        break;
                    }
                    let mut moved = 0;
                    for f in failed {
                        let position = f.event.map_or(0, |e| e.position);
                        if outbox.redeliver(&app, &rule, position).await? {
                            answer.queued_count += 1;
                            moved += 1;
                        }
                    }
                    if moved == 0 {
                        break;
                    }
                }
            }
        }
        Ok(Response::new(answer))
    }
}
