//! Checks the helm chart in helm/pushgate without helm: its YAML files parse, the templates use only values
//! that values.yaml defines (and every value is used and commented), and the manifests rendered for the
//! default values and for the other branches are well-formed Kubernetes objects that deploy pushgate the way
//! it must run: one replica, native gRPC probes, non-root with a read-only root filesystem, and a
//! configuration the server itself accepts.

mod helm;

use std::{collections::BTreeSet, path::PathBuf};

use helm::{
    Chart, Rendered,
    k8s::{assert_known_fields, list_at, named, str_at, string_map},
    value::Val,
};
use pushgate::config::Config;

/// The server's user in the image (distroless `nonroot`).
const NON_ROOT_UID: i64 = 65532;

/// Values that turn on every optional branch of the templates.
const EVERYTHING_ON: &str = r#"
fullnameOverride: gateway
image: {tag: "9.9.9"}
imagePullSecrets: [{name: regcred}]
service: {annotations: {example.com/lb: internal}}
config: {telemetry: {otlpEndpoint: "http://otel-collector.monitoring:4317"}}
secret: {adminToken: "pga_admin-token-for-tests", credentialsKey: "a-credentials-key-of-at-least-32-chars"}
persistence: {storageClass: fast-ssd}
extraEnv: [{name: PUSHGATE_TASKS_MAX_RUNNING, value: "5"}]
podAnnotations: {example.com/team: push}
podLabels: {tier: backend}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: push, effect: NoSchedule}]
affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a]}]}]}}}
serviceMonitor: {enabled: true, labels: {release: prometheus}}
"#;

/// The secrets in a Secret the user manages.
const EXISTING_SECRET: &str = r#"
secret: {existingSecret: pushgate-keys, adminTokenKey: token, adminToken: "ignored", credentialsKey: "ignored"}
"#;

/// The PostgreSQL backend with every key in the chart's Secret.
const POSTGRES: &str = r#"
config: {store: {backend: postgres, postgres: {poolSize: 32, sslMode: verify-full}}}
secret: {adminToken: "pga_admin-token-for-tests", credentialsKey: "a-credentials-key-of-at-least-32-chars", signingKey: "a-signing-key-of-at-least-32-characters", postgresUrl: "postgres://pushgate:pw@db.example:5432/pushgate"}
"#;

/// The PostgreSQL backend with a Secret the user manages.
const POSTGRES_EXISTING_SECRET: &str = r#"
config: {store: {backend: postgres}}
secret: {existingSecret: pushgate-keys}
"#;

/// The admin port turned off, with a ServiceMonitor asked for (it must not appear).
const NO_ADMIN: &str = "config: {admin: {enabled: false}}\nserviceMonitor: {enabled: true}\n";

fn chart() -> Chart {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("helm/pushgate");
    Chart::load(&dir).unwrap_or_else(|e| panic!("the chart does not load: {e}"))
}

fn render(chart: &Chart, release: &str, overlay: &str) -> Rendered {
    chart
        .render(release, overlay)
        .unwrap_or_else(|e| panic!("the chart does not render ({release}, {overlay:?}): {e}"))
}

/// Every variant the tests render: (release name, values overlay).
fn variants() -> [(&'static str, &'static str); 7] {
    [
        ("pushgate", ""),
        ("prod", ""),
        ("pushgate", EVERYTHING_ON),
        ("pushgate", EXISTING_SECRET),
        ("pushgate", NO_ADMIN),
        ("pushgate", POSTGRES),
        ("pushgate", POSTGRES_EXISTING_SECRET),
    ]
}

/// The port of an `address:port` value.
fn port_of(address: &str) -> i64 {
    address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("{address} has no port"))
}

/// `.Values.a.b` paths the templates use, as `a.b`.
fn values_paths(chart: &Chart) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for (_, text) in &chart.files {
        for (at, _) in text.match_indices(".Values.") {
            let rest = &text[at + ".Values.".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(rest.len());
            paths.insert(rest[..end].trim_end_matches('.').to_owned());
        }
    }
    paths
}

