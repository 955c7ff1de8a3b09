"""`pulumi up` against a real Kubernetes API server, for each stack, as a user drives it.

The control plane is real (etcd, kube-apiserver with Pod Security admission, the controller
manager, the scheduler); kwok stands in for kubelets: pods are admitted, scheduled and
marked Running and Ready, Job pods complete (or fail, for an image marked
`fail-migration`), but no container runs and no probe is called. `make test-cluster` runs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import backed_up
from offline.paths import BUILD_DIR
from tests.support import leaks
from tests.support.control_plane import ControlPlane, availability, ingress_controller
from tests.support.pulumi_cli import Result, Workspace, toolchain_bin
from tests.support.reports import write_phase_seconds
from tests.support.stacks import STACKS, committed_config

NAMESPACES = {"dev": "fastapi-dev", "prod": "fastapi-prod"}
REPORT_DIR = BUILD_DIR / "control-plane"


def _image(tag: str) -> str:
    return f"registry.example.com/platform/fastapi-service:{tag}@sha256:{hashlib.sha256(tag.encode()).hexdigest()}"


IMAGE = _image("1.0.0")
NEW_IMAGE = _image("1.1.0")
# kwok fails the pods of this image (scripts/control-plane/stages/pod-fail.yaml): a migration that fails.
FAILING_IMAGE = _image("1.2.0-fail-migration")
# Pulumi's own await on the app: these kinds must be ready before `pulumi up` returns.
WORKLOADS = ("deployment", "statefulset")


def _cluster_bin() -> Path:
    value = os.environ.get("CLUSTER_BIN")
    if not value or not (Path(value) / "kube-apiserver").is_file():
        pytest.fail("CLUSTER_BIN is not set to the control plane's binaries: run these tests with `make test-cluster`")
    return Path(value)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    run_dir = tmp_path_factory.mktemp("control-plane")
    failed_before = request.session.testsfailed
    plane = ControlPlane.start(run_dir, _cluster_bin())
    try:
        yield plane
    finally:
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        (REPORT_DIR / "control-plane-rss.json").write_text(json.dumps(plane.peak_rss_mib(), indent=2) + "\n")
        plane.stop()
        if request.session.testsfailed > failed_before:
            kept = plane.keep_logs(REPORT_DIR / "logs")
            print(f"\ncontrol plane logs kept in {kept}")
        shutil.rmtree(run_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# One stack's life on the cluster


@dataclass
class Snapshot:
    """Identity and generation of every object in the namespace, pods included."""

    objects: dict[str, tuple[str, int | None]]

    @classmethod
    def take(cls, cluster: ControlPlane, namespace: str) -> Snapshot:
        kinds = "all,configmaps,secrets,serviceaccounts,networkpolicies,poddisruptionbudgets,ingresses,persistentvolumeclaims,jobs"
        listed = json.loads(cluster.kubectl("get", kinds, "-n", namespace, "-o", "json").stdout)["items"]
        return cls(
            {f"{item['kind']}/{item['metadata']['name']}": (item["metadata"]["uid"], item["metadata"].get("generation")) for item in listed}
        )

    def changed(self, other: Snapshot) -> list[str]:
        return sorted(key for key in set(self.objects) | set(other.objects) if self.objects.get(key) != other.objects.get(key))


@dataclass
class Live:
    stack: str
    namespace: str
    phases: dict[str, Result] = field(default_factory=dict)
    after_up: dict[str, Any] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    rollout: list[dict[str, Any]] = field(default_factory=list)
    rollout_errors: list[str] = field(default_factory=list)
    jobs_after_new_image: list[dict[str, Any]] = field(default_factory=list)
    replica_sets_after_new_image: list[dict[str, Any]] = field(default_factory=list)
    deployment_after_failed_migration: dict[str, Any] = field(default_factory=dict)
    jobs_after_failed_migration: list[dict[str, Any]] = field(default_factory=list)
    backup_jobs: list[dict[str, Any]] = field(default_factory=list)
    backup_events: list[dict[str, Any]] = field(default_factory=list)
    refused_pod: str = ""
    failed_create_seen: bool = False
    namespace_gone: bool = False
    volumes_after_destroy: list[dict[str, Any]] = field(default_factory=list)

    def phase(self, name: str) -> Result:
        return self.phases[name]


def _workload_state(cluster: ControlPlane, namespace: str) -> dict[str, Any]:
    return {
        "deployments": cluster.items("deployment", namespace),
        "statefulsets": cluster.items("statefulset", namespace),
        "jobs": cluster.items("job", namespace),
        "replicasets": cluster.items("replicaset", namespace),
        "pods": cluster.items("pod", namespace),
        "events": cluster.items("event", namespace),
    }


def _up(workspace: Workspace, cluster: ControlPlane, namespace: str, *extra: str, check: bool = True) -> Result:
    with ingress_controller(cluster, namespace):
        return workspace.run("up", "--yes", *extra, check=check)


BAD_POD = """
apiVersion: v1
kind: Pod
metadata: {name: breaks-restricted, namespace: NAMESPACE}
spec:
  containers: [{name: app, image: "registry.example.com/x:1@sha256:%s"}]
