"""Both stacks on a real Kubernetes node, end to end, as a user drives them and as their clients
see them: `pulumi up` with the real engine, the image built by pulumi-docker and pulled by the
kubelet by digest, probes, the restricted security contexts under a real runtime, volumes,
migrations, the worker, Service DNS, NetworkPolicies enforced, rollouts and faults under load,
backups restored, drift found and undone, destroy. `make test-node` runs it (scripts/node,
tests/e2e/node/scenario.py).

(Over 300 lines on purpose: every rule the live stacks are judged by, read from one run per stack.)
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from components.config import backed_up
from offline.gates import crds
from offline.paths import BUILD_DIR
from tests.e2e.node import scenario
from tests.e2e.node.scenario import Live
from tests.support.docker import DockerDaemon
from tests.support.node import Node
from tests.support.reports import write_phase_seconds
from tests.support.stacks import STACKS

REPORT_DIR = BUILD_DIR / "node"
APP_CONTAINERS = ("api", "worker", "migrate")
MONITORING_CRDS = ("servicemonitors", "prometheusrules")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Node]:
    run_dir = tmp_path_factory.mktemp("node")
    failed_before = request.session.testsfailed
    started = Node.start(run_dir)
    try:
        install_crds(started)
        yield started
    finally:
        stopped = started.stop()
        if request.session.testsfailed > failed_before or stopped.returncode != 0:
            print(f"\nnode logs kept in {started.keep_logs(REPORT_DIR / 'logs')}\n{stopped.stderr[-2000:]}")
        write_phase_seconds(REPORT_DIR, "node", {}, start_seconds=started.start_seconds)


def install_crds(node: Node) -> None:
    """The CRDs a cluster with a Gateway controller and prometheus-operator has: prod exposes the API
    through an HTTPRoute, and the node test turns prod's monitoring on (a ServiceMonitor, a
    PrometheusRule). The same pinned files the offline gate checks against (scripts/crds)."""
    directory = crds.crd_directory()
    gateway = [path for path in (directory / "gateway-api").glob("gateway.networking.k8s.io_*.yaml") if "_vap_" not in path.name]
    monitoring = [directory / "prometheus-operator" / f"monitoring.coreos.com_{kind}.yaml" for kind in MONITORING_CRDS]
    for path in [*sorted(gateway), *monitoring]:
        node.kubectl("apply", "--server-side", "-f", str(path))
    for name in ("httproutes.gateway.networking.k8s.io", *(f"{kind}.monitoring.coreos.com" for kind in MONITORING_CRDS)):
        node.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")


@pytest.fixture(scope="module")
def daemon(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerDaemon]:
    """The Docker daemon pulumi-docker builds with, pushing to the node's registry."""
    started = DockerDaemon.start(tmp_path_factory.mktemp("docker"), registry_address=None, use_registry=node.env["NODE_HOST_REGISTRY"])
    try:
        started.load_standins()
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module", params=STACKS)
def live(request: pytest.FixtureRequest, node: Node, daemon: DockerDaemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp(f"node-{request.param}")
    workspace, life = scenario.set_up(root / "workspace", request.param, node, daemon)
    try:
        scenario.first_up(workspace, node, life)
        scenario.inspect_runtime(node, life)
        image = node.get("deployment", life.namespace, "api")["spec"]["template"]["spec"]["containers"][0]["image"]
        pods = scenario.clients(node, life, image)
        scenario.traffic(life, pods["client"], node)
        scenario.network(life, pods)
        scenario.rollout(workspace, node, life, pods["client"])
        scenario.failing_migration(workspace, node, life)
        scenario.faults(node, life, pods["client"])
        scenario.backups(workspace, node, life, pods["client"], root)
        for pod in pods.values():
            pod.delete()
        scenario.refused_changes(workspace, node, life)
        scenario.drift(workspace, node, life)
        scenario.out_of_band_edits(workspace, node, life)
        scenario.destroy(workspace, node, life)
        yield life
    finally:
        if not life.after_destroy:  # a step failed: leave the node clean for the next stack
            scenario.destroy(workspace, node, life)
        write_phase_seconds(REPORT_DIR, life.stack, life.phases, **life.seconds)
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# The first up


def test_up_brings_every_workload_to_ready(live: Live) -> None:
    state = live.after_up
    assert live.phases["up"].returncode == 0
    for deployment in state["deployment"]:
        status = deployment["status"]
        assert status.get("readyReplicas") == deployment["spec"]["replicas"], deployment["metadata"]["name"]
    for statefulset in state["statefulset"]:
        assert statefulset["status"].get("readyReplicas") == 1, statefulset["metadata"]["name"]
    running = [pod for pod in state["pod"] if pod["status"].get("phase") == "Running"]
    assert all(status.get("ready") for pod in running for status in pod["status"]["containerStatuses"])


def test_the_migration_completed_before_any_pod_of_the_image_became_ready(live: Live) -> None:
    (job,) = [job for job in live.after_up["job"] if job["metadata"]["name"].startswith("api-migrate-")]
    assert job["status"].get("succeeded") == 1
    completed = job["status"]["completionTime"]
    for pod in live.after_up["pod"]:
        if pod["metadata"]["labels"].get("app.kubernetes.io/component") in {"api", "worker"}:
            ready = [c["lastTransitionTime"] for c in pod["status"]["conditions"] if c["type"] == "Ready" and c["status"] == "True"]
            assert ready, pod["metadata"]["name"]
            assert ready[0] >= completed, pod["metadata"]["name"]


def test_every_claim_is_bound_through_the_provisioner_once_a_pod_uses_it(live: Live) -> None:
    # The StorageClass binds on first use (WaitForFirstConsumer): the servers' claims at the first
    # up, the backup repository's volume (dev) when the first backup job mounts it.
    servers = [claim for claim in live.after_up["pvc"] if claim["metadata"]["name"].startswith("data-")]
    assert sorted(claim["metadata"]["name"] for claim in servers) == ["data-mysql-0", "data-redis-0"]
    for claim in [*servers, *live.backups["claims"]]:
        assert claim["status"]["phase"] == "Bound", claim["metadata"]["name"]
        assert claim["metadata"]["annotations"].get("volume.kubernetes.io/storage-provisioner") == "rancher.io/local-path"


def test_every_pod_pulled_its_image_by_digest_from_the_node_registry(live: Live) -> None:
    for pod in live.after_up["pod"]:
        for status in pod["status"].get("containerStatuses", []) + pod["status"].get("initContainerStatuses", []):
            assert "@sha256:" in status["image"] or status["imageID"].split("@")[-1].startswith("sha256:"), pod["metadata"]["name"]
            assert status["imageID"].endswith(status["image"].split("@")[-1]) if "@" in status["image"] else True


def test_containers_run_as_the_rendered_uid_on_a_read_only_root_without_capabilities(live: Live) -> None:
    assert live.runtime, "no running container was inspected"
    for container, seen in live.runtime.items():
        assert seen["uid"] == "10001", container
        assert seen["root"] == "read-only", container
        assert seen["capabilities"] == "0000000000000000", container


# ---------------------------------------------------------------------------------------
# Traffic from a pod in the namespace


def test_items_are_created_listed_and_read_through_the_services_dns_name(live: Live) -> None:
    assert [created["status"] for created in live.traffic["created"]] == [201, 201, 201]
    listed = {item["id"] for item in live.traffic["list"]["body"]["items"]}
    assert {created["body"]["id"] for created in live.traffic["created"]} <= listed


def test_the_second_read_is_a_cache_hit(live: Live) -> None:
    assert [read["status"] for read in live.traffic["reads"]] == [200, 200]
    assert live.traffic["reads"][1]["cache"] == "hit"
    assert live.traffic["cache_hits"] >= 1  # counted by the app's /metrics


def test_a_bulk_import_goes_through_the_worker(live: Live) -> None:
    job = live.traffic["import"]["job"]
    assert job["state"] == "succeeded", job
    assert job["inserted"] == job["total"] == 50
    grown = live.traffic["list_after_import"]["body"]["total"] - live.traffic["list"]["body"]["total"]
    assert grown == 50


# ---------------------------------------------------------------------------------------
# NetworkPolicies, enforced


def test_a_pod_that_is_not_a_client_reaches_nothing(live: Live) -> None:
    stranger = live.network["stranger"]
    for target in ("mysql", "redis", "api"):
        assert stranger[target] == {"connected": False, "error": "timeout", "seconds": stranger[target]["seconds"]}, target


def test_a_labelled_client_reaches_the_api_and_not_the_servers(live: Live) -> None:
    client = live.network["client"]
    assert client["api"]["connected"]
    assert not client["mysql"]["connected"]
    assert not client["redis"]["connected"]


def test_dns_works_under_default_deny_and_backup_pods_reach_only_their_server(live: Live) -> None:
    for name in ("client", "stranger", "backup-like"):
        assert live.network[name]["dns"]["addresses"], name
    backup = live.network["backup-like"]
    assert backup["mysql"]["connected"]
    assert not backup["api"]["connected"]
    assert not backup["redis"]["connected"]
    assert not backup["outside"]["connected"]


# ---------------------------------------------------------------------------------------
# Changes under load


def test_a_rollout_of_a_setting_and_an_image_fails_no_request(live: Live) -> None:
    load = live.rollout["load"]
    assert "error" not in load, load
    assert load["statuses"], "the load loop did not run"
    assert set(load["statuses"]) <= {"200", "201"}, (load["statuses"], load["failures"], load["unexpected"], live.rollout["complaints"])


def test_old_pods_drain_and_exit_cleanly(live: Live) -> None:
    ended = [
        seen
        for seen in live.rollout["endings"].values()
        if seen["event"] == "DELETED" and seen["labels"].get("app.kubernetes.io/component") in {"api", "worker"}
    ]
    assert ended, "no pod of the old version ended during the rollout"
    for seen in ended:
        for status in seen["containers"]:
            terminated = status.get("state", {}).get("terminated") or status.get("lastState", {}).get("terminated") or {}
            assert terminated.get("exitCode") == 0, seen


def test_a_failing_migration_stops_the_up_and_the_old_pods_keep_serving(live: Live) -> None:
    failed = live.failed_migration
    assert failed["result"].returncode != 0
    assert "api-migrate-" in failed["result"].output
    assert "Traceback" not in failed["result"].output
    deployment = failed["deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == failed["image_before"]
    assert deployment["status"].get("availableReplicas") == deployment["spec"]["replicas"]
    assert failed["recovery"].returncode == 0, failed["recovery"].output[-3000:]


def test_reads_answer_503_not_500_while_mysql_is_away_and_no_row_is_lost(live: Live) -> None:
    mysql = live.faults["mysql"]
    statuses = mysql["load"]["statuses"]
    assert "500" not in statuses, statuses
    assert set(statuses) <= {"200", "201", "503"}, (statuses, mysql["load"]["failures"])
    assert mysql["total_after"] >= mysql["total_before"] + len(mysql["load"]["created"])


def test_a_worker_deleted_mid_import_loses_no_task(live: Live) -> None:
    worker = live.faults["worker"]
    assert worker["job"]["state"] == "succeeded", worker
    assert worker["job"]["inserted"] == worker["job"]["total"] == 1000
    assert worker["total_after"] - worker["total_before"] == 1000  # nothing twice


# ---------------------------------------------------------------------------------------
# Backups, drift, refusals, destroy


def test_each_backup_job_runs_and_its_snapshot_restores_into_fresh_servers(live: Live) -> None:
    servers = backed_up(live.config)
    assert sorted(job["metadata"]["name"] for job in live.backups["jobs"]) == sorted(f"{server}-backup-now" for server in servers)
    for job in live.backups["jobs"]:
        assert job["status"].get("succeeded") == 1, job["metadata"]["name"]
    restored = live.backups["restore"]
    assert restored["returncode"] == 0, restored["stderr"]
    live_items = {(item["id"], item["name"]) for item in live.backups["live_items"]["items"]}
    assert live_items <= {(item_id, name) for item_id, name in restored["items"]}
    if "redis" in servers:
        assert restored["item_cache_keys"], "the Redis snapshot held no item-cache key"


def test_no_drift_after_refresh_and_a_second_up_changes_nothing(live: Live) -> None:
    assert live.phases["refresh"].returncode == 0, live.phases["refresh"].output[-3000:]
    assert live.phases["preview-after-refresh"].returncode == 0, live.phases["preview-after-refresh"].output[-3000:]
    assert live.phases["up-again"].returncode == 0
    assert live.snapshots["before-refresh"] == live.snapshots["after-up-again"]


def test_the_drift_check_passes_right_after_up(live: Live) -> None:
    assert live.phases["drift-check"].returncode == 0, live.phases["drift-check"].output[-3000:]


def test_an_edit_behind_pulumis_back_fails_the_drift_check_naming_the_deployment(live: Live) -> None:
    edited, declared = live.drift["edited"], live.drift["declared"]
    assert edited["label"] != declared["label"], "the label edit did not take"
    assert edited["image"] != declared["image"], "the image edit did not take"
    detected = live.phases["drift-detected"]
    assert detected.returncode != 0
    assert "kubernetes:apps/v1:Deployment::api" in detected.output, detected.output[-3000:]
    assert "no changes were expected" in detected.output


def test_up_with_refresh_restores_the_declared_deployment(live: Live) -> None:
    assert live.phases["drift-restored"].returncode == 0, live.phases["drift-restored"].output[-3000:]
    assert live.drift["restored"] == live.drift["declared"]


def test_a_scale_by_another_field_manager_is_not_fought_while_an_hpa_owns_replicas(live: Live) -> None:
    if not live.config.app.autoscaling.enabled:
        pytest.skip("no HPA in this stack: spec.replicas is declared, and a kubectl scale is drift (the test above)")
    scaled = live.drift["scaled"]
    assert live.phases["up-after-scale"].returncode == 0, live.phases["up-after-scale"].output[-3000:]
    assert scaled["after_up"] == scaled["written"]
    assert scaled["owners"] == [scenario.HPA_FIELD_MANAGER]


def test_monitoring_objects_exist_only_where_the_stack_turns_monitoring_on(live: Live) -> None:
    found = {kind: [item["metadata"]["name"] for item in live.after_up[kind]] for kind in scenario.MONITORING_KINDS}
    if live.config.monitoring.enabled or live.stack == "prod":  # the node test turns prod's on
        assert all(found.values()), found
    else:
        assert not any(found.values()), found


def test_pod_security_and_the_volume_lock_refuse_before_anything_changes(live: Live) -> None:
    assert "violates PodSecurity" in live.refused_pod
    refused = live.phases["refused-change"]
    assert refused.returncode != 0
    assert "mysql.storage" in refused.output
    assert live.snapshots["before-refused-change"] == live.snapshots["after-refused-change"]


def test_destroy_leaves_no_pod_claim_or_volume(live: Live) -> None:
    if live.stack == "prod":  # protected data: refused, then unprotected and destroyed
        assert live.phases["destroy"].returncode != 0
        assert "because it is protected" in live.phases["destroy"].output
        assert live.phases["destroy-unprotected"].returncode == 0
    else:
        assert live.phases["destroy"].returncode == 0
    assert live.after_destroy["namespace_gone"]
    assert live.after_destroy["pods"] == []
    assert live.after_destroy["volumes"] == []  # local-path's reclaim policy Delete: the data went with the claims
