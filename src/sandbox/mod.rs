//! Fake vendor servers that check requests the way the real vendors do (auth, signatures, required
//! fields, limits) and answer in the vendors' own shapes, for tests, benchmarks and demos.
//!
//! [`Sandbox::start`] brings up every fake on loopback TLS (a CA generated at start signs their
//! certificates), mints credentials they accept, and serves a plain-HTTP control API to inject faults,
//! invalidate device tokens and read what they received. Adding a vendor takes a module with its checks
//! and answers over a [`core::FakeCore`], handed out as a [`handle::Fake`] and served by
//! [`tls::spawn_server`].

pub mod apns;
pub mod batch;
pub mod client_credentials;
pub mod cnkit;
pub mod control;
pub mod core;
pub mod fault;
pub mod fcm;
pub mod form;
pub mod handle;
pub mod honor;
pub mod huawei;
pub mod meizu;
pub mod notifiers;
pub mod oppo;
pub mod record;
pub mod tls;
pub mod tokens;
pub mod vivo;
pub mod xiaomi;

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

pub use apns::{ApnsClientCertificate, ApnsFake, ApnsTokenKey};
pub use core::FakeCore;
pub use fault::{FaultAction, FaultRule};
pub use fcm::FcmFake;
pub use honor::{HonorApp, HonorFake};
pub use huawei::{HuaweiApp, HuaweiFake};
pub use meizu::{MeizuApp, MeizuFake};
pub use notifiers::{SANDBOX_PACKAGE, SANDBOX_PROJECT, SANDBOX_TOPIC};
pub use oppo::{OppoApp, OppoFake};
pub use record::{FakeStats, RecordedRequest};
pub use vivo::{VivoApp, VivoFake};
pub use xiaomi::{XiaomiApp, XiaomiFake};

use crate::proto::v1::Notifier;
use control::VendorControl;
use tls::{HttpVersions, Pki};

/// How long shutdown waits for the servers' tasks to end.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the sandbox could not start or mint something.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Other I/O (reading a bound address, writing files).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Generating a certificate or key pair failed.
    #[error("certificate generation: {0}")]
    Certificate(#[from] rcgen::Error),
    /// Building a TLS configuration failed.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// Generating or encoding a signing key failed.
    #[error("key: {0}")]
    Key(String),
    /// A background task failed.
    #[error("task: {0}")]
    Task(String),
}

/// Where the fakes listen.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    /// Address every fake binds (default 127.0.0.1).
    pub host: IpAddr,
    /// Port of the plain-HTTP control API (0 = any free port).
    pub control_port: u16,
    /// Port of the APNs fake (0 = any free port).
    pub apns_port: u16,
    /// Port of the FCM fake (0 = any free port).
    pub fcm_port: u16,
    /// Port of the Huawei Push Kit fake (0 = any free port).
    pub huawei_port: u16,
    /// Port of the Honor Push fake (0 = any free port).
    pub honor_port: u16,
    /// Port of the Xiaomi MiPush fake (0 = any free port).
    pub xiaomi_port: u16,
    /// Port of the OPPO fake (0 = any free port).
    pub oppo_port: u16,
    /// Port of the vivo fake (0 = any free port).
    pub vivo_port: u16,
    /// Port of the Meizu fake (0 = any free port).
    pub meizu_port: u16,
    /// Requests each fake remembers (a ring: the oldest are dropped).
    pub max_recorded: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            control_port: 0,
            apns_port: 0,
            fcm_port: 0,
            huawei_port: 0,
            honor_port: 0,
            xiaomi_port: 0,
            oppo_port: 0,
            vivo_port: 0,
            meizu_port: 0,
            max_recorded: record::DEFAULT_MAX_RECORDED,
        }
    }
}

/// The running fakes.
pub struct Sandbox {
    pki: Arc<Pki>,
    apns: ApnsFake,
    fcm: FcmFake,
    huawei: HuaweiFake,
    honor: HonorFake,
    xiaomi: XiaomiFake,
    oppo: OppoFake,
    vivo: VivoFake,
    meizu: MeizuFake,
    control_addr: SocketAddr,
    notifiers: Vec<Notifier>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind(host: IpAddr, port: u16) -> Result<TcpListener, SandboxError> {
    let addr = SocketAddr::new(host, port);
    TcpListener::bind(addr)
        .await
        .map_err(|source| SandboxError::Bind { addr, source })
}

impl Sandbox {
    /// Starts every fake and the control API, and mints the ready-made notifiers' credentials.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let host = config.host;
        let pki = Arc::new(
            tokio::task::spawn_blocking(move || Pki::generate(host))
                .await
                .map_err(|e| SandboxError::Task(e.to_string()))??,
        );
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut launcher = Launcher {
            host,
            max_recorded: config.max_recorded,
            pki: pki.clone(),
            shutdown: shutdown_rx.clone(),
            tasks: Vec::new(),
        };

