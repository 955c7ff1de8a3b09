"""Whole-stack properties, for every committed stack: wiring, ordering, ownership, labels."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.service import HEALTH_PATH, READY_PATH
from offline.engine import RecordedResource, StackRun

APP_PYTHON = Path("app/.venv/bin/python").absolute()


def _deployment(run: StackRun) -> RecordedResource:
    (deployment,) = run.find("Deployment")
    return deployment


def _pod_spec(resource: RecordedResource) -> dict[str, Any]:
    spec = resource.inputs["spec"]
    if resource.kind == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


def test_deployment_runs_the_image_components_digest_reference(stack_run: StackRun) -> None:
    (image,) = stack_run.of_type("docker:index/image:Image")
    containers = _pod_spec(_deployment(stack_run))["containers"]
    assert {container["image"] for container in containers} == {image.outputs["repoDigest"]}
    assert "@sha256:" in image.outputs["repoDigest"]


def test_every_mounted_secret_exists_in_the_stack(stack_run: StackRun) -> None:
    secret_names = {secret.outputs["metadata"]["name"] for secret in stack_run.find("Secret")}
    for workload in stack_run.kubernetes_objects():
        if workload.kind not in {"Deployment", "StatefulSet", "Job", "CronJob"}:
            continue
        for volume in _pod_spec(workload).get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secret_names, f"{workload.name} mounts a missing Secret"


def test_migration_job_precedes_the_deployment(stack_run: StackRun) -> None:
    (job,) = stack_run.find("Job")
    assert job.urn in _deployment(stack_run).depends_on
    assert _pod_spec(job)["containers"][0]["image"] == _pod_spec(_deployment(stack_run))["containers"][0]["image"]


def test_a_new_image_digest_means_a_new_migration_job(dev_run: StackRun, prod_run: StackRun) -> None:
    (dev_job,), (prod_job,) = dev_run.find("Job"), prod_run.find("Job")
    assert _pod_spec(dev_job)["containers"][0]["image"] != _pod_spec(prod_job)["containers"][0]["image"]
    assert dev_job.outputs["metadata"]["name"] != prod_job.outputs["metadata"]["name"]


@pytest.fixture(scope="module")
def app_route_paths() -> set[str]:
    """The routes the service really serves, read from the app itself."""
    if not APP_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("app/.venv is missing: run `make test` (it syncs the app env first)")
        pytest.skip("app/.venv is missing: `cd app && uv sync` to check probe paths against the app")
    script = "import json; from service.main import app; print(json.dumps([r.path for r in app.routes if hasattr(r, 'path')]))"
    output = subprocess.run([str(APP_PYTHON), "-c", script], check=True, capture_output=True, text=True, cwd="app").stdout
    return set(json.loads(output))


def test_probes_hit_paths_the_app_serves(stack_run: StackRun, app_route_paths: set[str]) -> None:
    container = _pod_spec(_deployment(stack_run))["containers"][0]
    probe_paths = {container[probe]["httpGet"]["path"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probe_paths == {HEALTH_PATH, READY_PATH}
    assert probe_paths <= app_route_paths


def test_metrics_scrape_path_is_served(stack_run: StackRun, app_route_paths: set[str]) -> None:
    annotations = _deployment(stack_run).inputs["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] in app_route_paths


def test_settings_names_are_fields_of_the_service_settings(stack_run: StackRun) -> None:
    if not APP_PYTHON.exists():
        pytest.skip("app/.venv is missing")
    (settings,) = [config_map for config_map in stack_run.find("ConfigMap") if "DB_HOST" in config_map.inputs.get("data", {})]
    script = "import json; from service.config import Settings; print(json.dumps([n.upper() for n in Settings.model_fields]))"
    output = subprocess.run([str(APP_PYTHON), "-c", script], check=True, capture_output=True, text=True, cwd="app").stdout
    assert set(settings.inputs["data"]) <= set(json.loads(output))


def test_every_object_carries_the_recommended_labels(stack_run: StackRun) -> None:
    for resource in stack_run.kubernetes_objects():
        labels = resource.inputs["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "fastapi-service", resource.name
        if resource.kind != "Namespace":
            assert {"app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/managed-by"} <= set(labels), resource.name


def test_every_resource_belongs_to_a_component(stack_run: StackRun) -> None:
    components = {resource.urn for resource in stack_run.resources if not resource.custom}
    for resource in stack_run.resources:
        if resource.custom:
            assert resource.parent in components, f"{resource.type} {resource.name} has no component parent"


def test_every_kubernetes_object_uses_the_stacks_explicit_provider(stack_run: StackRun) -> None:
    (provider,) = stack_run.of_type("pulumi:providers:kubernetes")
    for resource in stack_run.kubernetes_objects():
        assert resource.provider.startswith(provider.urn + "::"), f"{resource.name} uses {resource.provider or 'the default provider'}"


def test_every_object_lives_in_the_stacks_namespace(stack_run: StackRun) -> None:
    namespace = stack_run.outputs["namespace"]
    for resource in stack_run.kubernetes_objects():
        if resource.kind != "Namespace":
            assert resource.inputs["metadata"]["namespace"] == namespace, resource.name


def test_namespace_enforces_pod_security_restricted(stack_run: StackRun) -> None:
    (namespace,) = stack_run.find("Namespace")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_prod_protects_the_namespace_that_holds_its_data(stack_run: StackRun) -> None:
    # Deleting a namespace deletes every volume claim in it: in prod a destroy stops here first.
    (namespace,) = stack_run.find("Namespace")
    assert namespace.protect == (stack_run.stack == "prod")


def test_secrets_and_config_maps_change_in_place_so_pods_roll_by_checksum(stack_run: StackRun) -> None:
    # Replaced (renamed) Secrets would also replace the migration Job that mounts them on every
    # rotation; updated in place, the Deployment's checksum annotations roll the pods instead.
    (provider,) = stack_run.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["enableSecretMutable"] in (True, "true")
    assert provider.inputs["enableConfigMapMutable"] in (True, "true")


@pytest.mark.parametrize("kind", ["HorizontalPodAutoscaler", "Ingress", "CronJob"])
def test_prod_only_objects_exist_only_in_prod(dev_run: StackRun, prod_run: StackRun, kind: str) -> None:
    assert dev_run.find(kind) == []
    assert len(prod_run.find(kind)) == 1


def test_prod_spreads_pods_and_scales_three_to_ten(prod_run: StackRun) -> None:
    deployment = _deployment(prod_run)
    assert _pod_spec(deployment)["topologySpreadConstraints"]
    (autoscaler,) = prod_run.find("HorizontalPodAutoscaler")
    assert (autoscaler.inputs["spec"]["minReplicas"], autoscaler.inputs["spec"]["maxReplicas"]) == (3, 10)
    assert "spec.replicas" in deployment.ignore_changes, "the HPA owns replicas once it exists"


def test_dev_is_one_small_replica_without_disruption_budget_for_the_api(dev_run: StackRun) -> None:
    deployment = _deployment(dev_run)
    assert deployment.inputs["spec"]["replicas"] == 1
    assert not [budget for budget in dev_run.find("PodDisruptionBudget") if budget.name == "api"]


def test_rollout_never_drops_below_desired_and_outlives_shutdown(stack_run: StackRun) -> None:
    spec = _deployment(stack_run).inputs["spec"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    (settings,) = [
        config_map for config_map in stack_run.find("ConfigMap") if "GRACEFUL_SHUTDOWN_TIMEOUT" in config_map.inputs.get("data", {})
    ]
    assert pod["terminationGracePeriodSeconds"] > pre_stop + int(settings.inputs["data"]["GRACEFUL_SHUTDOWN_TIMEOUT"])


def test_settings_or_secret_change_rolls_the_pods(run_with: Any) -> None:
    base = run_with("dev")
    changed_settings = run_with("dev", {"app": {"logLevel": "warning"}})
    changed_secret = run_with("dev", secrets={"secretKey": "a-new-secret-key-that-is-long-enough-0123456789"})

    def annotations(run: StackRun) -> dict[str, str]:
        return dict(_deployment(run).inputs["spec"]["template"]["metadata"]["annotations"])

    assert annotations(base)["checksum/settings"] != annotations(changed_settings)["checksum/settings"]
    assert annotations(base)["checksum/secrets"] != annotations(changed_secret)["checksum/secrets"]


def test_private_registry_adds_a_pull_secret(run_with: Any) -> None:
    image = {"registry": "registry.example.com", "repository": "team/api", "push": True, "registryUsername": "bot"}
    run = run_with("dev", {"image": image}, secrets={"registryPassword": "registry-token-canary"})
    pull_secrets = _pod_spec(_deployment(run)).get("imagePullSecrets", [])
    (registry_secret,) = [secret for secret in run.find("Secret") if secret.inputs.get("type") == "kubernetes.io/dockerconfigjson"]
    assert pull_secrets == [{"name": registry_secret.outputs["metadata"]["name"]}]
    expected_auth = base64.b64encode(b"bot:registry-token-canary").decode()
    assert expected_auth in " ".join(registry_secret.secret_values()), "the credential travels only as a secret"


def test_no_secret_is_exported_in_plaintext(stack_run: StackRun) -> None:
    secret_values = {value for resource in stack_run.resources for value in resource.secret_values() if len(value) >= 8}
    for name, value in stack_run.outputs.items():
        if name in stack_run.secret_outputs:
            continue
        assert not any(secret in json.dumps(value) for secret in secret_values), f"output {name} leaks a secret"
    assert "apiKey" in stack_run.secret_outputs


def test_running_the_program_under_mocks_leaves_ctrl_c_alone() -> None:
    # The program exits quietly on the engine's SIGINT only under the real engine; a test
    # process that runs it keeps Python's own handler (and its teardown on Ctrl-C).
    import signal

    from offline.engine import run_stack

    before = signal.getsignal(signal.SIGINT)
    run_stack("dev")
    assert signal.getsignal(signal.SIGINT) is before
