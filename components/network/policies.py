"""NetworkPolicies for the namespace: deny all ingress, then allow exactly the paths the service
uses; backup pods, which hold the repository's keys, may also only connect where they must."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config import Exposure, ServiceMonitorConfig
from components.kube import PodSelector
from components.network.peers import BackupPods, ClientPods, NetworkPeer, ServerAccess


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    namespace: pulumi.Input[str]
    app: NetworkPeer  # the API pods and their port
    app_clients: ClientPods  # who else may call the API
    app_database_clients: list[PodSelector]  # the API's pods that use MySQL (the API, its migrations)
    worker: PodSelector | None  # the worker pods (they use MySQL and Redis); None: no worker
    mysql: ServerAccess | None  # None: MySQL is outside the cluster
    redis: ServerAccess | None
    exposure: Exposure  # ingress: the controller's namespace may reach the app; gateway: the Gateway's
    scraping: ServiceMonitorConfig  # when enabled, Prometheus's namespace may reach the metrics ports


class NetworkPolicies(pulumi.ComponentResource):
    """Ingress isolation for every pod (nothing reaches the worker at all). Egress stays open
    for the service's pods: they need DNS and, in external mode, managed servers whose
    addresses a NetworkPolicy (IP blocks only) can't name reliably. Backup pods are the
    exception: DNS, their server, and the repository's port only.

    Who may reach whom is decided here: MySQL admits the API, its migrations, the worker and its
    own backup pods; Redis admits the API, the worker and its backup pods; the API admits pods
    labelled as its clients (`ClientPods`) and, with an Ingress, the controller's namespace (with
    an HTTPRoute, the Gateway's namespace, where its proxies run). With the ServiceMonitor on,
    Prometheus's namespace reaches the API's port and the worker's `metrics` port, nothing else.
    Kubelet probes come from the node and are not subject to these policies.
    """

    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastapi-service:network:NetworkPolicies", name, None, opts)
        self._args = args
        self._name = name
        workers = [args.worker] if args.worker else []

        # Selects every pod: anything not allowed below is refused.
        self._policy("default-deny-ingress", {}, [])
        if args.mysql is not None:
            clients = [*args.app_database_clients, *workers, *_backup_selectors(args.mysql)]
            self._policy("mysql", args.mysql.server.pod_selector, _from_pods(clients, args.mysql.server.port))
        if args.redis is not None:
            clients = [args.app.pod_selector, *workers, *_backup_selectors(args.redis)]
            self._policy("redis", args.redis.server.pod_selector, _from_pods(clients, args.redis.server.port))
        self._policy("app-from-clients", args.app.pod_selector, _from_clients(args.app_clients, args.app.port))
        exposure = args.exposure
        if exposure.mode == "ingress" and exposure.ingress is not None and exposure.ingress.controller_namespace:
            rules = _from_namespace(exposure.ingress.controller_namespace, args.app.port)
            self._policy("app-from-ingress", args.app.pod_selector, rules)
        elif exposure.mode == "gateway" and exposure.gateway is not None and exposure.gateway.namespace:
            # The Gateway's data plane runs in (or beside) the Gateway's namespace and proxies to the pods.
            self._policy("app-from-gateway", args.app.pod_selector, _from_namespace(exposure.gateway.namespace, args.app.port))
        scrapers = args.scraping.prometheus_namespace
        if args.scraping.enabled and scrapers:
            self._policy("app-from-prometheus", args.app.pod_selector, _from_namespace(scrapers, args.app.port))
            if args.worker:
                # The worker's container port by its name (components/app/worker.py declares `metrics`).
                self._policy("worker-from-prometheus", args.worker, _from_namespace(scrapers, WORKER_METRICS_PORT_NAME))
        for server in (args.mysql, args.redis):
            for backup in server.backups if server else []:
                self._egress_policy(backup)
        self.register_outputs({})

    def _egress_policy(self, backup: BackupPods) -> None:
        instance = backup.pod_selector.get("app.kubernetes.io/instance", "backup")
        policy_name = f"{self._name}-{instance}-egress"
        rules: list[k8s.networking.v1.NetworkPolicyEgressRuleArgsDict] = [
            # Cluster DNS, wherever its pods run (kube-system's kube-dns, by the label every distribution keeps).
            {
                "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            },
            {"to": [{"podSelector": {"matchLabels": backup.server.pod_selector}}], "ports": [_tcp(backup.server.port)]},
        ]
        if backup.s3 is not None:
            # A NetworkPolicy names addresses, not hosts: an IP endpoint is pinned, a host name
            # allows its port anywhere (an FQDN-aware CNI policy can narrow it further).
            rules.append({"to": [{"ipBlock": {"cidr": _cidr(backup.s3.host)}}], "ports": [_tcp(backup.s3.port)]})
        self._network_policy(policy_name, {"podSelector": {"matchLabels": backup.pod_selector}, "policyTypes": ["Egress"], "egress": rules})

    def _policy(self, suffix: str, pod_selector: PodSelector, rules: list[k8s.networking.v1.NetworkPolicyIngressRuleArgsDict]) -> None:
        policy_name = f"{self._name}-{suffix}"
        # Written the way the API server stores it: an empty selector is `{}` and no rules is no
        # `ingress` key. `matchLabels: {}` or `ingress: []` would be dropped by the server and
        # bump the object's generation on every apply, so it would never converge.
        spec: k8s.networking.v1.NetworkPolicySpecArgsDict = {
            "podSelector": {"matchLabels": pod_selector} if pod_selector else {},
            "policyTypes": ["Ingress"],
        }
        if rules:
            spec["ingress"] = rules
        self._network_policy(policy_name, spec)

    def _network_policy(self, policy_name: str, spec: k8s.networking.v1.NetworkPolicySpecArgsDict) -> None:
        k8s.networking.v1.NetworkPolicy(
            policy_name,
            metadata=kube.metadata(policy_name, self._args.namespace, kube.labels("network-policy", self._name, "network")),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self),
        )


# The worker Deployment's container port for its metrics, by name: a NetworkPolicy port may name one.
WORKER_METRICS_PORT_NAME = "metrics"


def _from_namespace(namespace: str, port: int | str) -> list[k8s.networking.v1.NetworkPolicyIngressRuleArgsDict]:
    """Every pod of `namespace` (by the label the API server sets on each namespace), on `port`."""
    selector = {"kubernetes.io/metadata.name": namespace}
    return [{"from": [{"namespaceSelector": {"matchLabels": selector}}], "ports": [_tcp(port)]}]


def _from_clients(clients: ClientPods, port: int) -> list[k8s.networking.v1.NetworkPolicyIngressRuleArgsDict]:
    """The labelled pods of the stack's namespace, and of each namespace named."""
    peers: list[k8s.networking.v1.NetworkPolicyPeerArgsDict] = [{"podSelector": {"matchLabels": clients.label}}]
    peers += [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}, "podSelector": {"matchLabels": clients.label}}
        for namespace in clients.namespaces
    ]
    return [{"from": peers, "ports": [_tcp(port)]}]


def _backup_selectors(server: ServerAccess) -> list[PodSelector]:
    return [backup.pod_selector for backup in server.backups]


def _cidr(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "0.0.0.0/0"
    return f"{address}/{address.max_prefixlen}"


def _tcp(port: int | str) -> k8s.networking.v1.NetworkPolicyPortArgsDict:
    return {"protocol": "TCP", "port": port}


def _from_pods(selectors: list[PodSelector], port: int) -> list[k8s.networking.v1.NetworkPolicyIngressRuleArgsDict]:
    # An ingress rule with an empty `from` admits every source: with no clients, no rule at all.
    if any(not selector for selector in selectors):
        raise ValueError("an empty pod selector would admit every pod in the namespace")
    unique = [dict(items) for items in dict.fromkeys(tuple(sorted(selector.items())) for selector in selectors)]
    if not unique:
        return []
    return [{"from": [{"podSelector": {"matchLabels": selector}} for selector in unique], "ports": [_tcp(port)]}]