        // APNs speaks only HTTP/2 and asks for client certificates (certificate-based provider auth).
        let apns_pki = pki.clone();
        let apns = launcher
            .serve(
                "apns",
                config.apns_port,
                HttpVersions::Http2Only,
                true,
                |core| ApnsFake::new(core, apns_pki),
            )
            .await?;
        let both = HttpVersions::Both;
        let fcm = launcher
            .serve("fcm", config.fcm_port, both, false, FcmFake::new)
            .await?;
        let huawei = launcher
            .serve("huawei", config.huawei_port, both, false, HuaweiFake::new)
            .await?;
        let honor = launcher
            .serve("honor", config.honor_port, both, false, HonorFake::new)
            .await?;
        let xiaomi = launcher
            .serve("xiaomi", config.xiaomi_port, both, false, XiaomiFake::new)
            .await?;
        let oppo = launcher
            .serve("oppo", config.oppo_port, both, false, OppoFake::new)
            .await?;
        let vivo = launcher
            .serve("vivo", config.vivo_port, both, false, VivoFake::new)
            .await?;
        let meizu = launcher
            .serve("meizu", config.meizu_port, both, false, MeizuFake::new)
            .await?;
        let mut tasks = launcher.tasks;

        let minting = fcm.clone();
        let service_account_json =
            tokio::task::spawn_blocking(move || minting.mint_service_account(SANDBOX_PROJECT))
                .await
                .map_err(|e| SandboxError::Task(e.to_string()))??;
        let notifiers = notifiers::ready_made(notifiers::Minted {
            ca_pem: pki.ca_pem(),
            apns_url: apns.base_url(),
            token_key: apns.mint_token_key(SANDBOX_TOPIC)?,
            certificate: apns.mint_certificate(SANDBOX_TOPIC)?,
            fcm: &fcm,
            service_account_json,
        });
        let mut notifiers = notifiers;
        notifiers.extend(notifiers::ready_made_cn(notifiers::MintedCn {
            ca_pem: pki.ca_pem(),
            huawei_url: huawei.base_url(),
            huawei: huawei.mint_app(),
            honor_url: honor.base_url(),
            honor: honor.mint_app(),
            xiaomi_url: xiaomi.base_url(),
            xiaomi: xiaomi.mint_app(SANDBOX_PACKAGE),
        }));
        notifiers.extend(notifiers::ready_made_cn2(
            pki.ca_pem(),
            (oppo.base_url(), oppo.mint_app()),
            (vivo.base_url(), vivo.mint_app()),
            (meizu.base_url(), meizu.mint_app()),
        ));

