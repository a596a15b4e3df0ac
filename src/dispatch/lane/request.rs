//! One attempt of a lane as vendor requests: the pending devices in batches of the vendor's maximum, and
//! each request behind the guards every vendor shares.
//!
//! Order of the guards for each vendor request: quota pause, circuit breaker, the in-flight bound, the token
//! bucket, then the request under a timeout. Waiting for the in-flight bound before the bucket keeps requests
//! that cannot run yet from consuming rate tokens.

use std::time::{Duration, Instant};

use futures::{Stream, StreamExt, stream};
use tracing::Instrument;

use super::Lane;
use crate::{
    dispatch::{
        Answered, Outcome, Rendered,
        breaker::{Admission, BreakerState},
    },
    notifier::credentials::field_of,
    store::bindings::BindingRecord,
    telemetry::metrics::{metrics, notifier_attrs},
};

impl Lane {
    /// One attempt for the `pending` bindings: batches to the vendor's maximum, run concurrently within the
    /// in-flight bound, each batch's answers as it answers.
    pub(super) fn attempt<'a>(
        &'a self,
        pending: &[usize],
        bindings: &'a [BindingRecord],
        message: &'a Rendered,
    ) -> impl Stream<Item = Vec<(usize, Answered)>> + Send + use<'a> {
        // Owned chunks: a closure over borrowed ones would make the future unprovably Send (rustc's
        // higher-ranked closure limitation), and callers spawn it.
        let batches: Vec<Vec<usize>> = pending
            .chunks(self.dispatcher.max_batch().max(1))
            .map(<[usize]>::to_vec)
            .collect();
        stream::iter(batches)
            .map(move |indexes| self.batch(indexes, bindings, message))
            .buffer_unordered(self.max_in_flight)
    }

    async fn batch(
        &self,
        indexes: Vec<usize>,
        bindings: &[BindingRecord],
        message: &Rendered,
    ) -> Vec<(usize, Answered)> {
        let batch: Vec<&BindingRecord> = indexes.iter().map(|&i| &bindings[i]).collect();
        let answers = self.request(&batch, message).await;
        indexes.into_iter().zip(answers).collect()
    }

    /// One vendor request behind every guard; always one answer per binding.
    async fn request(&self, batch: &[&BindingRecord], message: &Rendered) -> Vec<Answered> {
        let all = |outcome: Outcome| vec![Answered::unanswered(outcome); batch.len()];
        if let Some(left) = self.quota_left() {
            return all(Outcome::QuotaExceeded {
                reason: "the notifier's vendor quota is used up".into(),
                retry_after: Some(left),
            });
        }
        if let Admission::Refused { retry_after } = self.breaker.admit() {
            return all(Outcome::Retryable {
                reason: "circuit open after repeated vendor failures".into(),
                retry_after: Some(retry_after),
            });
        }
        let Ok(_permit) = self.in_flight.acquire().await else {
            return all(Outcome::retryable("lane closed"));
        };
        let vendor = field_of(self.dispatcher.vendor());
        let labels = notifier_attrs(vendor, &self.notifier.name);
        if let Some(limiter) = &self.limiter {
            let waiting = Instant::now();
            limiter.until_ready().await;
            metrics()
                .limiter_wait
                .record(waiting.elapsed().as_secs_f64(), &labels);
        }
        let span = tracing::info_span!(
            "vendor.request",
            otel.kind = "client",
            vendor,
            notifier = %self.notifier.name,
            batch_size = batch.len(),
            outcome = tracing::field::Empty,
        );
        let started = Instant::now();
        let mut answers = match tokio::time::timeout(
            self.call_timeout,
            self.dispatcher
                .send(batch, message)
                .instrument(span.clone()),
        )
        .await
        {
            Ok(answers) => answers,
            Err(_) => all(Outcome::retryable("vendor request timed out")),
        };
        metrics()
            .vendor_duration
            .record(started.elapsed().as_secs_f64(), &labels);
        span.record("outcome", outcome_summary(&answers).as_str());
        if answers.len() != batch.len() {
            // A dispatcher bug must not lose devices: whatever is missing counts as failed transiently.
            answers.resize(
                batch.len(),
                Answered::unanswered(Outcome::retryable("vendor answer did not cover the device")),
            );
        }
        self.breaker.record(
            answers
                .iter()
                .all(|a| matches!(a.outcome, Outcome::Retryable { .. })),
        );
        let circuit = match self.breaker.state() {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        };
        metrics().circuit_state.record(circuit, &labels);
        if let Some(quota) = answers
            .iter()
            .find(|a| matches!(a.outcome, Outcome::QuotaExceeded { .. }))
        {
            let pause = quota.outcome.retry_after().unwrap_or(self.quota_pause);
            if let Ok(mut until) = self.quota_until.lock() {
                *until = Some(Instant::now() + pause);
            }
        }
        answers
    }

    fn quota_left(&self) -> Option<Duration> {
        let until = (*self.quota_until.lock().ok()?)?;
        until.checked_duration_since(Instant::now())
    }
}

/// A batch's outcomes for its span: the one kind when all agree, else each kind with its count.
fn outcome_summary(answers: &[Answered]) -> String {
    let mut kinds: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for a in answers {
        *kinds.entry(a.outcome.kind()).or_default() += 1;
    }
    match kinds.len() {
        1 => kinds.into_keys().next().unwrap_or_default().to_owned(),
        _ => kinds
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect::<Vec<_>>()
            .join(","),
    }
}