/// Paths of values.yaml's leaves: scalars, lists and empty maps.
fn leaf_paths(value: &Val, prefix: &str, out: &mut Vec<String>) {
    match value {
        Val::Map(entries) if !entries.is_empty() => {
            for (key, inner) in entries {
                let path = match prefix {
                    "" => key.clone(),
                    _ => format!("{prefix}.{key}"),
                };
                leaf_paths(inner, &path, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

/// The server configuration the pod would run with: the ConfigMap, the secret variables resolved from the
/// rendered Secret (or, for a Secret the user manages, placeholder values) and extraEnv.
fn pod_environment(rendered: &Rendered) -> Vec<(String, String)> {
    let mut env = string_map(rendered.one("ConfigMap"), "data");
    let container = &list_at(rendered.workload(), "spec.template.spec.containers")[0];
    let secret = rendered.all("Secret").next();
    for var in container.get("env").and_then(Val::as_list).unwrap_or(&[]) {
        let name = str_at(var, "name").to_owned();
        // The pod's name and IP, as the kubelet fills them in.
        match var.at("valueFrom.fieldRef.fieldPath").and_then(Val::as_str) {
            Some("metadata.name") => {
                env.push((name, "pushgate-7d9f8b6c4-x2x7q".to_owned()));
                continue;
            }
            Some("status.podIP") => {
                env.push((name, "10.1.2.3".to_owned()));
                continue;
            }
            _ => {}
        }
        let value = match (var.get("value"), var.at("valueFrom.secretKeyRef")) {
            (Some(Val::Str(value)), None) => value.clone(),
            (None, Some(reference)) => {
                let secret_name = str_at(reference, "name");
                let key = str_at(reference, "key");
                match secret {
                    Some(secret) if str_at(secret, "metadata.name") == secret_name => {
                        let data = string_map(secret, "stringData");
                        data.into_iter()
                            .find(|(k, _)| k == key)
                            .unwrap_or_else(|| panic!("{name}: the Secret has no key {key}"))
                            .1
                    }
                    // A Secret the user manages: any value of the right shape.
                    _ => "x".repeat(40),
                }
            }
            _ => panic!("{name}: neither a string value nor a secretKeyRef"),
        };
        env.push((name, value));
    }
    env
}

#[test]
fn chart_yaml_describes_this_release() {
    let chart = chart();
    let meta = &chart.metadata;
    assert_eq!(str_at(meta, "apiVersion"), "v2", "helm 3 charts are v2");
    assert_eq!(
        str_at(meta, "name"),
        "pushgate",
        "the name is the directory's"
    );
    assert_eq!(str_at(meta, "type"), "application");
    let version = str_at(meta, "version");
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u64>().is_ok()),
        "version {version} is not x.y.z"
    );
    assert_eq!(
        str_at(meta, "appVersion"),
        env!("CARGO_PKG_VERSION"),
        "appVersion (the default image tag) follows Cargo.toml"
    );
}

#[test]
fn every_values_path_the_templates_use_is_in_values_yaml() {
    let chart = chart();
    let used = values_paths(&chart);
    assert!(used.len() > 20, "too few .Values paths found: {used:?}");
    let missing: Vec<&String> = used
        .iter()
        .filter(|path| chart.values.at(path).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "used in templates, missing in values.yaml: {missing:?}"
    );
}

#[test]
fn every_value_is_used_and_commented() {
    let chart = chart();
    let used = values_paths(&chart);
    let mut leaves = Vec::new();
    leaf_paths(&chart.values, "", &mut leaves);
    let unused: Vec<&String> = leaves
        .iter()
        .filter(|leaf| {
            !used
                .iter()
                .any(|u| *leaf == u || leaf.starts_with(&format!("{u}.")))
        })
        .collect();
    assert!(unused.is_empty(), "values no template reads: {unused:?}");

    let lines: Vec<&str> = chart.values_text.lines().collect();
    let mut uncommented = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let is_key = !trimmed.starts_with('#')
            && !trimmed.starts_with('-')
            && trimmed.split_once(':').is_some_and(|(key, _)| {
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        let commented = line.contains(" # ")
            || i.checked_sub(1)
                .is_some_and(|above| lines[above].trim_start().starts_with('#'));
        if is_key && !commented {
            uncommented.push(format!("{}: {line}", i + 1));
        }
    }
    assert!(
        uncommented.is_empty(),
        "values.yaml keys without a comment: {uncommented:#?}"
    );
}

#[test]
fn every_variant_renders_well_formed_manifests() {
    let chart = chart();
    for (release, overlay) in variants() {
        let rendered = render(&chart, release, overlay);
        assert!(!rendered.manifests.is_empty());
        for (file, doc) in &rendered.manifests {
            let what = format!("{file} ({release}, {overlay:?})");
            assert!(!str_at(doc, "apiVersion").is_empty(), "{what}");
            assert!(!str_at(doc, "kind").is_empty(), "{what}");
            let name = str_at(doc, "metadata.name");
            assert!(
                name.len() <= 63
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !name.starts_with('-')
                    && !name.ends_with('-'),
                "{what}: {name:?} is not a DNS label"
            );
            // Kubernetes wants strings in labels and annotations; string_map panics on anything else.
            let labels = string_map(doc, "metadata.labels");
            for key in ["app.kubernetes.io/name", "app.kubernetes.io/instance"] {
                assert!(
                    labels.iter().any(|(k, _)| k == key),
                    "{what}: no {key} label"
                );
            }
            if doc.at("metadata.annotations").is_some() {
                string_map(doc, "metadata.annotations");
            }
            assert_known_fields(&what, doc);
        }
        assert!(
            rendered.notes.contains("port-forward"),
            "NOTES.txt: {}",
            rendered.notes
        );
    }
}

#[test]
fn the_defaults_deploy_a_statefulset_a_service_and_a_configmap() {
    let chart = chart();
    let rendered = render(&chart, "pushgate", "");
    let kinds: BTreeSet<&str> = rendered
        .manifests
        .iter()
        .map(|(_, doc)| str_at(doc, "kind"))
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["ConfigMap", "Service", "StatefulSet"])
    );
    assert_eq!(rendered.manifests.len(), 3);
    // A release named like the chart is not called pushgate-pushgate; another one is prefixed.
    assert_eq!(
        str_at(rendered.one("StatefulSet"), "metadata.name"),
        "pushgate"
    );
    let prod = render(&chart, "prod", "");
    assert_eq!(
        str_at(prod.one("Service"), "metadata.name"),
        "prod-pushgate"
    );
    assert!(
        rendered
            .notes
            .contains("generated one into its data volume")
    );
}

#[test]
fn the_statefulset_runs_one_non_root_read_only_replica_with_grpc_probes() {
    let chart = chart();
    let rendered = render(&chart, "pushgate", "");
    let sts = rendered.one("StatefulSet");
    let config = string_map(rendered.one("ConfigMap"), "data");
    let config_value = |key: &str| {
        config
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the ConfigMap has no {key}"))
    };

    assert_eq!(str_at(sts, "apiVersion"), "apps/v1");
    assert_eq!(
        sts.at("spec.replicas"),
        Some(&Val::Int(1)),
        "sled allows one writer"
    );
    assert_eq!(
        str_at(sts, "spec.serviceName"),
        str_at(rendered.one("Service"), "metadata.name")
    );
    let selector = string_map(sts, "spec.selector.matchLabels");
    let pod_labels = string_map(sts, "spec.template.metadata.labels");
    assert!(
        selector.iter().all(|l| pod_labels.contains(l)),
        "the selector misses the pod"
    );

    let pod = sts.at("spec.template.spec").expect("pod spec");
    assert_eq!(
        pod.get("automountServiceAccountToken"),
        Some(&Val::Bool(false))
    );
    assert_eq!(
        pod.get("enableServiceLinks"),
        Some(&Val::Bool(false)),
        "service links put PUSHGATE_* variables the server would read as config into the pod"
    );
    assert_eq!(
        pod.at("securityContext.runAsNonRoot"),
        Some(&Val::Bool(true))
    );
    assert_eq!(
        pod.at("securityContext.runAsUser"),
        Some(&Val::Int(NON_ROOT_UID))
    );
    assert_eq!(
        pod.at("securityContext.fsGroup"),
        Some(&Val::Int(NON_ROOT_UID)),
        "the volume must be writable"
    );
    assert_eq!(
        str_at(pod, "securityContext.seccompProfile.type"),
        "RuntimeDefault"
    );

    let containers = list_at(pod, "containers");
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    assert!(str_at(container, "image").ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))));
    let security = container
        .get("securityContext")
        .expect("container securityContext");
    assert_eq!(security.get("runAsNonRoot"), Some(&Val::Bool(true)));
    assert_eq!(security.get("runAsUser"), Some(&Val::Int(NON_ROOT_UID)));
    assert_eq!(
        security.get("readOnlyRootFilesystem"),
        Some(&Val::Bool(true))
    );
    assert_eq!(
        security.get("allowPrivilegeEscalation"),
        Some(&Val::Bool(false))
    );
    assert_eq!(
        list_at(security, "capabilities.drop"),
        &[Val::Str("ALL".into())]
    );
    assert_eq!(str_at(security, "seccompProfile.type"), "RuntimeDefault");
    assert!(!str_at(container, "resources.requests.memory").is_empty());
    assert!(!str_at(container, "resources.limits.memory").is_empty());

    // The ports the container declares are the ones the server is told to listen on, on every interface.
    let ports = list_at(container, "ports");
    let grpc_port = named(ports, "grpc")
        .and_then(|p| p.get("containerPort"))
        .cloned();
    let listen = config_value("PUSHGATE_SERVER_LISTEN");
    assert!(listen.starts_with("0.0.0.0:"), "{listen}");
    assert_eq!(grpc_port, Some(Val::Int(port_of(&listen))));
    let admin_listen = config_value("PUSHGATE_ADMIN_LISTEN");
    assert!(admin_listen.starts_with("0.0.0.0:"), "{admin_listen}");
    assert_eq!(
        named(ports, "admin").and_then(|p| p.get("containerPort")),
        Some(&Val::Int(port_of(&admin_listen)))
    );
    assert_eq!(config_value("PUSHGATE_ADMIN_ENABLED"), "true");

    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let probe_spec = container.get(probe).unwrap_or_else(|| panic!("no {probe}"));
        assert_eq!(
            probe_spec.at("grpc.port"),
            grpc_port.as_ref(),
            "{probe} is not a gRPC probe on the gRPC port"
        );
        for other in ["httpGet", "tcpSocket", "exec"] {
            assert!(probe_spec.get(other).is_none(), "{probe} also has {other}");
        }
    }

    // The data directory is the claim's mount, the only writable path of the container.
    let claims = list_at(sts, "spec.volumeClaimTemplates");
    assert_eq!(claims.len(), 1);
    let claim = str_at(&claims[0], "metadata.name");
    assert!(!str_at(&claims[0], "spec.resources.requests.storage").is_empty());
    let mounts = list_at(container, "volumeMounts");
    assert_eq!(mounts.len(), 1);
    assert_eq!(str_at(&mounts[0], "name"), claim);
    assert_ne!(mounts[0].get("readOnly"), Some(&Val::Bool(true)));
    assert_eq!(
        str_at(&mounts[0], "mountPath"),
        config_value("PUSHGATE_STORE_DATA_DIR")
    );
    let config_ref = &list_at(container, "envFrom")[0];
    assert_eq!(
        str_at(config_ref, "configMapRef.name"),
        str_at(rendered.one("ConfigMap"), "metadata.name")
    );

    // SIGTERM lets calls drain for shutdown_grace, then the store is flushed; the kubelet must wait longer.
    let loaded = Config::load_from(None, pod_environment(&rendered)).expect("config");
    let Some(Val::Int(grace)) = pod.get("terminationGracePeriodSeconds") else {
        panic!("no terminationGracePeriodSeconds");
    };
    assert!(
        u64::try_from(*grace).is_ok_and(|g| g > loaded.server.shutdown_grace.as_secs()),
        "terminationGracePeriodSeconds {grace} is not above shutdown_grace"
    );
}

