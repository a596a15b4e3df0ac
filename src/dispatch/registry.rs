//! The lanes of every notifier, built on first use and rebuilt when the notifier changes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use super::{
    DispatchConfig, DispatchError, Dispatcher, Lane, apns, fcm, honor, huawei, meizu, oppo, vivo,
    xiaomi,
};
use crate::{
    cluster::Membership,
    notifier::{Notifiers, OpenedNotifier},
    proto::v1::notifier::Credentials,
};

/// What a lane shares with the other replicas of the deployment.
#[derive(Clone, Default)]
pub struct Sharing {
    /// Where APNs provider tokens are shared (none: signed here).
    pub tokens: Option<apns::TokenShare>,
    /// The replicas sending for each notifier, this one included, which divide its QPS (0 or 1: alone).
    pub replicas: u64,
}

/// A lane and the replica count its QPS was divided by.
type BuiltLane = (Arc<Lane>, u64);

/// Dispatch for the whole server: finds a notifier's lane.
pub struct Dispatch {
    notifiers: Notifiers,
    config: DispatchConfig,
    global_ca_pem: String,
    /// Each lane by (app, notifier), with the replica count its QPS was divided by.
    lanes: Mutex<HashMap<(String, String), BuiltLane>>,
    /// Where the replicas share APNs provider tokens.
    share: Option<apns::TokenShare>,
    /// This replica's membership, whose live replicas share each notifier's QPS.
    membership: Option<Membership>,
}

impl Dispatch {
    /// Dispatch over `notifiers` with `config`; reads the configured extra CA file now, so a bad one stops
    /// the server at start rather than failing pushes later.
    pub fn new(notifiers: Notifiers, config: DispatchConfig) -> Result<Self, DispatchError> {
        config.check().map_err(DispatchError::Tls)?;
        let global_ca_pem = match &config.extra_ca_certificates_file {
            Some(path) => std::fs::read_to_string(path).map_err(|source| DispatchError::Read {
                path: path.clone(),
                source,
            })?,
            None => String::new(),
        };
        // Parse it once up front for the same reason.
        super::client(super::ClientOptions {
            extra_ca_pems: &[&global_ca_pem],
            identity: None,
            http2_only: false,
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
            egress: None,
        })?;
        Ok(Self {
            notifiers,
            config,
            global_ca_pem,
            lanes: Mutex::new(HashMap::new()),
            share: None,
            membership: None,
        })
    }

    /// Dispatch as one replica of `membership`'s deployment: each notifier's QPS is divided among the live
    /// replicas (its lanes are rebuilt when they come or go), and APNs provider tokens are shared through
    /// `tokens`, one per key for the deployment, as Apple wants.
    pub fn in_cluster(mut self, membership: Membership, tokens: apns::TokenShare) -> Self {
        self.share = Some(tokens);
        self.membership = Some(membership);
        self
    }

    /// The server-wide extra CA certificates (PEM), trusted for other outgoing requests too (callbacks).
    pub fn extra_ca_pem(&self) -> &str {
        &self.global_ca_pem
    }

    /// The lane of notifier `name` of `app`, or `None` when the notifier does not exist. The notifier is read
    /// on every call (one store read) so that an update or a deletion takes effect on the next push; the lane,
    /// with its connections and cached credentials, is kept while the notifier stays the same.
    pub async fn lane(&self, app: &str, name: &str) -> Result<Option<Arc<Lane>>, DispatchError> {
        let key = (app.to_owned(), name.to_owned());
        let Some(opened) = self.notifiers.load(app, name).await? else {
            if let Ok(mut lanes) = self.lanes.lock() {
                lanes.remove(&key);
            }
            return Ok(None);
        };
        let replicas = self.membership.as_ref().map_or(1, Membership::live_count);
        if let Ok(lanes) = self.lanes.lock()
            && let Some((lane, built_for)) = lanes.get(&key)
            && lane.notifier() == &opened.public
            && *built_for == replicas
        {
            return Ok(Some(lane.clone()));
        }
        // The operator may have narrowed what notifiers may reach since this one was saved, and an address
        // literal never meets the resolver's check: judge the stored URLs before any connection.
        self.notifiers
            .endpoint_rules()
            .check_stored(&opened.public, &opened.credentials)
            .map_err(DispatchError::Endpoint)?;
        let sharing = Sharing {
            tokens: self.share.clone(),
            replicas,
        };
        let lane = Arc::new(build_lane(
            opened,
            &self.config,
            &self.global_ca_pem,
            &sharing,
        )?);
        if let Ok(mut lanes) = self.lanes.lock() {
            lanes.insert(key, (lane.clone(), replicas));
        }
        Ok(Some(lane))
    }
}

/// A lane for an opened notifier: its vendor's dispatcher behind the shared guards. `global_ca_pem` holds the
/// server-wide extra CAs (may be empty); `sharing`, what it shares with other replicas (default: none).
pub fn build_lane(
    opened: OpenedNotifier,
    config: &DispatchConfig,
    global_ca_pem: &str,
    sharing: &Sharing,
) -> Result<Lane, DispatchError> {
    let OpenedNotifier {
        public,
        credentials,
    } = opened;
    let dispatcher: Arc<dyn Dispatcher> = match credentials {
        Credentials::Apns(c) => Arc::new(apns::ApnsDispatcher::new(
            &public,
            c,
            config,
            global_ca_pem,
            sharing.tokens.clone(),
        )?),
        Credentials::Fcm(c) => {
            Arc::new(fcm::FcmDispatcher::new(&public, c, config, global_ca_pem)?)
        }
        Credentials::Huawei(c) => Arc::new(huawei::HuaweiDispatcher::new(
            &public,
            c,
            config,
            global_ca_pem,
        )?),
        Credentials::Honor(c) => Arc::new(honor::HonorDispatcher::new(
            &public,
            c,
            config,
            global_ca_pem,
        )?),
        Credentials::Xiaomi(c) => Arc::new(xiaomi::XiaomiDispatcher::new(
            &public,
            c,
            config,
            global_ca_pem,
        )?),
        Credentials::Oppo(c) => Arc::new(oppo::OppoDispatcher::new(
            &public,
            c,
            config,
            global_ca_pem,
        )?),
        Credentials::Vivo(c) => Arc::new(vivo::VivoDispatcher::new(
            &public,
            c,
            config,
            global_ca_pem,
        )?),
        Credentials::Meizu(c) => Arc::new(meizu::MeizuDispatcher::new(
            &public,
            c,
            config,
            global_ca_pem,
        )?),
    };
    Ok(Lane::one_of(public, dispatcher, config, sharing.replicas))
}