""" % ("0" * 64)

BAD_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: breaks-restricted, namespace: NAMESPACE}
spec:
  replicas: 1
  selector: {matchLabels: {app: breaks-restricted}}
  template:
    metadata: {labels: {app: breaks-restricted}}
    spec:
      containers: [{name: app, image: "registry.example.com/x:1@sha256:%s"}]
""" % ("0" * 64)


def _pod_security_is_live(cluster: ControlPlane, live: Live) -> None:
    refused = cluster.kubectl("apply", "-f", "-", stdin=BAD_POD.replace("NAMESPACE", live.namespace), check=False)
    live.refused_pod = refused.stderr if refused.returncode != 0 else ""
    # A Deployment is admitted with a warning; its pods are refused: FailedCreate on the ReplicaSet.
    cluster.kubectl("apply", "-f", "-", stdin=BAD_DEPLOYMENT.replace("NAMESPACE", live.namespace))
    for _ in range(60):
        events = cluster.items("event", live.namespace)
        if any(event.get("reason") == "FailedCreate" and "breaks-restricted" in event["involvedObject"]["name"] for event in events):
            live.failed_create_seen = True
            break
        time.sleep(0.5)
    cluster.kubectl("delete", "deployment", "breaks-restricted", "-n", live.namespace, "--wait=true")


def _run_each_backup_once(cluster: ControlPlane, live: Live) -> None:
    """A Job from each backup CronJob, as its schedule would start it (`kubectl create job --from`)."""
    for cron_job in cluster.items("cronjob", live.namespace):
        name = f"{cron_job['metadata']['name']}-now"
        cluster.kubectl("create", "job", name, f"--from=cronjob/{cron_job['metadata']['name']}", "-n", live.namespace)
        cluster.kubectl("wait", f"job/{name}", "-n", live.namespace, "--for=condition=Complete", "--timeout=60s", check=False)
        live.backup_jobs.append(cluster.get("job", live.namespace, name))
    events = cluster.items("event", live.namespace)
    live.backup_events = [event for event in events if event["involvedObject"]["name"].endswith("-now")]


