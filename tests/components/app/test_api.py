"""AppService per stack: the image it runs, migrations first, probes the app answers, a rollout
that never drops capacity, scaling and exposure as the stack config says."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from components.app.api import HEALTH_PATH
from components.config import StackConfig
from offline.engine import RecordedResource, StackRun
from tests.support import leaks
from tests.support.objects import pod_labels, pod_spec, workloads
from tests.support.service_app import from_the_app


def _deployment(run: StackRun) -> RecordedResource:
    (deployment,) = [resource for resource in run.find("Deployment") if pod_labels(resource)["app.kubernetes.io/component"] == "api"]
    return deployment


def _api_container(run: StackRun) -> dict[str, Any]:
    (container,) = pod_spec(_deployment(run))["containers"]
    found: dict[str, Any] = container
    return found


@pytest.fixture(scope="module")
def app_route_paths() -> set[str]:
    return set(from_the_app("[route.path for route in service.main.app.routes if hasattr(route, 'path')]"))


def test_deployment_runs_the_image_components_reference(stack_run: StackRun) -> None:
    (image,) = stack_run.of_type("docker:index/image:Image")
    assert _api_container(stack_run)["image"] == image.outputs["repoDigest"]
    assert "@sha256:" in image.outputs["repoDigest"]


def test_every_mounted_secret_exists_in_the_stack(stack_run: StackRun) -> None:
    secret_names = {secret.outputs["metadata"]["name"] for secret in stack_run.find("Secret")}
    for workload in workloads(stack_run):
        for volume in pod_spec(workload).get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secret_names, f"{workload.name} mounts a missing Secret"


def test_the_migration_job_runs_the_same_image_before_the_deployment(stack_run: StackRun) -> None:
    (job,) = stack_run.find("Job")
    assert job.urn in _deployment(stack_run).depends_on
    assert pod_spec(job)["containers"][0]["image"] == _api_container(stack_run)["image"]


def test_a_new_image_means_a_new_migration_job(run_with: Any) -> None:
    def job_name(reference: str) -> str:
        run = run_with("dev", {"image": {"mode": "prebuilt", "reference": reference}})
        (job,) = run.find("Job")
        return str(job.outputs["metadata"]["name"])

    first, second = (f"registry.example.com/api@sha256:{digit * 64}" for digit in "ab")
    assert job_name(first) != job_name(second)
    assert job_name(first) == job_name(first)


def test_probes_hit_paths_the_app_serves(stack_run: StackRun, app_route_paths: set[str]) -> None:
    container = _api_container(stack_run)
    probe_paths = {container[probe]["httpGet"]["path"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probe_paths <= app_route_paths


def test_no_probe_depends_on_the_database(stack_run: StackRun) -> None:
    # A database outage is shared by every pod: a probe on it would empty the Service (readiness)
    # or restart every pod (liveness). The migration Job proves a new image reaches the database.
    container = _api_container(stack_run)
    assert {container[probe]["httpGet"]["path"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")} == {HEALTH_PATH}


def test_a_migration_job_is_deleted_before_its_replacement_is_created(stack_run: StackRun) -> None:
    # Going back to the last good image after a failed migration brings back its Job's name: a
    # create-then-delete would delete the object the new Job just adopted.
    (job,) = stack_run.of_type("kubernetes:batch/v1:Job")
    assert job.delete_before_replace


def test_metrics_scrape_path_is_served(stack_run: StackRun, app_route_paths: set[str]) -> None:
    annotations = _deployment(stack_run).inputs["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] in app_route_paths


def test_settings_names_are_fields_of_the_service_settings(stack_run: StackRun) -> None:
    (settings,) = [config_map for config_map in stack_run.find("ConfigMap") if "DB_HOST" in config_map.inputs.get("data", {})]
    fields = from_the_app("[name.upper() for name in service.config.Settings.model_fields]")
    assert set(settings.inputs["data"]) <= set(fields)


def test_scaling_and_exposure_follow_the_stack_config(stack_run: StackRun, stack_config: StackConfig) -> None:
    app, deployment = stack_config.app, _deployment(stack_run)
    assert deployment.inputs["spec"]["replicas"] == app.replicas
    autoscalers = [autoscaler for autoscaler in stack_run.find("HorizontalPodAutoscaler") if autoscaler.name == "api"]
    assert len(autoscalers) == app.autoscaling.enabled
    if app.autoscaling.enabled:
        spec = autoscalers[0].inputs["spec"]
        assert (spec["minReplicas"], spec["maxReplicas"]) == (app.autoscaling.min_replicas, app.autoscaling.max_replicas)
        assert "spec.replicas" in deployment.ignore_changes, "the HPA owns replicas once it exists"
    assert len(stack_run.find("Ingress")) == (app.effective_exposure.mode == "ingress")
    assert len(stack_run.find("HTTPRoute")) == (app.effective_exposure.mode == "gateway")
    assert bool(pod_spec(deployment).get("topologySpreadConstraints")) == app.topology_spread


def test_a_disruption_budget_exists_exactly_when_there_are_pods_to_spare(stack_run: StackRun, stack_config: StackConfig) -> None:
    budgets = [budget for budget in stack_run.find("PodDisruptionBudget") if budget.name == "api"]
    assert len(budgets) == (stack_config.app.replicas >= 2 or stack_config.app.autoscaling.enabled)


def test_rollout_never_drops_below_desired_and_outlives_shutdown(stack_run: StackRun) -> None:
    spec = _deployment(stack_run).inputs["spec"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    (settings,) = [
        config_map for config_map in stack_run.find("ConfigMap") if "GRACEFUL_SHUTDOWN_TIMEOUT" in config_map.inputs.get("data", {})
    ]
    assert pod["terminationGracePeriodSeconds"] > pre_stop + int(settings.inputs["data"]["GRACEFUL_SHUTDOWN_TIMEOUT"])


def test_a_settings_or_secret_change_rolls_the_pods(run_with: Any) -> None:
    base = run_with("dev")
    changed_settings = run_with("dev", {"app": {"logLevel": "warning"}})
    changed_secret = run_with("dev", secrets={"apiKeys": leaks.canaries()["apiKeys"]})

    def annotations(run: StackRun) -> dict[str, str]:
        return dict(_deployment(run).inputs["spec"]["template"]["metadata"]["annotations"])

    assert annotations(base)["checksum/settings"] != annotations(changed_settings)["checksum/settings"]
    assert annotations(base)["checksum/secrets"] != annotations(changed_secret)["checksum/secrets"]


def test_a_private_registry_adds_a_pull_secret(run_with: Any) -> None:
    image = {"registry": "registry.example.com", "repository": "team/api", "push": True, "registryUsername": leaks.REGISTRY_USERNAME}
    canary = leaks.canaries()["registryPassword"]
    run = run_with("dev", {"image": image}, secrets={"registryPassword": canary})
    (registry_secret,) = [secret for secret in run.find("Secret") if secret.inputs.get("type") == "kubernetes.io/dockerconfigjson"]
    assert pod_spec(_deployment(run)).get("imagePullSecrets") == [{"name": registry_secret.outputs["metadata"]["name"]}]
    expected_auth = base64.b64encode(f"{leaks.REGISTRY_USERNAME}:{canary}".encode()).decode()
    assert expected_auth in json.dumps(registry_secret.secret_values()), "the credential travels only as a secret"