#[test]
fn the_service_names_grpc_and_admin_ports_with_app_protocols() {
    let chart = chart();
    let rendered = render(&chart, "pushgate", "");
    let service = rendered.one("Service");
    let sts = rendered.one("StatefulSet");
    assert_eq!(
        string_map(service, "spec.selector"),
        string_map(sts, "spec.selector.matchLabels")
    );
    let container = &list_at(sts, "spec.template.spec.containers")[0];
    let container_ports = list_at(container, "ports");
    let ports = list_at(service, "spec.ports");
    assert_eq!(ports.len(), 2);
    for (name, protocol) in [("grpc", "grpc"), ("admin", "http")] {
        let port = named(ports, name).unwrap_or_else(|| panic!("no {name} port"));
        assert_eq!(str_at(port, "appProtocol"), protocol);
        let target = str_at(port, "targetPort");
        assert!(
            named(container_ports, target).is_some(),
            "{target} is no container port"
        );
        assert!(matches!(port.get("port"), Some(Val::Int(_))));
    }
}

#[test]
fn the_rendered_configuration_is_one_the_server_accepts() {
    let chart = chart();
    let known = toml::Table::try_from(Config::default()).expect("config as TOML");
    let sections: Vec<&str> = known.keys().map(String::as_str).collect();
    for (release, overlay) in variants() {
        let rendered = render(&chart, release, overlay);
        let env = pod_environment(&rendered);
        for (name, _) in &env {
            let rest = name
                .strip_prefix(pushgate::config::ENV_PREFIX)
                .unwrap_or_else(|| panic!("{name} is not a PUSHGATE_ variable"))
                .to_ascii_lowercase();
            assert!(
                sections
                    .iter()
                    .any(|section| rest.starts_with(&format!("{section}_"))),
                "{name} names no config section"
            );
        }
        let config = Config::load_from(None, env)
            .unwrap_or_else(|e| panic!("the server refuses the chart's config ({overlay:?}): {e}"));
        assert_eq!(config.server.listen, "0.0.0.0:50051".parse().unwrap());
        if config.admin.enabled {
            assert_eq!(config.admin.listen, "0.0.0.0:9464".parse().unwrap());
        }
        let container = &list_at(rendered.workload(), "spec.template.spec.containers")[0];
        assert_eq!(
            config.store.data_dir,
            PathBuf::from(str_at(&list_at(container, "volumeMounts")[0], "mountPath"))
        );
    }
}

