"""One stack's life on a real node, as a user drives it and as its clients see it: what
tests/e2e/node/test_stack_on_node.py judges. Each step records what it saw in `Live`.

(Over 300 lines on purpose: the scenario reads top to bottom in the order it runs.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.config import StackConfig, backed_up
from offline.paths import PROJECT_ROOT
from tests.support import leaks
from tests.support.docker import DockerDaemon
from tests.support.node import ClientPod, Node, in_background, load_from
from tests.support.pulumi_cli import PROJECT, Result, Workspace, toolchain_bin
from tests.support.stacks import committed_config
from testservers.restic import restic_binary

API_CLIENT_LABEL = {"fastapi-service/api-client": "true"}
LOAD_SECONDS = 240  # the most a load loop runs; it stops when the step it accompanies is done
MIGRATION_FAILURE = "this migration fails on purpose"  # the broken migration's message
POD_ENDING_SECONDS = 180  # old pods: the preStop pause plus the graceful shutdown, with room
# What .github/workflows/drift.yml runs: refresh, then fail on any change.
DRIFT_CHECK = ("preview", "--refresh", "--expect-no-changes", "--diff")
DRIFTED_LABEL = "app.kubernetes.io/part-of"  # a label Pulumi sets on the Deployment
HPA_FIELD_MANAGER = "horizontal-pod-autoscaler"  # as kube-controller-manager's HPA writes /scale
MONITORING_KINDS = ("servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com")


@dataclass
class Live:
    stack: str
    namespace: str
    config: StackConfig
    overrides: dict[str, object] = field(default_factory=dict)
    phases: dict[str, Result] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    after_up: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, dict[str, str]] = field(default_factory=dict)  # pod -> uid, read-only root, capabilities
    traffic: dict[str, Any] = field(default_factory=dict)
    network: dict[str, Any] = field(default_factory=dict)
    rollout: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, Any] = field(default_factory=dict)
    failed_migration: dict[str, Any] = field(default_factory=dict)
    backups: dict[str, Any] = field(default_factory=dict)
    snapshots: dict[str, dict[str, tuple[str, int | None]]] = field(default_factory=dict)
    refused_pod: str = ""
    drift: dict[str, Any] = field(default_factory=dict)
    after_destroy: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://api.{self.namespace}.svc.cluster.local"


# ---------------------------------------------------------------------------------------
# What the test may change in the committed stack: where it runs, the image references, and
# requests and replica counts shrunk to fit two cores (printed, as the issue asks).


def node_overrides(stack: str, node: Node, daemon: DockerDaemon) -> dict[str, object]:
    overrides: dict[str, object] = {
        "kubernetes.kubeconfig": str(node.kubeconfig),
        # image.mode build, as committed: built by pulumi-docker, pushed to the node's registry.
        "image.registry": node.env["NODE_HOST_REGISTRY"],
        "image.pythonImage": daemon.standins["PYTHON_IMAGE"],
        "image.uvImage": daemon.standins["UV_IMAGE"],
        "image.buildNetwork": "host",  # the test's dockerd has no bridge
        "mysql.image": node.images["MYSQL_IMAGE"],
        "redis.image": node.images["REDIS_IMAGE"],
        "backup.image": node.images["RESTIC_IMAGE"],
    }
    for section in ("app", "worker", "mysql", "redis"):
        overrides[f"{section}.resources.requests.cpu"] = "50m"
    if stack == "prod":
        overrides |= {"app.replicas": 2, "app.autoscaling.minReplicas": 2, "worker.replicas": 2, "worker.autoscaling.minReplicas": 2}
        credentials = s3_credentials(node)
        overrides |= {"backup.s3.endpoint": node.env["S3_ENDPOINT"], "backup.s3.accessKeyId": credentials["AWS_ACCESS_KEY_ID"]}
        overrides |= {"backup.s3.bucket": credentials.get("S3_BUCKET", "backups"), "backup.s3.region": credentials["S3_REGION"]}
        # Monitoring's custom resources applied for real (the test installs prometheus-operator's CRDs).
        overrides |= {"monitoring.serviceMonitor.enabled": True, "monitoring.serviceMonitor.prometheusNamespace": "monitoring"}
        overrides |= {"monitoring.prometheusRule.enabled": True, "monitoring.dashboard.enabled": True}
    return overrides


def s3_credentials(node: Node) -> dict[str, str]:
    """The node's S3 server's credentials file (scripts/s3/up.sh): key id, secret, region, bucket."""
    return dict(line.split("=", 1) for line in Path(node.env["S3_CREDENTIALS"]).read_text().splitlines() if "=" in line)


# ---------------------------------------------------------------------------------------
# Watching the cluster while something changes


@contextmanager
def ingress_controller(node: Node, namespace: str) -> Iterator[None]:
    """What an ingress controller does that Pulumi waits for (prod's Ingress): publish an address."""

    def poll(_: Any) -> None:
        for ingress in node.items("ingress", namespace):
            if not (ingress.get("status", {}).get("loadBalancer") or {}).get("ingress"):
                status = {"status": {"loadBalancer": {"ingress": [{"ip": node.env["NODE_IP"]}]}}}
                node.kubectl(
                    "patch",
                    "ingress",
                    ingress["metadata"]["name"],
                    "-n",
                    namespace,
                    "--subresource=status",
                    "--type=merge",
                    "-p",
                    json.dumps(status),
                )

    with in_background(poll, period=1.0):
        yield


@contextmanager
def pod_endings(node: Node, namespace: str, complaints: dict[str, list[str]] | None = None) -> Iterator[dict[str, dict[str, Any]]]:
    """Each pod's last seen container states (`kubectl get pods --watch`): how old pods ended.

    With `complaints`, each API pod's warning and error log lines land in it as they are written,
    those of old pods too (their logs go with them): why a request failed during the change."""
    seen: dict[str, dict[str, Any]] = {}
    followers: list[subprocess.Popen[str]] = []
    process = subprocess.Popen(
        [
            node.kubectl_path,
            "--kubeconfig",
            str(node.kubeconfig),
            "get",
            "pods",
            "-n",
            namespace,
            "--watch",
            "--output-watch-events",
            "-o",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def read() -> None:
        decoder, buffer = json.JSONDecoder(), ""
        assert process.stdout is not None
        for line in process.stdout:
            buffer += line
            while buffer.strip():  # every complete event the buffer holds
                try:
                    event, end = decoder.raw_decode(buffer.lstrip())
                except ValueError:
                    break
                buffer = buffer.lstrip()[end:]
                pod = event.get("object", {})
                metadata = pod.get("metadata", {})
                name = metadata.get("name", "")
                component = metadata.get("labels", {}).get("app.kubernetes.io/component")
                if complaints is not None and component == "api" and name not in complaints and pod.get("status", {}).get("podIP"):
                    complaints[name] = []
                    followers.append(_follow_complaints(node, namespace, name, complaints[name]))
                seen[name] = {
                    "event": event.get("type"),
                    "labels": metadata.get("labels", {}),
                    "terminating": "deletionTimestamp" in metadata,
                    "containers": pod.get("status", {}).get("containerStatuses") or [],
                }

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield seen
    finally:
        # `pulumi up` returns once the new pods are ready; the old ones are still draining (preStop,
        # then the app's graceful shutdown): wait, bounded, until each is gone.
        deadline = time.monotonic() + POD_ENDING_SECONDS
        while time.monotonic() < deadline and any(pod["terminating"] and pod["event"] != "DELETED" for pod in list(seen.values())):
            time.sleep(1)
        for follower in [process, *followers]:
            follower.terminate()
            follower.wait(10)
        reader.join(10)


def _follow_complaints(node: Node, namespace: str, pod: str, into: list[str]) -> subprocess.Popen[str]:
    """`kubectl logs -f` of the pod's API container; its warning and error lines (JSON) land in `into`."""
    follower = subprocess.Popen(
        [node.kubectl_path, "--kubeconfig", str(node.kubeconfig), "logs", "-f", pod, "-n", namespace, "-c", "api"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            if ('"level": "error"' in line or '"level": "warning"' in line) and len(into) < 50:
                into.append(line.strip()[:500])

    threading.Thread(target=read, daemon=True).start()
    return follower


def snapshot(node: Node, namespace: str) -> dict[str, tuple[str, int | None]]:
    """Identity and generation of every object the stack owns in the namespace (pods aside)."""
    kinds = "deployments,statefulsets,services,configmaps,secrets,serviceaccounts,networkpolicies,"
    kinds += "poddisruptionbudgets,persistentvolumeclaims,cronjobs"
    listed = json.loads(node.kubectl("get", kinds, "-n", namespace, "-o", "json").stdout)["items"]
    return {f"{item['kind']}/{item['metadata']['name']}": (item["metadata"]["uid"], item["metadata"].get("generation")) for item in listed}


# ---------------------------------------------------------------------------------------
# The steps


def set_up(root: Path, stack: str, node: Node, daemon: DockerDaemon) -> tuple[Workspace, Live]:
    config = committed_config(stack)
    live = Live(stack=stack, namespace=config.namespace, config=config)
    workspace = Workspace.create(root, stack, toolchain_bin())
    workspace.environment["DOCKER_HOST"] = daemon.docker_host
    workspace.run("stack", "init", stack)
    live.overrides = node_overrides(stack, node, daemon)
    print(f"\n{stack}: the committed stack with these overrides (pulumi config set --path):")  # the issue asks for them printed
    for path, value in live.overrides.items():
        print(f"  {path} = {value}")
        workspace.set_path(path, str(value).lower() if isinstance(value, bool) else str(value))
    secrets = leaks.canaries(stack)
    secrets.pop("registryPassword")  # the node's registry asks for none (tests/e2e/engine/test_image_build.py covers one that does)
    if "backupS3SecretKey" in secrets:
        secrets["backupS3SecretKey"] = s3_credentials(node)["AWS_SECRET_ACCESS_KEY"]
    for key, value in secrets.items():
        workspace.set_secret(key, value)
    live.traffic["api_key"] = secrets["apiKeys"]
    live.backups["repository_password"] = secrets["backupRepositoryPassword"]
    return workspace, live


def up(workspace: Workspace, node: Node, live: Live, phase: str, *extra: str, check: bool = True) -> Result:
    with ingress_controller(node, live.namespace):
        result = workspace.run("up", "--yes", "--skip-preview", *extra, check=check)
    live.phases[phase] = result
    return result


def first_up(workspace: Workspace, node: Node, live: Live) -> None:
    started = time.monotonic()
    up(workspace, node, live, "up")
    live.seconds["up"] = round(time.monotonic() - started, 1)
    state = {kind: node.items(kind, live.namespace) for kind in ("deployment", "statefulset", "job", "replicaset", "pod", "pvc", "event")}
    live.after_up = state
    for kind in MONITORING_KINDS:
        live.after_up[kind] = node.items(kind, live.namespace)
    ready = [
        condition["lastTransitionTime"]
        for pod in state["pod"]
        for condition in pod["status"].get("conditions", [])
        if condition["type"] == "Ready"
    ]
    live.seconds["pods_ready_after_up_started"] = round(time.monotonic() - started, 1) if ready else -1.0
    live.snapshots["after-up"] = snapshot(node, live.namespace)


def inspect_runtime(node: Node, live: Live) -> None:
    """What the kernel says of each running container: its uid, whether / is writable, its capabilities."""
    probe = "id -u; (touch /probe-write 2>/dev/null && echo writable) || echo read-only; grep CapEff /proc/1/status | cut -f2"
    for pod in node.items("pod", live.namespace):
        if pod["status"].get("phase") != "Running":
            continue
        for container in pod["spec"]["containers"]:
            done = node.kubectl(
                "exec", pod["metadata"]["name"], "-n", live.namespace, "-c", container["name"], "--", "sh", "-c", probe, check=False
            )
            uid, root, capabilities = ([*done.stdout.split(), "", "", ""])[:3]
            live.runtime[f"{pod['metadata']['name']}/{container['name']}"] = {"uid": uid, "root": root, "capabilities": capabilities}


def clients(node: Node, live: Live, image: str) -> dict[str, ClientPod]:
    pods = {
        "client": ClientPod(node, live.namespace, "client", image, API_CLIENT_LABEL),
        "stranger": ClientPod(node, live.namespace, "stranger", image, {"role": "stranger"}),
        # The backup pods' labels: the egress policy of the MySQL backup applies to it.
        "backup-like": ClientPod(
            node,
            live.namespace,
            "backup-like",
            image,
            {"app.kubernetes.io/name": "mysql-backup", "app.kubernetes.io/instance": "mysql-backup"},
        ),
    }
    for pod in pods.values():
        pod.create()
    return pods


def traffic(live: Live, client: ClientPod, node: Node) -> None:
    key, api = live.traffic["api_key"], live.api
    created = [client.run("http", "POST", f"{api}/api/v1/items", key, json.dumps({"name": f"item {n}", "quantity": n})) for n in range(3)]
    live.traffic["created"] = created
    first = created[0]["body"]["id"]
    live.traffic["reads"] = [client.run("http", "GET", f"{api}/api/v1/items/{first}", key) for _ in range(2)]
    live.traffic["list"] = client.run("http", "GET", f"{api}/api/v1/items?limit=100", key)
    live.traffic["import"] = client.run("import", api, key, 50, 120, timeout=180)
    live.traffic["list_after_import"] = client.run("http", "GET", f"{api}/api/v1/items?limit=1", key)
    live.traffic["cache_hits"] = sum(_cache_hits(client, pod["status"]["podIP"]) for pod in _api_pods(node, live.namespace))


def _api_pods(node: Node, namespace: str) -> list[dict[str, Any]]:
    return [
        pod
        for pod in node.items("pod", namespace)
        if pod["metadata"]["labels"].get("app.kubernetes.io/component") == "api" and pod["status"].get("podIP")
    ]


def _cache_hits(client: ClientPod, pod_ip: str) -> float:
    metrics = client.run("http", "GET", f"http://{pod_ip}:8000/metrics", "")["body"]
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in str(metrics).splitlines() if line.startswith('service_cache_requests_total{result="hit"}')
    )


def network(live: Live, pods: dict[str, ClientPod]) -> None:
    namespace, seen = live.namespace, live.network
    targets = {
        "mysql": (f"mysql.{namespace}.svc.cluster.local", 3306),
        "redis": (f"redis.{namespace}.svc.cluster.local", 6379),
        "api": (f"api.{namespace}.svc.cluster.local", 80),
    }
    for name in ("client", "stranger", "backup-like"):
        seen[name] = {target: pods[name].run("tcp", host, port, 4) for target, (host, port) in targets.items()}
        seen[name]["dns"] = pods[name].run("dns", "kubernetes.default.svc.cluster.local")
        seen[name]["outside"] = pods[name].run("tcp", "10.223.0.1", 443, 4)  # no route leaves the node


def rollout(workspace: Workspace, node: Node, live: Live, client: ClientPod) -> None:
    """A setting and the image change at once (`pulumi up` while a client loop runs): no request may fail."""
    ids = ",".join(str(item["body"]["id"]) for item in live.traffic["created"])
    workspace.set_path("app.logLevel", "warning")
    module = workspace.project_dir / "app" / "src" / "service" / "__init__.py"
    module.write_text(module.read_text() + "\n# a new image for the rollout under load\n")
    complaints: dict[str, list[str]] = {}
    with (
        pod_endings(node, live.namespace, complaints) as endings,
        load_from(client, "load", live.api, live.traffic["api_key"], ids, seconds=LOAD_SECONDS) as load,
    ):
        started = time.monotonic()
        up(workspace, node, live, "rollout")
        live.seconds["rollout"] = round(time.monotonic() - started, 1)
    live.rollout = {"load": load, "endings": endings, "complaints": {pod: lines for pod, lines in complaints.items() if lines}}


def failing_migration(workspace: Workspace, node: Node, live: Live) -> None:
    """A new image whose migration fails stops the up; the pods of the last good image keep serving."""
    versions = workspace.project_dir / "app" / "src" / "service" / "migrations" / "versions"
    heads = sorted(path.stem for path in versions.glob("0*.py"))
    broken = versions / "9999_fails_on_purpose.py"
    broken.write_text(
        f'"""{MIGRATION_FAILURE}"""\n\nrevision = "9999"\ndown_revision = "{_head_revision(versions / (heads[-1] + ".py"))}"\n'
        f"branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    raise RuntimeError({MIGRATION_FAILURE!r})\n\n\n"
        "def downgrade() -> None:\n    pass\n"
    )
    before = node.get("deployment", live.namespace, "api")["spec"]["template"]["spec"]["containers"][0]["image"]
    result = up(workspace, node, live, "failing-migration", check=False)
    deployment = node.get("deployment", live.namespace, "api")
    live.failed_migration = {"result": result, "image_before": before, "deployment": deployment, "jobs": node.items("job", live.namespace)}
    broken.unlink()
    live.failed_migration["recovery"] = up(workspace, node, live, "recovery", check=False)


def _head_revision(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("revision"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise AssertionError(f"no revision in {path}")


def faults(node: Node, live: Live, client: ClientPod) -> None:
    key, api = live.traffic["api_key"], live.api
    ids = ",".join(str(item["body"]["id"]) for item in live.traffic["created"])
    before = client.run("http", "GET", f"{api}/api/v1/items?limit=1", key)["body"]["total"]
    with load_from(client, "load", api, key, ids, seconds=LOAD_SECONDS) as load:
        node.kubectl("delete", "pod", "mysql-0", "-n", live.namespace, "--wait=true")
        node.kubectl("wait", "pod/mysql-0", "-n", live.namespace, "--for=condition=Ready", "--timeout=300s")
        _until(lambda: client.run("http", "GET", f"{api}/readyz", key)["status"] == 200, 120)
        time.sleep(3)
    after = client.run("http", "GET", f"{api}/api/v1/items?limit=1", key)["body"]["total"]
    live.faults["mysql"] = {"load": load, "total_before": before, "total_after": after}

    # The worker deleted mid-import: its warm shutdown finishes the task, nothing is lost or doubled.
    started = client.run("http", "POST", f"{api}/api/v1/imports", key, json.dumps({"items": [{"name": f"bulk {n}"} for n in range(1000)]}))
    job_id = started["body"]["id"]
    _until(lambda: client.run("http", "GET", f"{api}/api/v1/imports/{job_id}", key)["body"]["state"] in {"running", "succeeded"}, 120)
    workers = [
        pod["metadata"]["name"]
        for pod in node.items("pod", live.namespace)
        if pod["metadata"]["labels"].get("app.kubernetes.io/component") == "worker"
    ]
    node.kubectl("delete", "pod", *workers, "-n", live.namespace, "--wait=false")
    _until(lambda: client.run("http", "GET", f"{api}/api/v1/imports/{job_id}", key)["body"]["state"] in {"succeeded", "failed"}, 600)
    job = client.run("http", "GET", f"{api}/api/v1/imports/{job_id}", key)["body"]
    rows = client.run("http", "GET", f"{api}/api/v1/items?limit=1", key)["body"]["total"]
    live.faults["worker"] = {"job": job, "total_before": after, "total_after": rows, "deleted": workers}


def _until(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (AssertionError, KeyError, TypeError):
            pass
        time.sleep(1)
    raise AssertionError(f"not within {seconds} s")


def backups(workspace: Workspace, node: Node, live: Live, client: ClientPod, root: Path) -> None:
    """Each backup CronJob run now, then its snapshots restored into fresh servers (inside the node's namespace)."""
    live.backups["repository"] = workspace.run("stack", "output", "backupRepository").stdout.strip()
    for cron_job in node.items("cronjob", live.namespace):
        name = f"{cron_job['metadata']['name']}-now"
        node.kubectl("create", "job", name, f"--from=cronjob/{cron_job['metadata']['name']}", "-n", live.namespace)
        node.kubectl("wait", f"job/{name}", "-n", live.namespace, "--for=condition=Complete", "--timeout=600s", check=False)
        live.backups.setdefault("jobs", []).append(node.get("job", live.namespace, name))
    live.backups["claims"] = node.items("pvc", live.namespace)
    password_file = root / "repository-password"
    password_file.write_text(live.backups["repository_password"])
    env = {"RESTIC_PASSWORD_FILE": str(password_file)}
    repository = str(live.backups["repository"])  # the stack's output, as the backup pods open it
    if repository.startswith("s3:"):
        credentials = s3_credentials(node)
        env |= {key: credentials[key] for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        env["RESTIC_REPOSITORY"] = repository
    else:  # the volume target: the claim's directory on the node
        env["RESTIC_REPOSITORY"] = str(_volume_path(node, live.namespace, "backup-repository-volume") / Path(repository).name)
    command = ["env", *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "tests.e2e.node.restore_check"]
    command += [
        "--restic",
        restic_binary(),
        "--host",
        live.stack,
        "--work",
        str(root / "restore"),
        "--servers",
        ",".join(backed_up(live.config)),
    ]
    in_repository = ["sh", "-c", f'cd "{PROJECT_ROOT}" && exec "$@"', "restore", *command]
    done = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "node" / "exec.sh"), str(node.run_dir), *in_repository],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    restored = json.loads(done.stdout) if done.returncode == 0 else {}
    live.backups["restore"] = {
        "returncode": done.returncode,
        "stderr": done.stderr[-3000:],
        **restored,
    }
    listed = client.run("http", "GET", f"{live.api}/api/v1/items?limit=100", live.traffic["api_key"])["body"]
    live.backups["live_items"] = listed


def _volume_path(node: Node, namespace: str, claim: str) -> Path:
    """Where local-path-provisioner keeps a claim's volume on the node (a directory under its run directory)."""
    pvc = node.get("pvc", namespace, claim)
    volume = json.loads(node.kubectl("get", "pv", pvc["spec"]["volumeName"], "-o", "json").stdout)["spec"]
    return Path(volume["hostPath"]["path"] if "hostPath" in volume else volume["local"]["path"])


def drift(workspace: Workspace, node: Node, live: Live) -> None:
    """The drift check (.github/workflows/drift.yml's command) passes; refresh and a second up change nothing."""
    started = time.monotonic()
    live.phases["drift-check"] = workspace.run(*DRIFT_CHECK, check=False)
    live.seconds["drift_check"] = round(time.monotonic() - started, 1)
    live.snapshots["before-refresh"] = snapshot(node, live.namespace)
    live.phases["refresh"] = workspace.run("refresh", "--yes", "--skip-preview", check=False)
    live.phases["preview-after-refresh"] = workspace.run("preview", "--expect-no-changes", check=False)
    up(workspace, node, live, "up-again", "--expect-no-changes", check=False)
    live.snapshots["after-up-again"] = snapshot(node, live.namespace)


def out_of_band_edits(workspace: Workspace, node: Node, live: Live) -> None:
    """kubectl edits the API's Deployment behind Pulumi's back: a label Pulumi set, the image, and
    (without an HPA) the replica count. The drift check must fail naming it; `up --refresh` restores."""
    declared = node.get("deployment", live.namespace, "api")
    image = declared["spec"]["template"]["spec"]["containers"][0]["image"]
    repository, digest = image.split("@", 1)
    node.kubectl("label", "deployment/api", "-n", live.namespace, f"{DRIFTED_LABEL}=edited-by-hand", "--overwrite")
    # The same image by digest, with a tag added: a real template change, and pods that still start.
    node.kubectl("set", "image", "deployment/api", "-n", live.namespace, f"api={repository}:drifted@{digest}")
    if not live.config.app.autoscaling.enabled:
        node.kubectl("scale", "deployment/api", "-n", live.namespace, f"--replicas={declared['spec']['replicas'] + 1}")
    live.drift["edited"] = _deployment_state(node.get("deployment", live.namespace, "api"))
    live.drift["declared"] = _deployment_state(declared)
    live.phases["drift-detected"] = workspace.run(*DRIFT_CHECK, check=False)
    up(workspace, node, live, "drift-restored", "--refresh", check=False)
    live.drift["restored"] = _deployment_state(node.get("deployment", live.namespace, "api"))
    if live.config.app.autoscaling.enabled:
        hpa_scale(workspace, node, live)


def hpa_scale(workspace: Workspace, node: Node, live: Live) -> None:
    """What the HPA does: a write to the Deployment's /scale under a field manager of its own. The
    Deployment does not declare spec.replicas while an HPA owns it, so the next `up` changes nothing."""
    scaled = live.drift["restored"]["replicas"] + 1
    patch = json.dumps({"spec": {"replicas": scaled}})
    node.kubectl("patch", "deployment/api", "-n", live.namespace, "--subresource=scale", "--type=merge", "-p", patch,
                 f"--field-manager={HPA_FIELD_MANAGER}")  # fmt: skip
    # The new pod Ready first, as after a real scale-up: a refresh of a Deployment still rolling
    # records it as unhealthy, and the next up would retry its initialisation (an update).
    node.kubectl("rollout", "status", "deployment/api", "-n", live.namespace, "--timeout=180s", timeout=200)
    up(workspace, node, live, "up-after-scale", "--refresh", "--expect-no-changes", check=False)
    after = json.loads(node.kubectl("get", "deployment/api", "-n", live.namespace, "--show-managed-fields", "-o", "json").stdout)
    live.drift["scaled"] = {"written": scaled, "after_up": after["spec"]["replicas"], "owners": _owners(after, "f:replicas")}


def _deployment_state(deployment: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": deployment["metadata"]["labels"].get(DRIFTED_LABEL),
        "image": deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "replicas": deployment["spec"]["replicas"],
    }


def _owners(deployment: dict[str, Any], field: str) -> list[str]:
    """The field managers whose managedFields entry holds `spec.<field>`."""
    return [
        entry["manager"]
        for entry in deployment["metadata"].get("managedFields", [])
        if field in entry.get("fieldsV1", {}).get("f:spec", {})
    ]


def refused_changes(workspace: Workspace, node: Node, live: Live) -> None:
    """Pod Security refuses a pod that breaks `restricted`; a change that would replace a StatefulSet is refused first."""
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "breaks-restricted", "namespace": live.namespace},
           "spec": {"containers": [{"name": "app", "image": node.images["REDIS_IMAGE"]}]}}  # fmt: skip
    refused = node.kubectl("apply", "-f", "-", stdin=json.dumps(bad), check=False)
    live.refused_pod = refused.stderr if refused.returncode != 0 else ""
    live.snapshots["before-refused-change"] = snapshot(node, live.namespace)
    storage = yaml.safe_load(workspace.stack_file.read_text())["config"][f"{PROJECT}:mysql"]["storage"]
    workspace.set_path("mysql.storage.lock", f"{storage.get('className', 'default')}:{storage['size']}")
    workspace.set_path("mysql.storage.size", "40Gi")
    up(workspace, node, live, "refused-change", check=False)
    live.snapshots["after-refused-change"] = snapshot(node, live.namespace)
    workspace.set_path("mysql.storage.size", storage["size"])


def destroy(workspace: Workspace, node: Node, live: Live) -> None:
    live.phases["destroy"] = workspace.run("destroy", "--yes", "--skip-preview", check=False)
    if live.phases["destroy"].returncode != 0:
        live.phases["unprotect"] = workspace.run("state", "unprotect", "--all", "--yes")
        live.phases["destroy-unprotected"] = workspace.run("destroy", "--yes", "--skip-preview", check=False)
    live.after_destroy["namespace_gone"] = _namespace_gone(node, live.namespace)
    live.after_destroy["volumes"] = [
        volume for volume in node.cluster_items("pv") if (volume["spec"].get("claimRef") or {}).get("namespace") == live.namespace
    ]
    live.after_destroy["pods"] = node.kubectl("get", "pods", "-n", live.namespace, "-o", "name", check=False).stdout.split()


def _namespace_gone(node: Node, namespace: str, seconds: float = 300) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if node.kubectl("get", "namespace", namespace, check=False).returncode != 0:
            return True
        time.sleep(1)
    return False
