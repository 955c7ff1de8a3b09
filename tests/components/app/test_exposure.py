"""How clients outside the cluster reach the API: exactly one object per `app.exposure` mode, an
HTTPRoute that attaches to the named Gateway and sends everything to the API Service's port, an
Ingress without controller-specific annotations, and the stacks that still write `app.ingress`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.kube import OWNED_ANNOTATIONS
from offline.engine import RecordedResource, StackRun

RunWith = Callable[..., StackRun]
EXPOSURE_KINDS = ("HTTPRoute", "Ingress")
GATEWAY = {"name": "public", "namespace": "gateway-system", "sectionName": "https"}
MODES: dict[str, dict[str, Any]] = {
    "none": {"mode": "none"},
    "ingress": {"mode": "ingress", "hostnames": ["api.example.com"], "ingress": {"className": "contour", "controllerNamespace": "edge"}},
    "gateway": {"mode": "gateway", "hostnames": ["api.example.com"], "gateway": GATEWAY},
}


def _exposure_objects(run: StackRun) -> list[RecordedResource]:
    return [resource for resource in run.kubernetes_objects() if resource.kind in EXPOSURE_KINDS]


def _api_service(run: StackRun) -> RecordedResource:
    (service,) = [service for service in run.find("Service") if service.name == "api"]
    return service


def _run(run_with: RunWith, mode: str) -> StackRun:
    return run_with("dev", {"app": {"replicas": 1, "exposure": MODES[mode]}})


@pytest.mark.parametrize("mode", MODES)
def test_exactly_one_exposure_object_per_mode(run_with: RunWith, mode: str) -> None:
    kinds = [resource.kind for resource in _exposure_objects(_run(run_with, mode))]
    assert kinds == {"none": [], "ingress": ["Ingress"], "gateway": ["HTTPRoute"]}[mode]


def test_the_route_attaches_to_the_named_gateway_and_listener(run_with: RunWith) -> None:
    (route,) = _exposure_objects(_run(run_with, "gateway"))
    assert route.inputs["apiVersion"] == "gateway.networking.k8s.io/v1"
    (parent,) = route.inputs["spec"]["parentRefs"]
    assert parent == {"group": "gateway.networking.k8s.io", "kind": "Gateway", **GATEWAY}
    assert route.inputs["spec"]["hostnames"] == MODES["gateway"]["hostnames"]


def test_the_routes_backend_is_the_api_services_port(run_with: RunWith) -> None:
    run = _run(run_with, "gateway")
    (route,) = _exposure_objects(run)
    service = _api_service(run)
    (rule,) = route.inputs["spec"]["rules"]
    (backend,) = rule["backendRefs"]
    assert (backend["kind"], backend["name"]) == ("Service", service.outputs["metadata"]["name"])
    assert backend["port"] in [port["port"] for port in service.inputs["spec"]["ports"]]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]  # every path, as the Ingress


def test_the_route_carries_no_tls_the_gateway_terminates_it(run_with: RunWith) -> None:
    (route,) = _exposure_objects(_run(run_with, "gateway"))
    assert "tls" not in str(route.inputs["spec"]).lower()
    assert _run(run_with, "gateway").outputs["ingressUrl"] == "https://api.example.com/"


def test_the_ingress_names_its_class_and_no_controller(run_with: RunWith) -> None:
    (ingress,) = _exposure_objects(_run(run_with, "ingress"))
    assert ingress.inputs["spec"]["ingressClassName"] == "contour"
    annotations = ingress.inputs["metadata"].get("annotations") or {}
    # cert-manager's ingress-shim reads its annotation whatever the controller; beside Pulumi's own
    # (kube.OWNED_ANNOTATIONS, which no controller reads), nothing else is allowed.
    assert set(annotations) - set(OWNED_ANNOTATIONS) <= {"cert-manager.io/cluster-issuer"}


def test_an_ingress_without_a_class_takes_the_clusters_default(run_with: RunWith) -> None:
    exposure = {**MODES["ingress"], "ingress": {"controllerNamespace": "edge"}}
    (ingress,) = _exposure_objects(run_with("dev", {"app": {"replicas": 1, "exposure": exposure}}))
    assert "ingressClassName" not in ingress.inputs["spec"]


def test_a_stack_still_writing_app_ingress_keeps_the_same_ingress(run_with: RunWith) -> None:
    # What a deployed stack's file says, and what the program made of it before app.exposure.
    legacy = {"enabled": True, "host": "api.example.com", "className": "nginx", "tls": {"clusterIssuer": "letsencrypt-prod"}}
    (ingress,) = _exposure_objects(run_with("dev", {"app": {"replicas": 1, "ingress": legacy}}))
    assert ingress.name == "api"
    assert ingress.inputs["metadata"]["annotations"] == {**OWNED_ANNOTATIONS, "cert-manager.io/cluster-issuer": "letsencrypt-prod"}
    assert ingress.inputs["spec"] == {
        "ingressClassName": "nginx",
        "tls": [{"hosts": ["api.example.com"], "secretName": "api-tls"}],
        "rules": [
            {
                "host": "api.example.com",
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"name": "http"}}}}]},
            }
        ],
    }


def test_prod_is_exposed_through_the_gateway(prod_run: StackRun) -> None:
    assert [resource.kind for resource in _exposure_objects(prod_run)] == ["HTTPRoute"]