#[test]
fn secrets_come_from_the_charts_secret_or_an_existing_one() {
    let chart = chart();

    let defaults = render(&chart, "pushgate", "");
    assert_eq!(
        defaults.all("Secret").count(),
        0,
        "no values, no Secret: the server generates both"
    );
    let config = Config::load_from(None, pod_environment(&defaults)).expect("config");
    assert!(config.auth.admin_token.is_none() && config.notifiers.credentials_key.is_none());

    let own = render(&chart, "pushgate", EVERYTHING_ON);
    let secret = own.one("Secret");
    assert_eq!(str_at(secret, "metadata.name"), "gateway");
    assert_eq!(
        string_map(secret, "stringData"),
        vec![
            (
                "admin-token".to_owned(),
                "pga_admin-token-for-tests".to_owned()
            ),
            (
                "credentials-key".to_owned(),
                "a-credentials-key-of-at-least-32-chars".to_owned()
            ),
        ]
    );
    let config = Config::load_from(None, pod_environment(&own)).expect("config");
    assert_eq!(
        config.auth.admin_token.as_ref().map(|s| s.expose()),
        Some("pga_admin-token-for-tests")
    );
    assert_eq!(
        config
            .notifiers
            .credentials_key
            .as_ref()
            .map(|s| s.expose()),
        Some("a-credentials-key-of-at-least-32-chars")
    );
    assert!(own.notes.contains("get secret gateway"));

    let existing = render(&chart, "pushgate", EXISTING_SECRET);
    assert_eq!(
        existing.all("Secret").count(),
        0,
        "existingSecret: the chart makes none"
    );
    let container = &list_at(existing.one("StatefulSet"), "spec.template.spec.containers")[0];
    let env = list_at(container, "env");
    for (var, key) in [
        ("PUSHGATE_AUTH_ADMIN_TOKEN", "token"),
        ("PUSHGATE_NOTIFIERS_CREDENTIALS_KEY", "credentials-key"),
    ] {
        let reference = named(env, var)
            .and_then(|v| v.at("valueFrom.secretKeyRef"))
            .unwrap_or_else(|| panic!("{var} is not read from the Secret"));
        assert_eq!(str_at(reference, "name"), "pushgate-keys");
        assert_eq!(str_at(reference, "key"), key);
    }
    assert!(existing.notes.contains("pushgate-keys"));
}

