"""The worker per stack: the API's image, settings and secrets; after the migration; restricted,
unreachable, shut down warmly within the task time limit; scaled as the config says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components.config import StackConfig
from components.app.runtime import SECRETS_DIR
from components.app.worker import ALIVE_COMMAND, READY_COMMAND, WORKER_COMMAND
from offline.engine import RecordedResource, StackRun
from tests.support.objects import kubernetes_objects, pod_labels, pod_spec

RunWith = Callable[..., StackRun]


def _worker_objects(run: StackRun) -> list[RecordedResource]:
    return kubernetes_objects(run, "fastapi-service:app:Worker")


def _deployment(run: StackRun) -> RecordedResource:
    (deployment,) = [resource for resource in _worker_objects(run) if resource.kind == "Deployment"]
    return deployment


def _container(run: StackRun) -> dict[str, Any]:
    (container,) = pod_spec(_deployment(run))["containers"]
    found: dict[str, Any] = container
    return found


def _api(run: StackRun) -> RecordedResource:
    (api,) = [resource for resource in run.find("Deployment") if pod_labels(resource)["app.kubernetes.io/component"] == "api"]
    return api


def test_the_worker_runs_the_apis_image_settings_and_secret_files(stack_run: StackRun) -> None:
    (api_container,) = pod_spec(_api(stack_run))["containers"]
    container = _container(stack_run)
    assert container["image"] == api_container["image"]
    assert container["command"][: len(WORKER_COMMAND)] == WORKER_COMMAND
    assert api_container["envFrom"][0] in container["envFrom"]
    secrets_volume = next(volume for volume in pod_spec(_deployment(stack_run))["volumes"] if "secret" in volume)
    api_secrets = next(volume for volume in pod_spec(_api(stack_run))["volumes"] if "secret" in volume)
    assert secrets_volume["secret"]["secretName"] == api_secrets["secret"]["secretName"]
    assert {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True} in container["volumeMounts"]


def test_the_worker_starts_after_the_migration_job(stack_run: StackRun) -> None:
    (job,) = stack_run.find("Job")
    assert job.urn in _deployment(stack_run).depends_on


def test_probes_need_no_broker_round_trip_for_liveness(stack_run: StackRun) -> None:
    container = _container(stack_run)
    assert container["livenessProbe"]["exec"]["command"] == ALIVE_COMMAND
    assert container["startupProbe"]["exec"]["command"] == ALIVE_COMMAND
    assert container["readinessProbe"]["exec"]["command"] == READY_COMMAND


def test_a_warm_shutdown_outlasts_the_task_time_limit(stack_run: StackRun, stack_config: StackConfig) -> None:
    assert pod_spec(_deployment(stack_run))["terminationGracePeriodSeconds"] > stack_config.worker.time_limit_seconds


def test_the_worker_has_its_own_tokenless_account(stack_run: StackRun) -> None:
    pod = pod_spec(_deployment(stack_run))
    assert pod["automountServiceAccountToken"] is False
    (account,) = [resource for resource in _worker_objects(stack_run) if resource.kind == "ServiceAccount"]
    assert account.inputs["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == account.outputs["metadata"]["name"]
    assert pod["serviceAccountName"] != pod_spec(_api(stack_run))["serviceAccountName"]


def test_scaling_follows_the_config(stack_run: StackRun, stack_config: StackConfig) -> None:
    worker, kinds = stack_config.worker, [resource.kind for resource in _worker_objects(stack_run)]
    assert _deployment(stack_run).inputs["spec"]["replicas"] == worker.replicas
    assert ("HorizontalPodAutoscaler" in kinds) == worker.autoscaling.enabled
    assert ("PodDisruptionBudget" in kinds) == (worker.replicas >= 2 or worker.autoscaling.enabled)
    assert "Service" not in kinds  # nothing connects to a worker


def test_settings_reach_the_worker_and_a_change_rolls_it(run_with: RunWith, dev_run: StackRun) -> None:
    def annotations(run: StackRun) -> dict[str, str]:
        return dict(_deployment(run).inputs["spec"]["template"]["metadata"]["annotations"])

    worker = {"replicas": 1, "concurrency": 3}
    changed_worker = run_with("dev", {"worker": worker})
    (worker_settings,) = [resource for resource in _worker_objects(changed_worker) if resource.kind == "ConfigMap"]
    assert worker_settings.inputs["data"]["WORKER_CONCURRENCY"] == "3"
    assert annotations(changed_worker)["checksum/settings"] != annotations(dev_run)["checksum/settings"]
    changed_app = run_with("dev", {"app": {"logLevel": "warning"}})
    assert annotations(changed_app)["checksum/settings"] != annotations(dev_run)["checksum/settings"]


def test_a_disabled_worker_is_not_deployed(run_with: RunWith) -> None:
    run = run_with("dev", {"worker": {"enabled": False}})
    assert _worker_objects(run) == []
