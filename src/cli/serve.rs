//! `pushgate serve`, `pushgate sandbox` and `pushgate config`: the commands that run or describe a server
//! in this process rather than talk to one.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use pushgate::{
    config::Config,
    egress::Entry,
    sandbox::{Sandbox, SandboxConfig},
};

/// Ports and output directory of the sandbox vendors.
#[derive(Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Address the fakes listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port of the plain-HTTP control API.
    #[arg(long, default_value_t = 8600)]
    pub control_port: u16,
    /// Port of the APNs fake.
    #[arg(long, default_value_t = 8601)]
    pub apns_port: u16,
    /// Port of the FCM fake.
    #[arg(long, default_value_t = 8602)]
    pub fcm_port: u16,
    /// Port of the Huawei Push Kit fake.
    #[arg(long, default_value_t = 8603)]
    pub huawei_port: u16,
    /// Port of the Honor Push fake.
    #[arg(long, default_value_t = 8604)]
    pub honor_port: u16,
    /// Port of the Xiaomi MiPush fake.
    #[arg(long, default_value_t = 8605)]
    pub xiaomi_port: u16,
    /// Port of the OPPO fake.
    #[arg(long, default_value_t = 8606)]
    pub oppo_port: u16,
    /// Port of the vivo fake.
    #[arg(long, default_value_t = 8607)]
    pub vivo_port: u16,
    /// Port of the Meizu fake.
    #[arg(long, default_value_t = 8608)]
    pub meizu_port: u16,
    /// Where `ca.pem` and `notifiers.json` are written.
    #[arg(long, default_value = "./pushgate-sandbox")]
    pub out_dir: PathBuf,
}

impl Default for SandboxArgs {
    fn default() -> Self {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            args: SandboxArgs,
        }
        Defaults::parse_from(["defaults"]).args
    }
}

/// The config subcommands.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets redacted).
    Print {
        /// TOML config file.
        #[arg(long, env = "PUSHGATE_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Runs the server until SIGINT or SIGTERM, with the sandbox vendors beside it if asked.
pub async fn serve(config_path: Option<PathBuf>, sandbox: bool) -> Result<()> {
    let mut config = Config::load(config_path.as_deref())?;
    // Kept until the server returns: dropping it flushes the exporters.
    let _telemetry = pushgate::telemetry::init(&config.log.filter, &config.telemetry)?;
    // Kept alive until the server returns; dropping it with the process ends the fakes.
    let sandbox = match sandbox {
        true => Some(start_sandbox(&SandboxArgs::default()).await?),
        false => None,
    };
    if let Some(sandbox) = &sandbox {
        // The sandbox's notifiers work as written: their fakes' ports (and only those) are allowed, and so
        // is the CA each of them carries. Nothing else on this machine becomes reachable.
        let dispatch = &mut config.dispatch;
        dispatch.allowed_endpoints = dispatch.allowed_endpoints.allowing(fake_endpoints(sandbox));
        dispatch.allow_notifier_ca_certificates = true;
        // Easemob's REST API too, so its documentation's examples run against the sandbox as they are.
        config.rest.enabled = true;
    }
    pushgate::server::run(config, shutdown_signal()).await?;
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    Ok(())
}

/// Runs the sandbox vendors until SIGINT or SIGTERM.
pub async fn sandbox(args: SandboxArgs) -> Result<()> {
    let sandbox = start_sandbox(&args).await?;
    shutdown_signal().await;
    sandbox.shutdown().await;
    Ok(())
}

/// Prints the effective configuration.
pub fn config(command: ConfigCommand) -> Result<()> {
    match command {
        ConfigCommand::Print { config } => {
            let config = Config::load(config.as_deref())?;
            print!("{}", config.to_redacted_toml());
        }
    }
    Ok(())
}

/// Starts the sandbox vendors, writes their CA and notifier bodies to the out dir, and prints how to use
/// them.
async fn start_sandbox(args: &SandboxArgs) -> Result<Sandbox> {
    let sandbox = Sandbox::start(SandboxConfig {
        host: args.host,
        control_port: args.control_port,
        apns_port: args.apns_port,
        fcm_port: args.fcm_port,
        huawei_port: args.huawei_port,
        honor_port: args.honor_port,
        xiaomi_port: args.xiaomi_port,
        oppo_port: args.oppo_port,
        vivo_port: args.vivo_port,
        meizu_port: args.meizu_port,
        ..SandboxConfig::default()
    })
    .await
    .context("cannot start the sandbox vendors")?;
    let (ca, notifiers) = sandbox
        .write_files(&args.out_dir)
        .with_context(|| format!("cannot write into {}", args.out_dir.display()))?;
    // The whole description (every fake's URLs, the control API, each notifier's JSON with its keys) goes to
    // a file; the terminal gets the few lines a first start needs, so the server's own lines (where the
    // admin token is) are not scrolled away.
    let details = args.out_dir.join(DETAILS_FILE);
    std::fs::write(&details, sandbox.describe(&ca, &notifiers))
        .with_context(|| format!("cannot write {}", details.display()))?;
    print!("{}", summary(&sandbox, &notifiers, &ca, &details));
    Ok(sandbox)
}

/// Where `serve --sandbox` and `sandbox` write the full description of the fakes.
pub const DETAILS_FILE: &str = "sandbox.txt";

/// The sandbox in a few lines: what runs, and the files to use.
fn summary(sandbox: &Sandbox, notifiers: &Path, ca: &Path, details: &Path) -> String {
    let names: Vec<String> = sandbox.notifiers().into_iter().map(|n| n.name).collect();
    format!(
        "pushgate sandbox: fake APNs, FCM, Huawei, Honor, Xiaomi, OPPO, vivo and Meizu are running \
         (control API {control})\n\
         \x20 notifiers: {notifiers} ({names}); create them with\n\
         \x20            pushgate notifier create --from-json {notifiers}\n\
         \x20 CA:        {ca}\n\
         \x20 details:   {details} (every fake's URLs, the control API, faults)\n",
        control = sandbox.control_url(),
        notifiers = notifiers.display(),
        names = names.join(", "),
        ca = ca.display(),
        details = details.display(),
    )
}

/// The `host:port` of every URL the sandbox's notifiers name.
fn fake_endpoints(sandbox: &Sandbox) -> Vec<Entry> {
    sandbox
        .notifiers()
        .iter()
        .flat_map(|n| [n.send_base_url.clone(), n.token_base_url.clone()])
        .filter_map(|url| {
            let uri: http::Uri = url.parse().ok()?;
            format!("{}:{}", uri.host()?, uri.port_u16()?).parse().ok()
        })
        .collect()
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