#[test]
fn optional_parts_follow_their_switches() {
    let chart = chart();
    let on = render(&chart, "pushgate", EVERYTHING_ON);
    let monitor = on.one("ServiceMonitor");
    assert_eq!(str_at(monitor, "apiVersion"), "monitoring.coreos.com/v1");
    let service = on.one("Service");
    let service_labels = string_map(service, "metadata.labels");
    assert!(
        string_map(monitor, "spec.selector.matchLabels")
            .iter()
            .all(|l| service_labels.contains(l)),
        "the ServiceMonitor does not select the Service"
    );
    assert!(
        string_map(monitor, "metadata.labels").contains(&("release".into(), "prometheus".into()))
    );
    let endpoint = &list_at(monitor, "spec.endpoints")[0];
    assert_eq!(str_at(endpoint, "port"), "admin");
    assert_eq!(str_at(endpoint, "path"), "/metrics");
    assert!(named(list_at(service, "spec.ports"), "admin").is_some());
    let sts = on.one("StatefulSet");
    let pod = sts.at("spec.template.spec").expect("pod spec");
    assert!(str_at(&list_at(pod, "containers")[0], "image").ends_with(":9.9.9"));
    for key in [
        "nodeSelector",
        "tolerations",
        "affinity",
        "imagePullSecrets",
    ] {
        assert!(pod.get(key).is_some(), "{key} is not rendered");
    }
    assert_eq!(
        str_at(
            &list_at(sts, "spec.volumeClaimTemplates")[0],
            "spec.storageClassName"
        ),
        "fast-ssd"
    );
    let config = Config::load_from(None, pod_environment(&on)).expect("config");
    assert_eq!(config.tasks.max_running, 5, "extraEnv reaches the server");

    let off = render(&chart, "pushgate", NO_ADMIN);
    assert_eq!(
        off.all("ServiceMonitor").count(),
        0,
        "nothing to scrape without the admin port"
    );
    let ports = list_at(off.one("Service"), "spec.ports");
    assert!(named(ports, "admin").is_none() && named(ports, "grpc").is_some());
    let container = &list_at(off.one("StatefulSet"), "spec.template.spec.containers")[0];
    assert!(named(list_at(container, "ports"), "admin").is_none());
    assert!(!off.notes.contains("/metrics"));

    // A changed configuration changes the pod template, so the pod restarts and reads it.
    let annotation = |r: &Rendered| {
        str_at(
            r.one("StatefulSet"),
            "spec.template.metadata.annotations.checksum/config",
        )
        .to_owned()
    };
    let defaults = render(&chart, "pushgate", "");
    assert_ne!(annotation(&defaults), annotation(&off));
}

