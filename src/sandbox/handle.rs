//! The handle every vendor fake hands out: the vendor's state behind an `Arc`, dereferencing to the shared
//! [`FakeCore`], and the router that hands each request to the vendor's handler.
//!
//! One generic type rather than a struct per vendor, so that what every fake does alike (cloning, reaching
//! the core, being served) is written once; each vendor module adds its own minting and steering methods
//! in an `impl Fake<ItsState>` and names the handle with a type alias (`HuaweiFake`, `OppoFake`, ...).

use std::{ops::Deref, sync::Arc};

use axum::{
    Router,
    extract::{Request, State},
    response::Response,
};

use super::core::FakeCore;

/// What a vendor's handlers share: at least the fake's [`FakeCore`].
pub trait VendorState: Send + Sync + 'static {
    /// The shared core (faults, recording, counters).
    fn core(&self) -> &Arc<FakeCore>;
}

/// Handle on a running vendor fake. Dereferences to the shared [`FakeCore`] for faults, recording and
/// counters.
pub struct Fake<S> {
    pub(super) state: Arc<S>,
}

impl<S> Clone for Fake<S> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
        }
    }
}

impl<S: VendorState> Deref for Fake<S> {
    type Target = FakeCore;

    fn deref(&self) -> &FakeCore {
        self.state.core()
    }
}

impl<S: VendorState> Fake<S> {
    /// A handle on `state` and a router answering every request with `handle`.
    pub(super) fn serve<H, F>(state: S, handle: H) -> (Self, Router)
    where
        H: Fn(Arc<S>, Request) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response> + Send + 'static,
    {
        let state = Arc::new(state);
        let router = Router::new()
            .fallback(move |State(state): State<Arc<S>>, request: Request| handle(state, request))
            .with_state(state.clone());
        (Self { state }, router)
    }

    /// The shared core (faults, recording, counters).
    pub fn core(&self) -> &Arc<FakeCore> {
        self.state.core()
    }
}