def _live(cluster: ControlPlane, root: Path, stack: str) -> Live:
    namespace = NAMESPACES[stack]
    live = Live(stack=stack, namespace=namespace)
    phases = live.phases
    workspace = Workspace.create(root, stack, toolchain_bin())
    workspace.run("stack", "init", stack)
    workspace.use_prebuilt_image(IMAGE)
    workspace.set_path("image.registryUsername", leaks.REGISTRY_USERNAME)
    workspace.set_path("kubernetes.kubeconfig", str(cluster.kubeconfig))
    for key, value in leaks.canaries(stack).items():
        workspace.set_secret(key, value)

    phases["up"] = _up(workspace, cluster, namespace)
    live.after_up = _workload_state(cluster, namespace)
    live.snapshots["after-up"] = Snapshot.take(cluster, namespace)
    phases["preview-unchanged"] = workspace.run("preview", "--expect-no-changes")
    phases["up-again"] = _up(workspace, cluster, namespace, "--expect-no-changes")
    live.snapshots["after-second-up"] = Snapshot.take(cluster, namespace)

    # An API key rotation: the app's pods roll, nothing else moves.
    workspace.set_secret("apiKeys", leaks.canaries()["apiKeys"])
    with availability(cluster, namespace, "api") as observed:
        phases["rotation"] = _up(workspace, cluster, namespace)
    live.rollout, live.rollout_errors = observed.samples, observed.errors
    live.snapshots["after-rotation"] = Snapshot.take(cluster, namespace)

    # A new image: its migration Job runs before the new pods.
    workspace.set_path("image.reference", NEW_IMAGE)
    phases["new-image"] = _up(workspace, cluster, namespace)
    live.jobs_after_new_image = cluster.items("job", namespace)
    live.replica_sets_after_new_image = cluster.items("replicaset", namespace)
    live.snapshots["after-new-image"] = Snapshot.take(cluster, namespace)

    # A migration that fails stops the up; the pods of the last good image keep serving.
    workspace.set_path("image.reference", FAILING_IMAGE)
    phases["failing-migration"] = _up(workspace, cluster, namespace, check=False)
    live.deployment_after_failed_migration = cluster.get("deployment", namespace, "api")
    live.jobs_after_failed_migration = cluster.items("job", namespace)
    workspace.set_path("image.reference", NEW_IMAGE)
    phases["recovery"] = _up(workspace, cluster, namespace, check=False)
    phases["preview-after-recovery"] = workspace.run("preview", "--expect-no-changes", check=False)

    # A change that would replace a StatefulSet (its volume claim templates) is refused first.
    live.snapshots["before-refused-change"] = Snapshot.take(cluster, namespace)
    # prod pins the deployed volume shape in its stack file; dev pins it here, as a user would.
    storage = yaml.safe_load(workspace.stack_file.read_text())["config"]["fastapi-service:mysql"]["storage"]
    deployed = f"{storage.get('className', 'default')}:{storage['size']}"
    workspace.set_path("mysql.storage.lock", deployed)
    workspace.set_path("mysql.storage.size", "40Gi")
    phases["refused-change"] = _up(workspace, cluster, namespace, check=False)
    live.snapshots["after-refused-change"] = Snapshot.take(cluster, namespace)
    workspace.set_path("mysql.storage.size", storage["size"])

    _run_each_backup_once(cluster, live)
    _pod_security_is_live(cluster, live)

    live.snapshots["before-destroy"] = Snapshot.take(cluster, namespace)
    phases["destroy"] = workspace.run("destroy", "--yes", check=False)
    if phases["destroy"].returncode != 0:
        live.snapshots["after-refused-destroy"] = Snapshot.take(cluster, namespace)
        phases["unprotect"] = workspace.run("state", "unprotect", "--all", "--yes")
        phases["destroy-unprotected"] = workspace.run("destroy", "--yes")
    live.namespace_gone = cluster.wait_until_namespace_gone(namespace)
    live.volumes_after_destroy = [
        volume
        for volume in json.loads(cluster.kubectl("get", "persistentvolumes", "-o", "json").stdout)["items"]
        if (volume["spec"].get("claimRef") or {}).get("namespace") == namespace
    ]
    write_phase_seconds(REPORT_DIR, live.stack, live.phases)
    return live


@pytest.fixture(scope="module", params=STACKS)
def live(request: pytest.FixtureRequest, cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp(f"cluster-{request.param}")
    try:
        yield _live(cluster, root, request.param)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["metadata"]["name"]: item for item in items}


# ---------------------------------------------------------------------------------------
# The first up


def test_up_waits_for_every_workload_to_be_ready(live: Live) -> None:
    state = live.after_up
    assert state["deployments"]
    assert state["statefulsets"]
    for deployment in state["deployments"]:
        status = deployment["status"]
        assert status.get("availableReplicas") == deployment["spec"]["replicas"], deployment["metadata"]["name"]
        assert status.get("updatedReplicas") == deployment["spec"]["replicas"]
    for statefulset in state["statefulsets"]:
        status = statefulset["status"]
        assert status.get("readyReplicas") == statefulset["spec"]["replicas"], statefulset["metadata"]["name"]
        assert status.get("currentRevision") == status.get("updateRevision")


def test_the_migration_job_completes_before_the_deployment_rolls_out(live: Live) -> None:
    (job,) = live.after_up["jobs"]
    assert job["status"].get("succeeded") == 1
    for replica_set in live.after_up["replicasets"]:  # the API's and the worker's
        assert job["status"]["completionTime"] <= replica_set["metadata"]["creationTimestamp"]


def test_every_pod_the_controllers_wanted_was_admitted(live: Live) -> None:
    # Pod Security `restricted` is enforced: a refused pod shows only as a FailedCreate event.
    assert [event for event in live.after_up["events"] if event.get("reason") == "FailedCreate"] == []
    wanted = sum(item["spec"]["replicas"] for item in live.after_up["deployments"] + live.after_up["statefulsets"])
    running = [pod for pod in live.after_up["pods"] if pod["status"].get("phase") == "Running"]
    assert len(running) == wanted


def test_each_backup_cronjob_starts_a_job_whose_pod_is_admitted_and_completes(live: Live) -> None:
    # One CronJob per backed-up server; its pod (snapshot initContainer, restic container)
    # passes Pod Security `restricted`. kwok runs no container: this proves the objects, and
    # tests/components/data/backup/test_commands.py the scripts.
    servers = backed_up(committed_config(live.stack))
    assert servers
    assert sorted(job["metadata"]["name"] for job in live.backup_jobs) == sorted(f"{server}-backup-now" for server in servers)
    assert [event for event in live.backup_events if event.get("reason") == "FailedCreate"] == []
    for job in live.backup_jobs:
        assert job["status"].get("succeeded") == 1, job["metadata"]["name"]