#[test]
fn postgres_deploys_replicas_that_keep_capacity_through_updates_and_disruptions() {
    let chart = chart();
    let rendered = render(&chart, "pushgate", POSTGRES);
    assert_eq!(rendered.all("StatefulSet").count(), 0, "sled's shape only");
    let deployment = rendered.one("Deployment");
    assert_eq!(deployment.at("spec.replicas"), Some(&Val::Int(3)));
    assert_eq!(str_at(deployment, "spec.strategy.type"), "RollingUpdate");
    assert_eq!(
        deployment.at("spec.strategy.rollingUpdate.maxUnavailable"),
        Some(&Val::Int(0)),
        "a replica stops only once its replacement is ready"
    );
    assert_eq!(
        deployment.at("spec.strategy.rollingUpdate.maxSurge"),
        Some(&Val::Int(1))
    );
    let pdb = rendered.one("PodDisruptionBudget");
    assert_eq!(pdb.at("spec.maxUnavailable"), Some(&Val::Int(1)));
    assert_eq!(
        string_map(pdb, "spec.selector.matchLabels"),
        string_map(deployment, "spec.selector.matchLabels"),
        "the budget covers the replicas"
    );
    assert_eq!(
        string_map(deployment, "spec.selector.matchLabels"),
        string_map(deployment, "spec.template.metadata.labels")
            .into_iter()
            .filter(|(k, _)| k.starts_with("app.kubernetes.io/"))
            .collect::<Vec<_>>()
    );
    // The count is a value.
    let five = render(
        &chart,
        "pushgate",
        &POSTGRES.replace("config: {", "replicaCount: 5\nconfig: {"),
    );
    assert_eq!(
        five.one("Deployment").at("spec.replicas"),
        Some(&Val::Int(5))
    );
    // And sled keeps its one pod, with no budget.
    let sled = render(&chart, "pushgate", "");
    assert_eq!(sled.all("PodDisruptionBudget").count(), 0);
    assert_eq!(
        sled.one("StatefulSet").at("spec.replicas"),
        Some(&Val::Int(1))
    );
}

