//! Reading rendered Kubernetes objects, and the fields each kind the chart renders may have.

use super::value::Val;

/// The string at a dotted path; anything else fails the test.
pub fn str_at<'a>(doc: &'a Val, path: &str) -> &'a str {
    doc.at(path)
        .and_then(Val::as_str)
        .unwrap_or_else(|| panic!("{path} is not a string in {doc:?}"))
}

/// The list at a dotted path; anything else fails the test.
pub fn list_at<'a>(doc: &'a Val, path: &str) -> &'a [Val] {
    doc.at(path)
        .and_then(Val::as_list)
        .unwrap_or_else(|| panic!("{path} is not a list in {doc:?}"))
}

/// The first item of a list whose `name` is `name`.
pub fn named<'a>(items: &'a [Val], name: &str) -> Option<&'a Val> {
    items
        .iter()
        .find(|item| item.get("name").and_then(Val::as_str) == Some(name))
}

/// The string entries of a map (labels, ConfigMap data); anything but a string value fails.
pub fn string_map(doc: &Val, path: &str) -> Vec<(String, String)> {
    match doc.at(path) {
        Some(Val::Map(entries)) => entries
            .iter()
            .map(|(k, v)| match v {
                Val::Str(s) => (k.clone(), s.clone()),
                other => panic!("{path}.{k} must be a string, is {other:?}"),
            })
            .collect(),
        other => panic!("{path} is not a map: {other:?}"),
    }
}

/// Fails on a key the Kubernetes object at `path` does not have, which is what a template indented one
/// level off produces while still being valid YAML. The lists hold the API's field names (all of them for
/// the objects values.yaml lets users fill in, the used ones elsewhere).
fn assert_fields(what: &str, doc: &Val, path: &str, allowed: &[&str]) {
    let value = if path.is_empty() {
        Some(doc)
    } else {
        doc.at(path)
    };
    let Some(Val::Map(entries)) = value else {
        panic!("{what}: {path} is not a map");
    };
    for (key, _) in entries {
        assert!(
            allowed.contains(&key.as_str()),
            "{what}: {path} has no field {key:?}"
        );
    }
}

const PROBE_FIELDS: &[&str] = &[
    "grpc",
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "successThreshold",
    "failureThreshold",
    "terminationGracePeriodSeconds",
];

/// The fields of every object a template renders.
pub fn assert_known_fields(what: &str, doc: &Val) {
    let top: &[&str] = match str_at(doc, "kind") {
        "ConfigMap" => &["apiVersion", "kind", "metadata", "data"],
        "Secret" => &["apiVersion", "kind", "metadata", "type", "stringData"],
        _ => &["apiVersion", "kind", "metadata", "spec"],
    };
    assert_fields(what, doc, "", top);
    assert_fields(what, doc, "metadata", &["name", "labels", "annotations"]);
    match str_at(doc, "kind") {
        "Service" => {
            assert_fields(what, doc, "spec", &["type", "selector", "ports"]);
            for port in list_at(doc, "spec.ports") {
                assert_fields(
                    what,
                    port,
                    "",
                    &["name", "port", "targetPort", "protocol", "appProtocol"],
                );
            }
        }
        "ServiceMonitor" => {
            assert_fields(what, doc, "spec", &["selector", "endpoints"]);
            for endpoint in list_at(doc, "spec.endpoints") {
                assert_fields(
                    what,
                    endpoint,
                    "",
                    &["port", "path", "scheme", "interval", "scrapeTimeout"],
                );
            }
        }
        "PodDisruptionBudget" => {
            assert_fields(
                what,
                doc,
                "spec",
                &[
                    "maxUnavailable",
                    "minAvailable",
                    "selector",
                    "unhealthyPodEvictionPolicy",
                ],
            );
        }
        kind @ ("StatefulSet" | "Deployment") => {
            let spec: &[&str] = if kind == "Deployment" {
                &[
                    "replicas",
                    "selector",
                    "strategy",
                    "template",
                    "minReadySeconds",
                    "revisionHistoryLimit",
                    "progressDeadlineSeconds",
                    "paused",
                ]
            } else {
                &[
                    "replicas",
                    "serviceName",
                    "selector",
                    "updateStrategy",
                    "template",
                    "volumeClaimTemplates",
                ]
            };
            assert_fields(what, doc, "spec", spec);
            if kind == "Deployment" {
                assert_fields(what, doc, "spec.strategy", &["type", "rollingUpdate"]);
                assert_fields(
                    what,
                    doc,
                    "spec.strategy.rollingUpdate",
                    &["maxUnavailable", "maxSurge"],
                );
            }
            assert_fields(what, doc, "spec.template", &["metadata", "spec"]);
            assert_fields(
                what,
                doc,
                "spec.template.spec",
                &[
                    "automountServiceAccountToken",
                    "enableServiceLinks",
                    "imagePullSecrets",
                    "terminationGracePeriodSeconds",
                    "securityContext",
                    "containers",
                    "nodeSelector",
                    "affinity",
                    "tolerations",
                    "volumes",
                ],
            );
            for volume in doc
                .at("spec.template.spec.volumes")
                .and_then(Val::as_list)
                .unwrap_or(&[])
            {
                // The only volume the chart declares itself: the data directory's emptyDir.
                assert_fields(what, volume, "", &["name", "emptyDir"]);
            }
            assert_fields(
                what,
                doc,
                "spec.template.spec.securityContext",
                &[
                    "appArmorProfile",
                    "fsGroup",
                    "fsGroupChangePolicy",
                    "runAsGroup",
                    "runAsNonRoot",
                    "runAsUser",
                    "seLinuxChangePolicy",
                    "seLinuxOptions",
                    "seccompProfile",
                    "supplementalGroups",
                    "supplementalGroupsPolicy",
                    "sysctls",
                    "windowsOptions",
                ],
            );
            for container in list_at(doc, "spec.template.spec.containers") {
                assert_fields(
                    what,
                    container,
                    "",
                    &[
                        "name",
                        "image",
                        "imagePullPolicy",
                        "envFrom",
                        "env",
                        "ports",
                        "startupProbe",
                        "livenessProbe",
                        "readinessProbe",
                        "resources",
                        "securityContext",
                        "volumeMounts",
                    ],
                );
                for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                    assert_fields(what, container, probe, PROBE_FIELDS);
                    assert_fields(
                        what,
                        container,
                        &format!("{probe}.grpc"),
                        &["port", "service"],
                    );
                }
                assert_fields(
                    what,
                    container,
                    "resources",
                    &["requests", "limits", "claims"],
                );
                assert_fields(
                    what,
                    container,
                    "securityContext",
                    &[
                        "allowPrivilegeEscalation",
                        "appArmorProfile",
                        "capabilities",
                        "privileged",
                        "procMount",
                        "readOnlyRootFilesystem",
                        "runAsGroup",
                        "runAsNonRoot",
                        "runAsUser",
                        "seLinuxOptions",
                        "seccompProfile",
                        "windowsOptions",
                    ],
                );
            }
            // None with PostgreSQL, whose pod has no volume.
            for claim in doc
                .at("spec.volumeClaimTemplates")
                .and_then(Val::as_list)
                .unwrap_or(&[])
            {
                assert_fields(what, claim, "", &["metadata", "spec"]);
                assert_fields(
                    what,
                    claim,
                    "spec",
                    &["accessModes", "storageClassName", "resources"],
                );
            }
        }
        _ => {}
    }
}