# ---------------------------------------------------------------------------------------
# Convergence


def test_a_second_preview_and_up_change_nothing_on_the_live_server(live: Live) -> None:
    assert live.phase("preview-unchanged").returncode == 0
    assert live.phase("up-again").returncode == 0
    # Server-side apply of the same objects: no generation moves, nothing is recreated.
    assert live.snapshots["after-up"].changed(live.snapshots["after-second-up"]) == []


# ---------------------------------------------------------------------------------------
# Changes


def test_rotating_api_keys_rolls_the_app_without_losing_availability(live: Live) -> None:
    assert live.rollout_errors == []
    assert live.rollout, "the rollout was not observed"
    assert max(sample["generation"] for sample in live.rollout) > min(sample["generation"] for sample in live.rollout)
    assert min(sample["available"] - sample["replicas"] for sample in live.rollout) >= 0
    changed = live.snapshots["after-second-up"].changed(live.snapshots["after-rotation"])
    assert "Deployment/api" in changed
    assert [key for key in changed if key.startswith(("StatefulSet/", "Pod/mysql", "Pod/redis", "PersistentVolumeClaim/"))] == []


def test_a_new_image_runs_its_migration_before_its_pods(live: Live) -> None:
    jobs = [job for job in live.jobs_after_new_image if job["spec"]["template"]["spec"]["containers"][0]["image"] == NEW_IMAGE]
    (job,) = jobs
    assert job["status"].get("succeeded") == 1
    new_sets = [
        replica_set
        for replica_set in live.replica_sets_after_new_image
        if replica_set["spec"]["template"]["spec"]["containers"][0]["image"] == NEW_IMAGE
    ]
    assert len(new_sets) == 2  # the API's and the worker's
    for replica_set in new_sets:
        assert job["status"]["completionTime"] <= replica_set["metadata"]["creationTimestamp"]
        assert replica_set["status"].get("availableReplicas") == replica_set["spec"]["replicas"]


def test_a_failing_migration_stops_the_up_and_the_old_pods_keep_serving(live: Live) -> None:
    failed = live.phase("failing-migration")
    assert failed.returncode != 0
    (job,) = [job for job in live.jobs_after_failed_migration if job["spec"]["template"]["spec"]["containers"][0]["image"] == FAILING_IMAGE]
    assert job["metadata"]["name"] in failed.output
    assert "BackoffLimitExceeded" in failed.output
    assert "Traceback" not in failed.output
    deployment = live.deployment_after_failed_migration
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == NEW_IMAGE
    assert deployment["status"].get("availableReplicas") == deployment["spec"]["replicas"]


def test_after_a_failed_migration_the_next_good_up_converges(live: Live) -> None:
    assert live.phase("recovery").returncode == 0, live.phase("recovery").output[-3000:]
    assert live.phase("preview-after-recovery").returncode == 0


def test_a_change_that_would_replace_a_statefulset_is_refused_before_anything_is_applied(live: Live) -> None:
    refused = live.phase("refused-change")
    assert refused.returncode != 0
    assert "mysql.storage" in refused.output
    assert "volumeClaimTemplates" in refused.output
    assert live.snapshots["before-refused-change"].changed(live.snapshots["after-refused-change"]) == []


# ---------------------------------------------------------------------------------------
# Admission and destroy


def test_pod_security_restricted_is_enforced_by_the_api_server(live: Live) -> None:
    assert "violates PodSecurity" in live.refused_pod
    assert live.failed_create_seen, "a Deployment breaking `restricted` should leave FailedCreate events"


def test_destroy_empties_the_namespace(live: Live) -> None:
    if live.stack == "prod":
        refused = live.phase("destroy")
        assert refused.returncode != 0
        assert "because it is protected" in refused.output
        assert live.snapshots["before-destroy"].changed(live.snapshots["after-refused-destroy"]) == []
        assert live.phase("destroy-unprotected").returncode == 0
    else:
        assert live.phase("destroy").returncode == 0
    assert live.namespace_gone


def test_the_data_volumes_outlive_their_claims_as_their_reclaim_policy_says(live: Live) -> None:
    # The claims went with the namespace; these pre-created volumes are `Retain`: Released, data kept.
    assert live.volumes_after_destroy
    for volume in live.volumes_after_destroy:
        assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        assert volume["status"]["phase"] == "Released"