#[test]
fn postgres_takes_its_url_and_every_key_from_the_secret_and_mounts_no_volume() {
    let chart = chart();
    for overlay in [POSTGRES, POSTGRES_EXISTING_SECRET] {
        let rendered = render(&chart, "pushgate", overlay);
        let sts = rendered.one("Deployment");
        assert!(
            sts.at("spec.volumeClaimTemplates").is_none(),
            "no claim with PostgreSQL ({overlay:?})"
        );
        let volumes = list_at(sts, "spec.template.spec.volumes");
        let data = named(volumes, "data").expect("the data directory's volume");
        assert!(data.get("emptyDir").is_some(), "{overlay:?}");
        let container = &list_at(sts, "spec.template.spec.containers")[0];
        let env = list_at(container, "env");
        for var in [
            "PUSHGATE_STORE_POSTGRES_URL",
            "PUSHGATE_AUTH_SIGNING_KEY",
            "PUSHGATE_AUTH_ADMIN_TOKEN",
            "PUSHGATE_NOTIFIERS_CREDENTIALS_KEY",
        ] {
            assert!(
                named(env, var)
                    .and_then(|v| v.at("valueFrom.secretKeyRef"))
                    .is_some(),
                "{var} is not read from the Secret ({overlay:?})"
            );
        }
        let config = Config::load_from(None, pod_environment(&rendered))
            .unwrap_or_else(|e| panic!("the server refuses the chart's config: {e}"));
        assert_eq!(config.store.backend, pushgate::store::Backend::Postgres);
        assert_eq!(
            config.cluster.replica_id.as_deref(),
            Some("pushgate-7d9f8b6c4-x2x7q"),
            "each replica is its pod"
        );
        // The relay between replicas: a port of its own, in the pod and not in the Service.
        let internal = named(list_at(container, "ports"), "internal").expect("the internal port");
        assert_eq!(internal.get("containerPort"), Some(&Val::Int(7001)));
        assert_eq!(
            config.cluster.internal_listen,
            Some("0.0.0.0:7001".parse().unwrap())
        );
        assert_ne!(config.cluster.internal_listen, Some(config.server.listen));
        assert_eq!(config.cluster.internal_address.as_deref(), Some("10.1.2.3"));
        let service_ports = list_at(rendered.one("Service"), "spec.ports");
        assert!(named(service_ports, "internal").is_none(), "{overlay:?}");
        assert!(rendered.notes.contains("PostgreSQL"), "{}", rendered.notes);
    }
    let own = render(&chart, "pushgate", POSTGRES);
    let config = Config::load_from(None, pod_environment(&own)).expect("config");
    assert_eq!(config.store.postgres.pool_size, 32);
    assert_eq!(
        config.store.postgres.ssl_mode,
        pushgate::store::SslMode::VerifyFull
    );
    assert_eq!(
        config.store.postgres.url.as_ref().map(|u| u.expose()),
        Some("postgres://pushgate:pw@db.example:5432/pushgate")
    );
    assert_eq!(
        config.auth.signing_key.as_ref().map(|k| k.expose()),
        Some("a-signing-key-of-at-least-32-characters")
    );

    // Without a volume a generated key would be lost at the next start: the chart refuses to render.
    for missing in ["postgresUrl", "adminToken", "credentialsKey", "signingKey"] {
        let overlay = POSTGRES.replace(&format!("{missing}: "), &format!("unused_{missing}: "));
        let refused = chart
            .render("pushgate", &overlay)
            .err()
            .unwrap_or_else(|| panic!("rendered without secret.{missing}"));
        assert!(refused.contains(&format!("secret.{missing}")), "{refused}");
    }
    let refused = chart
        .render("pushgate", "config: {store: {backend: mysql}}")
        .err()
        .expect("an unknown backend renders");
    assert!(refused.contains("config.store.backend"), "{refused}");
}
