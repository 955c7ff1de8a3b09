"""`tracing` in the stack: off by default (no OTEL_* variable anywhere); on, the API's and the
worker's settings are the standard OTEL_* variables the service reads (service/tracing.py) and
each names its own service; settings missing are config errors listed with the others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.config import ConfigError, parse_stack_config
from offline.engine import StackRun
from tests.support.objects import pod_labels, pod_spec
from tests.support.service_app import from_the_app
from tests.support.stacks import flat_config

RunWith = Callable[..., StackRun]
COLLECTOR = "http://otel-collector.observability:4318"
TRACED = {"enabled": True, "endpoint": COLLECTOR, "sampleRatio": 0.25}


def _settings_of(run: StackRun, component: str) -> dict[str, str]:
    """Every variable a workload's container gets from its ConfigMaps, later ones winning (as envFrom does)."""
    (deployment,) = [d for d in run.find("Deployment") if pod_labels(d)["app.kubernetes.io/component"] == component]
    config_maps = {c.inputs["metadata"].get("name") or c.name: c for c in run.find("ConfigMap")}
    env: dict[str, str] = {}
    for source in pod_spec(deployment)["containers"][0]["envFrom"]:
        name = source["configMapRef"]["name"]
        env |= next(c.inputs["data"] for key, c in config_maps.items() if key == name or name.startswith(key))
    return env


def test_no_stack_sets_an_otel_variable_unless_tracing_is_on(stack_run: StackRun) -> None:
    variables = [key for config_map in stack_run.find("ConfigMap") for key in config_map.inputs.get("data", {}) if key.startswith("OTEL_")]
    assert variables == []


def test_with_tracing_on_the_api_and_the_worker_export_to_the_collector_under_their_own_names(run_with: RunWith) -> None:
    run = run_with("dev", {"tracing": TRACED})
    api, worker = _settings_of(run, "api"), _settings_of(run, "worker")

    assert api["OTEL_EXPORTER_OTLP_ENDPOINT"] == worker["OTEL_EXPORTER_OTLP_ENDPOINT"] == COLLECTOR
    assert (api["OTEL_SERVICE_NAME"], worker["OTEL_SERVICE_NAME"]) == ("fastapi-service-api", "fastapi-service-worker")
    assert (api["OTEL_TRACES_SAMPLER"], api["OTEL_TRACES_SAMPLER_ARG"]) == ("parentbased_traceidratio", "0.25")
    assert "deployment.environment.name=dev" in api["OTEL_RESOURCE_ATTRIBUTES"]
    otel = {key: value for key, value in api.items() if key.startswith("OTEL_")}
    assert from_the_app(f"service.tracing.enabled({otel!r})") is True, "the service would not turn tracing on from these"


def test_turning_tracing_on_rolls_the_api_and_the_worker(run_with: RunWith) -> None:
    def checksums(run: StackRun) -> list[str]:
        return [d.inputs["spec"]["template"]["metadata"]["annotations"]["checksum/settings"] for d in run.find("Deployment")]

    assert all(
        before != after for before, after in zip(checksums(run_with("dev")), checksums(run_with("dev", {"tracing": TRACED})), strict=True)
    )


@pytest.mark.parametrize(
    ("tracing", "expected"),
    [
        (
            {"enabled": True},
            "fastapi-service:tracing.endpoint: required with tracing: the collector's OTLP/HTTP URL (http://<collector>:4318)",
        ),
        (
            {"enabled": True, "endpoint": "otel-collector:4318"},
            "fastapi-service:tracing.endpoint: 'otel-collector:4318' is not an http(s) base URL (scheme, host and port, no path)",
        ),
        (
            {"enabled": True, "endpoint": COLLECTOR + "/v1/traces"},
            f"fastapi-service:tracing.endpoint: '{COLLECTOR}/v1/traces' is not an http(s) base URL (scheme, host and port, no path)",
        ),
        ({"endpoint": COLLECTOR}, "fastapi-service:tracing.endpoint: is not used while tracing is disabled: remove it"),
    ],
)
def test_tracing_settings_missing_or_wrong_are_config_errors(tracing: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_stack_config("dev", flat_config("dev", {"tracing": tracing}), set())
    assert expected in [f"{problem.key}: {problem.reason}" for problem in raised.value.problems]


def test_a_sample_ratio_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_stack_config("dev", flat_config("dev", {"tracing": {**TRACED, "sampleRatio": 1.5}}), set())
    assert [problem.path for problem in raised.value.problems] == ["tracing.sampleRatio"]
