//! The pods and namespaces of a rendered platform, as the cluster would run
//! them: pods from every workload's template, plus the pods operators create
//! from custom resources, with the labels those operators set (their source
//! is cited at each rule), plus the matrix's `provided` pods.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::matrix::{Matrix, Workload};
use crate::ports::Protocol;
use crate::render::Object;

/// Pods per workload: two, so flows between replicas of one workload
/// (gossip, raft) have a distinct source and destination. nca itself keeps
/// at most two pods of a kind.
const REPLICAS: usize = 2;

const NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    pub protocol: Protocol,
    pub port: u16,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<ContainerPort>,
    /// What the pod stands for (workload, custom resource or matrix entry).
    pub origin: String,
}

#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Namespace name -> labels (always including kubernetes.io/metadata.name).
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    pub pods: Vec<Pod>,
    /// What was left out and why (host-network pods, unknown Gateway classes).
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error(
        "{0} has no metadata.namespace; the render must place every namespaced object in its Application's destination namespace"
    )]
    NoNamespace(String),
    #[error("{0}: {1}")]
    Malformed(String, String),
}

const WORKLOAD_KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "Pod",
];

/// Builds the analysed cluster from the render and the matrix.
pub fn build(objects: &[Object], matrix: &Matrix) -> Result<Topology, TopologyError> {
    let mut t = Topology::default();
    for o in objects.iter().filter(|o| o.kind() == "Namespace" && o.group().is_empty()) {
        let mut labels = string_map(o.value.pointer("/metadata/labels"));
        labels.insert(NAME_LABEL.to_owned(), o.name().to_owned());
        t.namespaces.insert(o.name().to_owned(), labels);
    }
    for o in objects {
        let group = o.group();
        if (group.is_empty() || group == "apps" || group == "batch")
            && WORKLOAD_KINDS.contains(&o.kind())
        {
            workload_pods(o, &mut t)?;
        }
    }
    prometheus_operator_pods(objects, &mut t)?;
    gateway_pods(objects, &mut t)?;
    for (name, w) in &matrix.workloads {
        if let Some(p) = &w.provided {
            let ports = p
                .ports
                .iter()
                .map(|r| ContainerPort { protocol: r.protocol, port: r.first, name: None })
                .collect::<Vec<_>>();
            add_pods(
                &mut t,
                &w.namespace,
                name,
                w.labels.clone(),
                ports,
                format!("matrix workload {name} (provided: {})", p.about),
            );
        }
    }
    let used: BTreeSet<String> = t.pods.iter().map(|p| p.namespace.clone()).collect();
    for ns in used {
        t.namespaces
            .entry(ns.clone())
            .or_insert_with(|| BTreeMap::from([(NAME_LABEL.to_owned(), ns.clone())]));
    }
    Ok(t)
}

impl Topology {
    /// The pods a matrix workload names.
    pub fn matching<'a>(&'a self, w: &Workload) -> Vec<&'a Pod> {
        self.pods
            .iter()
            .filter(|p| {
                p.namespace == w.namespace
                    && w.labels.iter().all(|(k, v)| p.labels.get(k) == Some(v))
            })
            .collect()
    }

    /// Namespaces and pods as a Kubernetes `List`, nca's resourceList input.
    pub fn to_nca_resources(&self) -> Value {
        let mut items = Vec::new();
        for (name, labels) in &self.namespaces {
            items.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}));
        }
        for p in &self.pods {
            let ports: Vec<Value> = p
                .ports
                .iter()
                .map(|cp| {
                    let mut v = json!({"containerPort": cp.port, "protocol": cp.protocol.as_str()});
                    if let Some(n) = &cp.name {
                        v["name"] = Value::String(n.clone());
                    }
                    v
                })
                .collect();
            items.push(json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels},
                "spec": {"containers": [{"name": "main", "ports": ports}]}
            }));
        }
        json!({"apiVersion": "v1", "kind": "List", "items": items})
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect()
        })
        .unwrap_or_default()
}

fn add_pods(
    t: &mut Topology,
    namespace: &str,
    base: &str,
    labels: BTreeMap<String, String>,
    ports: Vec<ContainerPort>,
    origin: String,
) {
    let mut stem = base.to_owned();
    let taken = |t: &Topology, stem: &str| {
        t.pods.iter().any(|p| p.namespace == namespace && p.name == format!("{stem}-1"))
    };
    let mut n = 2;
    while taken(t, &stem) {
        stem = format!("{base}-{n}");
        n += 1;
    }
    for i in 1..=REPLICAS {
        t.pods.push(Pod {
            namespace: namespace.to_owned(),
            name: format!("{stem}-{i}"),
            labels: labels.clone(),
            ports: ports.clone(),
            origin: origin.clone(),
        });
    }
}

