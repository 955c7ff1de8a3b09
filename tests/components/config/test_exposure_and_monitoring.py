"""The config of `app.exposure` and `monitoring`: a mode or a switch with what it needs missing is
a config error listed with the others (never a failed `pulumi up`); keys a mode does not read
are refused; stacks that still write `app.ingress` keep their Ingress."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import ConfigError, StackConfig, missing_required_secrets, parse_stack_config
from tests.support.stacks import flat_config

P = "fastapi-service"
GATEWAY = {"name": "public", "namespace": "gateway-system"}
SCRAPED = {"enabled": True, "prometheusNamespace": "monitoring"}


def _parse(stack: str, overrides: dict[str, Any] | None = None) -> StackConfig:
    needed = missing_required_secrets(flat_config(stack), set())
    flat = flat_config(stack, {**dict.fromkeys(needed, "set-as-a-secret"), **(overrides or {})})
    return parse_stack_config(stack, flat, {f"{P}:{key}" for key in needed})


def _problems(stack: str, overrides: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        _parse(stack, overrides)
    return [f"{problem.key}: {problem.reason}" for problem in raised.value.problems]


def _case(case_id: str, stack: str, overrides: dict[str, Any], *expected: str) -> Any:
    return pytest.param(stack, overrides, list(expected), id=case_id)


BAD_CONFIGS = [
    _case(
        "gateway-without-gateway",
        "dev",
        {"app": {"exposure": {"mode": "gateway", "hostnames": ["api.example.com"]}}},
        f"{P}:app.exposure.gateway: mode 'gateway' needs the Gateway the route attaches to: set its name and namespace",
    ),
    _case(
        "gateway-without-name",
        "dev",
        {"app": {"exposure": {"mode": "gateway", "gateway": {"namespace": "gateway-system"}}}},
        f"{P}:app.exposure.gateway.name: required: the name of the Gateway the route attaches to",
    ),
    _case(
        "gateway-without-namespace",
        "dev",
        {"app": {"exposure": {"mode": "gateway", "gateway": {"name": "public"}}}},
        f"{P}:app.exposure.gateway.namespace: required: the Gateway's namespace (a parentRef without one looks in the stack's)",
    ),
    _case(
        "gateway-name-not-a-dns-name",
        "dev",
        {"app": {"exposure": {"mode": "gateway", "gateway": {"name": "Public", "namespace": "gateway-system"}}}},
        f"{P}:app.exposure.gateway.name: 'Public' is not a DNS name: dot-separated DNS labels (lower-case ASCII letters, digits, '-'), "
        "at most 253",
    ),
    _case(
        "gateway-with-ingress-settings",
        "dev",
        {"app": {"exposure": {"mode": "gateway", "gateway": GATEWAY, "ingress": {"controllerNamespace": "ingress"}}}},
        f"{P}:app.exposure.ingress: is not used with app.exposure.mode 'gateway' (the HTTPRoute names a Gateway): remove it",
    ),
    _case(
        "ingress-without-host-or-controller",
        "dev",
        {"app": {"exposure": {"mode": "ingress"}}},
        f"{P}:app.exposure.hostnames: mode 'ingress' needs the host name(s) clients use",
        f"{P}:app.exposure.ingress: mode 'ingress' needs the namespace of the controller's pods (ingress.controllerNamespace)",
    ),
    _case(
        "ingress-with-two-tls-sources",
        "dev",
        {
            "app": {
                "exposure": {
                    "mode": "ingress",
                    "hostnames": ["api.example.com"],
                    "ingress": {"controllerNamespace": "ingress", "tls": {"secretName": "api-tls", "clusterIssuer": "letsencrypt"}},
                }
            }
        },
        f"{P}:app.exposure.ingress.tls: set exactly one of secretName (an existing Secret) or clusterIssuer (cert-manager)",
    ),
    _case(
        "none-with-hostnames",
        "dev",
        {"app": {"exposure": {"hostnames": ["api.example.com"]}}},
        f"{P}:app.exposure.hostnames: is not used while app.exposure.mode is 'none': remove it",
    ),
    _case(
        "exposure-and-the-old-ingress",
        "dev",
        {"app": {"ingress": {"enabled": True, "host": "api.example.com"}, "exposure": {"mode": "none"}}},
        f"{P}:app.ingress.enabled: is replaced by app.exposure, which is set: remove app.ingress",
        f"{P}:app.ingress.host: is replaced by app.exposure, which is set: remove app.ingress",
    ),
    _case(
        "prod-gateway-without-listener",
        "prod",
        {"app": {"replicas": 3, "exposure": {"mode": "gateway", "gateway": GATEWAY}}},
        f"{P}:app.exposure.gateway.sectionName: prod attaches the route to the Gateway's HTTPS listener: name it",
    ),
    _case(
        "prod-ingress-without-tls",
        "prod",
        {
            "app": {
                "replicas": 3,
                "exposure": {"mode": "ingress", "hostnames": ["api.example.com"], "ingress": {"controllerNamespace": "i"}},
            }
        },
        f"{P}:app.exposure.ingress.tls: a prod ingress serves HTTPS: set secretName or clusterIssuer",
    ),
    _case(
        "service-monitor-without-prometheus-namespace",
        "dev",
        {"monitoring": {"serviceMonitor": {"enabled": True}}},
        f"{P}:monitoring.serviceMonitor.prometheusNamespace: required with the serviceMonitor: the namespace of the Prometheus pods "
        "(the NetworkPolicies refuse every other scraper)",
    ),
    _case(
        "alerts-and-dashboard-without-scraping",
        "dev",
        {"monitoring": {"prometheusRule": {"enabled": True}, "dashboard": {"enabled": True}}},
        f"{P}:monitoring.prometheusRule.enabled: reads the metrics the serviceMonitor scrapes: enable monitoring.serviceMonitor too",
        f"{P}:monitoring.dashboard.enabled: reads the metrics the serviceMonitor scrapes: enable monitoring.serviceMonitor too",
    ),
    _case(
        "thresholds-while-alerts-are-off",
        "dev",
        {"monitoring": {"prometheusRule": {"errorRatioPercent": 2}}},
        f"{P}:monitoring.prometheusRule.errorRatioPercent: is not used while it is disabled: remove it",
    ),
    _case(
        "backup-age-without-backups",
        "dev",
        {
            "mysql": {"backup": {"enabled": False}},
            "backup": None,
            "monitoring": {"serviceMonitor": SCRAPED, "prometheusRule": {"enabled": True, "backupMaxAgeHours": 30}},
        },
        f"{P}:monitoring.prometheusRule.backupMaxAgeHours: is not used while no server is backed up: remove it",
    ),
    _case(
        "bad-label-and-duration",
        "dev",
        {"monitoring": {"serviceMonitor": {**SCRAPED, "interval": "30 seconds", "labels": {"-release": "x"}}}},
        f"{P}:monitoring.serviceMonitor.interval: '30 seconds' is not a Prometheus duration above zero (e.g. '30s', '1m30s')",
        f"{P}:monitoring.serviceMonitor.labels: '-release' is not a label key: [prefix/]name, the name 1-63 of letters, "
        "digits, '-', '_', '.'",
    ),
    _case(
        "dashboard-without-labels",
        "dev",
        {"monitoring": {"serviceMonitor": SCRAPED, "dashboard": {"enabled": True, "labels": {}}}},
        f"{P}:monitoring.dashboard.labels: the Grafana sidecar loads only labelled ConfigMaps: give it its label",
    ),
]


@pytest.mark.parametrize(("stack", "overrides", "expected"), BAD_CONFIGS)
def test_bad_exposure_or_monitoring_is_refused_naming_each_key(stack: str, overrides: dict[str, Any], expected: list[str]) -> None:
    assert sorted(_problems(stack, overrides)) == sorted(expected)


def test_a_gateway_without_a_namespace_is_listed_with_the_other_problems() -> None:
    overrides = {
        "app": {"replicas": 0, "exposure": {"mode": "gateway", "gateway": {"name": "public"}}},
        "monitoring": {"serviceMonitor": {"enabled": True}},
    }
    paths = [problem.split(": ")[0] for problem in _problems("dev", overrides)]
    assert sorted(paths) == [
        f"{P}:app.exposure.gateway.namespace",
        f"{P}:app.replicas",
        f"{P}:monitoring.serviceMonitor.prometheusNamespace",
    ]


def test_a_stack_that_still_writes_app_ingress_keeps_its_ingress() -> None:
    # Upgrading the program must not move a deployed stack: the old key means mode ingress.
    legacy = {"enabled": True, "host": "api.example.com", "className": "nginx", "controllerNamespace": "ingress-nginx"}
    exposure = _parse("dev", {"app": {"ingress": legacy}}).app.effective_exposure
    assert exposure.mode == "ingress"
    assert exposure.hostnames == ["api.example.com"]
    assert exposure.ingress is not None
    assert (exposure.ingress.class_name, exposure.ingress.controller_namespace) == ("nginx", "ingress-nginx")


def test_monitoring_is_off_unless_enabled() -> None:
    assert not _parse("dev").monitoring.enabled
    assert not _parse("prod").monitoring.enabled


def test_a_complete_gateway_and_monitoring_config_is_accepted() -> None:
    config = _parse(
        "dev",
        {
            "app": {"exposure": {"mode": "gateway", "hostnames": ["api.example.com", "*.api.example.com"], "gateway": GATEWAY}},
            "monitoring": {
                "serviceMonitor": {**SCRAPED, "labels": {"release": "kube-prometheus-stack"}},
                "prometheusRule": {"enabled": True},
            },
        },
    )
    assert config.app.effective_exposure.mode == "gateway"
    assert config.monitoring.prometheus_rule.enabled