        let control_listener = bind(host, config.control_port).await?;
        let control_addr = control_listener.local_addr()?;
        let vendors = BTreeMap::from([
            (
                "apns",
                VendorControl::of(&apns, ApnsFake::expire_provider_tokens),
            ),
            (
                "fcm",
                VendorControl::of(&fcm, FcmFake::expire_access_tokens),
            ),
            (
                "huawei",
                VendorControl::of(&huawei, HuaweiFake::expire_access_tokens),
            ),
            (
                "honor",
                VendorControl::of(&honor, HonorFake::expire_access_tokens),
            ),
            // MiPush has no expiring credentials: the app secret is all.
            ("xiaomi", VendorControl::of(&xiaomi, |_| {})),
            (
                "oppo",
                VendorControl::of(&oppo, OppoFake::expire_auth_tokens),
            ),
            (
                "vivo",
                VendorControl::of(&vivo, VivoFake::expire_auth_tokens),
            ),
            // Meizu signs every request with the app secret: it issues nothing that could expire.
            ("meizu", VendorControl::of(&meizu, |_| {})),
        ]);
        let control_state = Arc::new(control::ControlState {
            vendors,
            apns: apns.clone(),
            fcm: fcm.clone(),
            huawei: huawei.clone(),
            honor: honor.clone(),
            xiaomi: xiaomi.clone(),
            notifiers: serde_json::Value::Array(notifiers.iter().map(notifiers::to_json).collect()),
            ca_pem: pki.ca_pem().to_owned(),
        });
        let control_router = control::router(control_state)
            .merge(cnkit::control_router("oppo", oppo.clone()))
            .merge(cnkit::control_router("vivo", vivo.clone()))
            .merge(cnkit::control_router("meizu", meizu.clone()));
        let mut control_shutdown = shutdown_rx;
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(control_listener, control_router)
                .with_graceful_shutdown(async move {
                    let _ = control_shutdown.changed().await;
                })
                .await;
        }));

        Ok(Sandbox {
            pki,
            apns,
            fcm,
            huawei,
            honor,
            xiaomi,
            oppo,
            vivo,
            meizu,
            control_addr,
            notifiers,
            shutdown,
            tasks,
        })
    }

    /// PEM of the CA that signed every fake's server certificate.
    pub fn ca_certificate_pem(&self) -> &str {
        self.pki.ca_pem()
    }

    /// `http://host:port` of the control API.
    pub fn control_url(&self) -> String {
        format!("http://{}", self.control_addr)
    }

    /// The APNs fake.
    pub fn apns(&self) -> &ApnsFake {
        &self.apns
    }

    /// The FCM fake.
    pub fn fcm(&self) -> &FcmFake {
        &self.fcm
    }

    /// The Huawei Push Kit fake.
    pub fn huawei(&self) -> &HuaweiFake {
        &self.huawei
    }

    /// The Honor Push fake.
    pub fn honor(&self) -> &HonorFake {
        &self.honor
    }

    /// The Xiaomi MiPush fake.
    pub fn xiaomi(&self) -> &XiaomiFake {
        &self.xiaomi
    }

    /// The OPPO fake.
    pub fn oppo(&self) -> &OppoFake {
        &self.oppo
    }

    /// The vivo fake.
    pub fn vivo(&self) -> &VivoFake {
        &self.vivo
    }

    /// The Meizu fake.
    pub fn meizu(&self) -> &MeizuFake {
        &self.meizu
    }

    /// Ready-to-create notifiers pointing at the fakes, with credentials they accept:
    /// `sandbox-apns-token`, `sandbox-apns-cert`, `sandbox-fcm`, `sandbox-huawei`, `sandbox-honor`,
    /// `sandbox-xiaomi`, `sandbox-oppo`, `sandbox-vivo` and `sandbox-meizu`.
    pub fn notifiers(&self) -> Vec<Notifier> {
        self.notifiers.clone()
    }

    /// The ready-made notifiers as `CreateNotifier` request bodies in proto3 JSON.
    pub fn create_notifier_bodies(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.notifiers
                .iter()
                .map(|n| serde_json::json!({ "notifier": notifiers::to_json(n) }))
                .collect(),
        )
    }

    /// Writes `ca.pem` and `notifiers.json` (the `CreateNotifier` bodies) into `dir`, creating it; returns
    /// their paths.
    pub fn write_files(&self, dir: &Path) -> Result<(PathBuf, PathBuf), SandboxError> {
        std::fs::create_dir_all(dir)?;
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, self.ca_certificate_pem())?;
        let notifiers = dir.join("notifiers.json");
        let text = serde_json::to_string_pretty(&self.create_notifier_bodies())
            .map_err(|e| SandboxError::Io(e.into()))?;
        std::fs::write(&notifiers, text)?;
        Ok((ca, notifiers))
    }

    /// What a person needs to point pushgate at the fakes and steer them; `ca_path` and `notifiers_path`
    /// are where [`Sandbox::write_files`] put the files.
    pub fn describe(&self, ca_path: &Path, notifiers_path: &Path) -> String {
        let control = self.control_url();
        let mut out = String::new();
        out.push_str("pushgate sandbox vendors are running.\n\n");
        out.push_str(&format!(
            "CA certificate (trust it for every fake): {}\n",
            ca_path.display()
        ));
        out.push_str(&format!(
            "CreateNotifier bodies for all of them:     {}\n\n",
            notifiers_path.display()
        ));
        for n in &self.notifiers {
            out.push_str(&format!("notifier {}:\n", n.name));
            out.push_str(&format!(
                "  send_base_url:             {}\n",
                n.send_base_url
            ));
            if !n.token_base_url.is_empty() {
                out.push_str(&format!(
                    "  token_base_url:            {}\n",
                    n.token_base_url
                ));
            }
            out.push_str(&format!(
                "  extra_ca_certificates_pem: contents of {}\n",
                ca_path.display()
            ));
            out.push_str(&format!(
                "  json: {}\n\n",
                serde_json::json!({ "notifier": notifiers::to_json(n) })
            ));
        }
        out.push_str(&format!(
            "APNs fake: {}/3/device/{{hex token}}\n",
            self.apns.base_url()
        ));
        out.push_str(&format!(
            "FCM fake:  {}/v1/projects/{SANDBOX_PROJECT}/messages:send (token URI {})\n",
            self.fcm.base_url(),
            self.fcm.token_uri()
        ));
        out.push_str(&format!(
            "Huawei fake: {}/v1/{{appId}}/messages:send (token {})\n",
            self.huawei.base_url(),
            self.huawei.token_url()
        ));
        out.push_str(&format!(
            "Honor fake:  {}/api/v1/{{appId}}/sendMessage (token {})\n",
            self.honor.base_url(),
            self.honor.token_url()
        ));
        out.push_str(&format!("Xiaomi fake: {}\n\n", self.xiaomi.send_url()));
        out.push_str(&format!(
            "OPPO fake:  {}{} (auth {})\n",
            self.oppo.base_url(),
            oppo::UNICAST_PATH,
            oppo::AUTH_PATH
        ));
        out.push_str(&format!(
            "vivo fake:  {}{} (auth {})\n",
            self.vivo.base_url(),
            vivo::SEND_PATH,
            vivo::AUTH_PATH
        ));
        out.push_str(&format!(
            "Meizu fake: {}{}\n\n",
            self.meizu.base_url(),
            meizu::PUSH_PATH
        ));
        out.push_str(&format!(
            "Control API ({control}), VENDOR = apns | fcm | huawei | honor | xiaomi | oppo | vivo | meizu:\n"
        ));
        for line in [
            "  POST   /VENDOR/faults              {\"device_token\":null,\"action\":{\"type\":\"error\",\"status\":503,\"reason\":\"ServiceUnavailable\",\"retry_after_secs\":5},\"times\":1}",
            "                                     (action types: error, delay {\"millis\"}, reset)",
            "  DELETE /VENDOR/faults",
            "  POST   /VENDOR/invalid-tokens      {\"device_token\":\"...\"}",
            "  GET    /VENDOR/requests            DELETE to clear",
            "  GET    /VENDOR/stats",
            "  POST   /VENDOR/expire-credentials",
            "  POST   /VENDOR/recording           {\"on\":false}",
            "  POST   /apns/token-keys            {\"topic\":\"com.example.app\"}",
            "  POST   /apns/certificates          {\"topic\":\"com.example.app\"}",
            "  POST   /fcm/service-accounts       {\"project_id\":\"my-project\"}",
            "  POST   /huawei/apps                (mints app_id + client_secret)",
            "  POST   /honor/apps                 (mints app_id + client_id + client_secret)",
            "  POST   /xiaomi/apps                {\"package_name\":\"com.example.app\"}",
            "  POST   /xiaomi/quota               {\"daily\":100,\"reset_usage\":true}",
            "  POST   /oppo/apps  /vivo/apps  /meizu/apps      (mint app credentials)",
            "  POST   /oppo/daily-quota  /vivo/daily-quota  /meizu/daily-quota  {\"limit\":1000} (null = unlimited)",
            "  GET    /notifiers                  GET /ca.pem",
        ] {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&format!(
            "\nExample: curl -X POST {control}/apns/faults -d '{{\"action\":{{\"type\":\"reset\"}},\"times\":1}}' -H 'content-type: application/json'\n"
        ));
        out
    }

    /// Stops every fake and the control API.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_TIMEOUT, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Starts the fakes one after another: each on its own port, over its own core, served over TLS with the
/// sandbox's server certificate until shutdown.
struct Launcher {
    host: IpAddr,
    max_recorded: usize,
    pki: Arc<Pki>,
    shutdown: watch::Receiver<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Launcher {
    /// Binds `port`, builds the fake `name` over a fresh core with `new`, and serves its router speaking
    /// `versions` (asking for a client certificate when `client_auth`).
    async fn serve<F>(
        &mut self,
        name: &'static str,
        port: u16,
        versions: HttpVersions,
        client_auth: bool,
        new: impl FnOnce(Arc<FakeCore>) -> (F, axum::Router),
    ) -> Result<F, SandboxError> {
        let listener = bind(self.host, port).await?;
        let core = FakeCore::new(name, listener.local_addr()?, self.max_recorded);
        let (fake, router) = new(core.clone());
        self.tasks.push(tls::spawn_server(
            listener,
            self.pki.server_config(versions.alpn(), client_auth)?,
            versions,
            router,
            core,
            self.shutdown.clone(),
        ));
        Ok(fake)
    }
}