fn container_ports(spec: &Value) -> Vec<ContainerPort> {
    let mut out = Vec::new();
    for c in spec.get("containers").and_then(Value::as_array).into_iter().flatten() {
        for p in c.get("ports").and_then(Value::as_array).into_iter().flatten() {
            let Some(port) =
                p.get("containerPort").and_then(Value::as_u64).and_then(|n| u16::try_from(n).ok())
            else {
                continue;
            };
            let Some(protocol) = Protocol::from_k8s(p.get("protocol").and_then(Value::as_str))
            else {
                continue;
            };
            out.push(ContainerPort {
                protocol,
                port,
                name: p.get("name").and_then(Value::as_str).map(str::to_owned),
            });
        }
    }
    out
}

fn workload_pods(o: &Object, t: &mut Topology) -> Result<(), TopologyError> {
    let template = match o.kind() {
        "Pod" => Some(&o.value),
        "CronJob" => o.value.pointer("/spec/jobTemplate/spec/template"),
        _ => o.value.pointer("/spec/template"),
    };
    let Some(template) = template else {
        return Err(TopologyError::Malformed(o.describe(), "no pod template".to_owned()));
    };
    let spec = template.get("spec").unwrap_or(&Value::Null);
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        t.notes.push(format!(
            "{}: host network, NetworkPolicy does not apply; reach it as the nodes' addresses",
            o.describe()
        ));
        return Ok(());
    }
    let ns = o.namespace().ok_or_else(|| TopologyError::NoNamespace(o.describe()))?.to_owned();
    let labels = string_map(template.pointer("/metadata/labels"));
    let ports = container_ports(spec);
    add_pods(t, &ns, o.name(), labels, ports, o.describe());
    Ok(())
}

/// Prometheus and Alertmanager pods, created by the Prometheus operator.
/// Labels: prometheus-operator v0.84 `makeSelectorLabels` in
/// pkg/prometheus/server/operator.go and pkg/alertmanager/operator.go
/// (plus `spec.podMetadata.labels`); ports from their StatefulSet specs.
fn prometheus_operator_pods(objects: &[Object], t: &mut Topology) -> Result<(), TopologyError> {
    for o in objects.iter().filter(|o| o.group() == "monitoring.coreos.com") {
        let name = o.name().to_owned();
        let (mut labels, ports) = match o.kind() {
            "Prometheus" => (
                BTreeMap::from([
                    ("app.kubernetes.io/managed-by".to_owned(), "prometheus-operator".to_owned()),
                    ("app.kubernetes.io/name".to_owned(), "prometheus".to_owned()),
                    ("app.kubernetes.io/instance".to_owned(), name.clone()),
                    ("operator.prometheus.io/name".to_owned(), name.clone()),
                    ("operator.prometheus.io/shard".to_owned(), "0".to_owned()),
                    ("prometheus".to_owned(), name.clone()),
                ]),
                vec![(Protocol::Tcp, 9090, "web"), (Protocol::Tcp, 8080, "reloader-web")],
            ),
            "Alertmanager" => (
                BTreeMap::from([
                    ("app.kubernetes.io/managed-by".to_owned(), "prometheus-operator".to_owned()),
                    ("app.kubernetes.io/name".to_owned(), "alertmanager".to_owned()),
                    ("app.kubernetes.io/instance".to_owned(), name.clone()),
                    ("alertmanager".to_owned(), name.clone()),
                ]),
                vec![
                    (Protocol::Tcp, 9093, "web"),
                    (Protocol::Tcp, 9094, "mesh-tcp"),
                    (Protocol::Udp, 9094, "mesh-udp"),
                    (Protocol::Tcp, 8080, "reloader-web"),
                ],
            ),
            _ => continue,
        };
        let ns = o.namespace().ok_or_else(|| TopologyError::NoNamespace(o.describe()))?.to_owned();
        let extra = string_map(o.value.pointer("/spec/podMetadata/labels"));
        for (k, v) in extra {
            labels.entry(k).or_insert(v);
        }
        let ports = ports
            .into_iter()
            .map(|(protocol, port, n)| ContainerPort { protocol, port, name: Some(n.to_owned()) })
            .collect();
        add_pods(
            t,
            &ns,
            &format!("{}-{name}", o.kind().to_lowercase()),
            labels,
            ports,
            o.describe(),
        );
    }
    Ok(())
}

