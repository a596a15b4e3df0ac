//! `dispatch`: a lane per fake vendor, N devices each, as fast as the lane's guards allow.
//!
//! The fakes run in this process on their own runtime and threads (`pg-sandbox*`), the dispatchers on another
//! (`pg-gateway*`), so the CPU of each side is read from its threads' counters. Both share the machine's cores,
//! as a gateway and a nearby vendor would not: the figures are a floor for the gateway, not a ceiling.

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow};
use pushgate::{
    dispatch::{DispatchConfig, Outcome, Rendered, Sharing, build_lane},
    notifier::OpenedNotifier,
    proto::v1::{Notifier, PushMessage},
    sandbox::{Sandbox, SandboxConfig},
    store::bindings::BindingRecord,
};

use crate::{machine, report::Run};

/// Options of the dispatch scenario.
#[derive(clap::Args)]
pub struct Args {
    /// Devices pushed per vendor.
    #[arg(long, default_value_t = 20_000)]
    devices: usize,
    /// Vendor requests in flight per notifier.
    #[arg(long, default_value_t = 1000)]
    in_flight: usize,
    /// Which sandbox notifiers to measure (names from the sandbox's ready-made notifiers).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sandbox-apns-token,sandbox-apns-cert,sandbox-fcm,sandbox-huawei,sandbox-honor,sandbox-xiaomi,sandbox-oppo,sandbox-vivo,sandbox-meizu"
    )]
    notifiers: Vec<String>,
}

struct Figures {
    name: String,
    delivered: usize,
    wall: Duration,
    gateway_cpu: f64,
    sandbox_cpu: f64,
}

/// Runs the scenario and returns its report.
pub fn run(args: Args, command: String) -> Result<Run> {
    let fakes = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("pg-sandbox")
        .enable_all()
        .build()?;
    let gateway = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pg-gateway")
        .enable_all()
        .build()?;
    let sandbox = fakes
        .block_on(Sandbox::start(SandboxConfig {
            host: Ipv4Addr::LOCALHOST.into(),
            control_port: 0,
            apns_port: 0,
            fcm_port: 0,
            max_recorded: 0,
            ..SandboxConfig::default()
        }))
        .context("starting the sandbox")?;
    for core in [
        sandbox.apns().core(),
        sandbox.fcm().core(),
        sandbox.huawei().core(),
        sandbox.honor().core(),
        sandbox.xiaomi().core(),
        sandbox.oppo().core(),
        sandbox.vivo().core(),
        sandbox.meizu().core(),
    ] {
        core.set_recording(false);
    }
    let ready = sandbox.notifiers();
    let mut figures = Vec::new();
    for name in &args.notifiers {
        let notifier = ready
            .iter()
            .find(|n| &n.name == name)
            .cloned()
            .ok_or_else(|| anyhow!("the sandbox has no notifier {name}"))?;
        // Spawned, so the dispatch runs on the gateway's named threads rather than on this one.
        let (devices, in_flight) = (args.devices, args.in_flight);
        let f = gateway
            .block_on(async move { tokio::spawn(measure(notifier, devices, in_flight)).await })??;
        println!(
            "dispatch {}: {} of {} delivered in {:.2} s = {:.0} sends/s; gateway CPU {:.2} µs/send, fake CPU {:.2} µs/send",
            f.name,
            f.delivered,
            args.devices,
            f.wall.as_secs_f64(),
            args.devices as f64 / f.wall.as_secs_f64(),
            f.gateway_cpu * 1e6 / args.devices as f64,
            f.sandbox_cpu * 1e6 / args.devices as f64,
        );
        figures.push(f);
    }
    Ok(Run {
        title: "dispatch: one dispatcher straight to each fake vendor".into(),
        command,
        machine: machine::describe(),
        columns: [
            "notifier",
            "devices",
            "delivered",
            "wall s",
            "sends/s",
            "gateway CPU µs/send",
            "fake CPU µs/send",
        ]
        .map(String::from)
        .to_vec(),
        rows: figures
            .iter()
            .map(|f| {
                vec![
                    f.name.clone(),
                    args.devices.to_string(),
                    f.delivered.to_string(),
                    format!("{:.2}", f.wall.as_secs_f64()),
                    format!("{:.0}", args.devices as f64 / f.wall.as_secs_f64()),
                    format!("{:.2}", f.gateway_cpu * 1e6 / args.devices as f64),
                    format!("{:.2}", f.sandbox_cpu * 1e6 / args.devices as f64),
                ]
            })
            .collect(),
        notes: vec![
            format!(
                "In-process fakes on 1 runtime thread, dispatchers on 2; one lane per notifier, {} requests in flight, \
             no rate limit (qps_limit raised to the maximum), recording off, TLS and HTTP/2 as in production.",
                args.in_flight
            ),
            format!(
                "Peak RSS of the whole process (fakes included): {:.0} MiB.",
                machine::peak_rss_mib()
            ),
        ],
    })
}

async fn measure(notifier: Notifier, devices: usize, in_flight: usize) -> Result<Figures> {
    let config = DispatchConfig {
        max_in_flight_per_notifier: in_flight,
        ..Default::default()
    };
    let credentials = notifier
        .credentials
        .clone()
        .ok_or_else(|| anyhow!("{} has no credentials", notifier.name))?;
    let public = Notifier {
        credentials: None,
        qps_limit: 1_000_000,
        ..notifier
    };
    let name = public.name.clone();
    let lane = build_lane(
        OpenedNotifier {
            public,
            credentials,
        },
        &config,
        "",
        &Sharing::default(),
    )?;
    // Each vendor's token shape: APNs hex, FCM's long registration tokens, plain letters and digits for the rest.
    let token = |n: usize| match name.as_str() {
        apns if apns.contains("apns") => format!("{n:064x}"),
        fcm if fcm.contains("fcm") => format!("bench{n:07}:APA91b{}", "x".repeat(140)),
        _ => format!("bench{n:010}"),
    };
    let devices: Vec<BindingRecord> = (0..devices)
        .map(|n| BindingRecord {
            device_token: token(n),
            ..Default::default()
        })
        .collect();
    let message = Rendered::now(
        "bench",
        PushMessage {
            title: "Benchmark".into(),
            content: "A push of ordinary size, with a title, a body and a little custom data."
                .into(),
            ext: [("conversation".to_string(), "c-1".to_string())].into(),
            ..Default::default()
        },
    );
    // Warm up: connections, TLS sessions, credentials. Another message id, since vendors that de-duplicate
    // by request id (vivo) would refuse the measured pushes to these devices as repeats.
    let warm_up = Rendered {
        id: "bench-warm-up".into(),
        ..message.clone()
    };
    lane.dispatch(&devices[..devices.len().min(1000)], &warm_up)
        .await;

    let (gateway0, sandbox0) = (
        machine::thread_cpu_seconds("pg-gateway"),
        machine::thread_cpu_seconds("pg-sandbox"),
    );
    let start = Instant::now();
    let reports = lane.dispatch(&devices, &message).await;
    let wall = start.elapsed();
    let delivered = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Delivered { .. }))
        .count();
    Ok(Figures {
        name,
        delivered,
        wall,
        gateway_cpu: machine::thread_cpu_seconds("pg-gateway") - gateway0,
        sandbox_cpu: machine::thread_cpu_seconds("pg-sandbox") - sandbox0,
    })
}