/// NGINX Gateway Fabric data planes (one per Gateway of its class) and the
/// cert-manager HTTP-01 solver pods of Gateways with an issuer annotation.
///
/// NGF 2.2 (internal/controller/provisioner/objects.go, provisioner.go):
/// labels app.kubernetes.io/instance=<control plane's instance label>,
/// app.kubernetes.io/managed-by=<instance>-<class>,
/// gateway.networking.k8s.io/gateway-name=<gateway>,
/// app.kubernetes.io/name=<gateway>-<class>, plus the Gateway's
/// spec.infrastructure.labels; container ports: the listener ports, and the
/// metrics port (9113) unless the NginxProxy disables metrics.
/// cert-manager (pkg/apis/acme/v1, SolverIdentificationLabelKey): solver pods
/// carry acme.cert-manager.io/http01-solver=true and listen on 8089.
fn gateway_pods(objects: &[Object], t: &mut Topology) -> Result<(), TopologyError> {
    // class -> NGF instance name, from the control plane's arguments.
    let mut classes: BTreeMap<String, String> = BTreeMap::new();
    for o in objects.iter().filter(|o| o.kind() == "Deployment") {
        let Some(template) = o.value.pointer("/spec/template") else { continue };
        for c in
            template.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten()
        {
            let args: Vec<&str> = c
                .get("args")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let is_ngf =
                args.iter().any(|a| a.starts_with("--gateway-ctlr-name=gateway.nginx.org/"));
            let class = args.iter().find_map(|a| a.strip_prefix("--gatewayclass="));
            if let (true, Some(class)) = (is_ngf, class) {
                let instance = template
                    .pointer("/metadata/labels/app.kubernetes.io~1instance")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| o.name());
                classes.insert(class.to_owned(), instance.to_owned());
            }
        }
    }
    let metrics_port: Option<u16> = {
        let proxies: Vec<&Object> = objects
            .iter()
            .filter(|o| o.kind() == "NginxProxy" && o.group() == "gateway.nginx.org")
            .collect();
        let disabled = proxies.iter().any(|p| {
            p.value.pointer("/spec/metrics/disable").and_then(Value::as_bool) == Some(true)
        });
        let port = proxies
            .iter()
            .find_map(|p| p.value.pointer("/spec/metrics/port").and_then(Value::as_u64))
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(9113);
        (!disabled).then_some(port)
    };
    let mut solver_namespaces = BTreeSet::new();
    for o in
        objects.iter().filter(|o| o.kind() == "Gateway" && o.group() == "gateway.networking.k8s.io")
    {
        let ns = o.namespace().ok_or_else(|| TopologyError::NoNamespace(o.describe()))?.to_owned();
        let class = o.value.pointer("/spec/gatewayClassName").and_then(Value::as_str).unwrap_or("");
        let listeners = o
            .value
            .pointer("/spec/listeners")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let annotations = o.value.pointer("/metadata/annotations");
        let issuer = ["cert-manager.io/cluster-issuer", "cert-manager.io/issuer"]
            .iter()
            .any(|k| annotations.and_then(|a| a.get(*k)).is_some());
        if issuer
            && listeners.iter().any(|l| l.get("protocol").and_then(Value::as_str) == Some("HTTP"))
        {
            solver_namespaces.insert(ns.clone());
        }
        let Some(instance) = classes.get(class) else {
            t.notes.push(format!(
                "{}: gateway class {class:?} has no NGINX Gateway Fabric control plane in the render; its data plane is not modelled",
                o.describe()
            ));
            continue;
        };
        let gw = o.name();
        let mut labels = BTreeMap::from([
            ("app.kubernetes.io/instance".to_owned(), instance.clone()),
            ("app.kubernetes.io/managed-by".to_owned(), format!("{instance}-{class}")),
            ("gateway.networking.k8s.io/gateway-name".to_owned(), gw.to_owned()),
            ("app.kubernetes.io/name".to_owned(), format!("{gw}-{class}")),
        ]);
        for (k, v) in string_map(o.value.pointer("/spec/infrastructure/labels")) {
            labels.insert(k, v);
        }
        let mut ports: BTreeSet<u16> = listeners
            .iter()
            .filter_map(|l| l.get("port").and_then(Value::as_u64))
            .filter_map(|n| u16::try_from(n).ok())
            .collect();
        ports.extend(metrics_port);
        let ports = ports
            .into_iter()
            .map(|port| ContainerPort { protocol: Protocol::Tcp, port, name: None })
            .collect();
        add_pods(
            t,
            &ns,
            &format!("{gw}-{class}"),
            labels,
            ports,
            format!("NGF data plane of {}", o.describe()),
        );
    }
    for ns in solver_namespaces {
        let labels =
            BTreeMap::from([("acme.cert-manager.io/http01-solver".to_owned(), "true".to_owned())]);
        let ports = vec![ContainerPort {
            protocol: Protocol::Tcp,
            port: 8089,
            name: Some("http".to_owned()),
        }];
        add_pods(
            t,
            &ns,
            "cm-acme-http-solver",
            labels,
            ports,
            format!("cert-manager HTTP-01 solver in {ns}"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn obj(value: Value) -> Object {
        Object { file: PathBuf::from("r.yaml"), value }
    }

    fn matrix() -> Matrix {
        Matrix::parse(
            "[workloads.dns]\nnamespace = \"kube-system\"\nlabels = { k8s-app = \"kube-dns\" }\nprovided = { ports = [\"UDP/53\"], about = \"LKE\" }\n",
            Path::new("m.toml"),
        )
        .expect("matrix")
    }

    #[test]
    fn pods_from_workloads_operators_gateways_and_the_matrix() {
        let objects = vec![
            obj(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"tier": "apps"}}}),
            ),
            obj(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 8080, "name": "http"}]}]}}}}),
            ),
            obj(
                json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "exporter", "namespace": "mon"},
                "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {"hostNetwork": true, "containers": []}}}}),
            ),
            obj(
                json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "metadata": {"name": "k", "namespace": "mon"},
                "spec": {"podMetadata": {"labels": {"team": "sre"}}}}),
            ),
            obj(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ngf", "namespace": "nginx-gateway"},
                "spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/instance": "ngf"}},
                    "spec": {"containers": [{"name": "c", "args": ["controller", "--gateway-ctlr-name=gateway.nginx.org/nginx-gateway-controller", "--gatewayclass=nginx"]}]}}}}),
            ),
            obj(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                "metadata": {"name": "prod", "namespace": "gw", "annotations": {"cert-manager.io/cluster-issuer": "le"}},
                "spec": {"gatewayClassName": "nginx", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}, {"name": "https", "port": 443, "protocol": "HTTPS"}]}})),
        ];
        let t = build(&objects, &matrix()).expect("topology");
        let names: Vec<String> =
            t.pods.iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect();
        assert_eq!(
            names,
            [
                "shop/web-1",
                "shop/web-2",
                "nginx-gateway/ngf-1",
                "nginx-gateway/ngf-2",
                "mon/prometheus-k-1",
                "mon/prometheus-k-2",
                "gw/prod-nginx-1",
                "gw/prod-nginx-2",
                "gw/cm-acme-http-solver-1",
                "gw/cm-acme-http-solver-2",
                "kube-system/dns-1",
                "kube-system/dns-2"
            ]
        );
        let prom = &t.pods[4];
        assert_eq!(prom.labels["app.kubernetes.io/name"], "prometheus");
        assert_eq!(prom.labels["team"], "sre");
        let gw = &t.pods[6];
        assert_eq!(gw.labels["app.kubernetes.io/managed-by"], "ngf-nginx");
        assert_eq!(gw.labels["gateway.networking.k8s.io/gateway-name"], "prod");
        let ports: Vec<u16> = gw.ports.iter().map(|p| p.port).collect();
        assert_eq!(ports, [80, 443, 9113]);
        assert!(t.notes.iter().any(|n| n.contains("host network")), "{:?}", t.notes);
        assert_eq!(t.namespaces["shop"]["tier"], "apps");
        assert_eq!(t.namespaces["kube-system"][NAME_LABEL], "kube-system");
        let w = &matrix().workloads["dns"];
        assert_eq!(t.matching(w).len(), 2);
    }

    #[test]
    fn a_namespaced_object_without_namespace_is_an_error() {
        let objects = vec![obj(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}}),
        )];
        let err = build(&objects, &matrix()).expect_err("no namespace");
        assert!(err.to_string().contains("Deployment web"), "{err}");
    }
}
