"""A real single-node Kubernetes cluster for the live tests (scripts/node: containerd, kubelet,
kube-proxy, CoreDNS, kube-network-policies, local-path-provisioner, a registry), kubectl on it,
and pods that talk to the stack from inside the cluster, as its users' pods do."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.paths import PROJECT_ROOT

SCRIPTS = PROJECT_ROOT / "scripts" / "node"
KUBECTL_TIMEOUT_SECONDS = 120.0
# What the client pods run (python, in the app image): tests/support/client_pod.py's text.
CLIENT_SCRIPT = (Path(__file__).parent / "client_pod.py").read_text()


class KubectlError(AssertionError):
    pass


def _env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))


@dataclass
class Node:
    run_dir: Path
    kubeconfig: Path
    env: dict[str, str]
    images: dict[str, str]  # MYSQL_IMAGE, REDIS_IMAGE, RESTIC_IMAGE, ... -> registry@sha256 (images.env)
    start_seconds: float = 0.0

    @classmethod
    def start(cls, run_dir: Path, *, with_s3: bool = True) -> Node:
        """scripts/node/up.sh (~30 s warm); the caller stops it, even when a test fails."""
        started_at = time.monotonic()
        args = [str(SCRIPTS / "up.sh"), *(["--with-s3"] if with_s3 else []), str(run_dir)]
        started = subprocess.run(
            args, capture_output=True, text=True, timeout=3600, check=False, env={"NODE_APP_IMAGE": "none", **_path_env()}
        )
        if started.returncode != 0:
            raise AssertionError(f"scripts/node/up.sh failed ({started.returncode}):\n{started.stderr[-5000:]}")
        env = _env_file(run_dir / "node.env")
        node = cls(run_dir, Path(started.stdout.strip().splitlines()[-1]), env, _env_file(Path(env["NODE_IMAGES_ENV"])))
        node.start_seconds = round(time.monotonic() - started_at, 1)
        return node

    def stop(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPTS / "down.sh"), str(self.run_dir)], capture_output=True, text=True, timeout=600, check=False)

    def keep_logs(self, destination: Path) -> Path:
        shutil.rmtree(destination, ignore_errors=True)
        shutil.copytree(self.run_dir / "logs", destination)
        return destination

    @property
    def kubectl_path(self) -> str:
        return str(Path(self.env["CLUSTER_BIN_DIR"]) / "kubectl")

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = KUBECTL_TIMEOUT_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.kubectl_path, "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    def get(self, kind: str, namespace: str, name: str | None = None) -> Any:
        args = ["get", kind, "-n", namespace, "-o", "json"]
        if name is not None:
            args.insert(2, name)
        return json.loads(self.kubectl(*args).stdout)

    def items(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get(kind, namespace)["items"]
        return items

    def cluster_items(self, kind: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(self.kubectl("get", kind, "-o", "json").stdout)["items"]
        return items

    def in_netns(self, *command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`command` inside the node's network namespace (scripts/node/exec.sh)."""
        return subprocess.run(
            [str(SCRIPTS / "exec.sh"), str(self.run_dir), *command], capture_output=True, text=True, timeout=timeout, check=False
        )


def _path_env() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG", "TMPDIR"}}


# ---------------------------------------------------------------------------------------
# Pods that talk to the stack from inside the cluster


@dataclass
class ClientPod:
    """A pod in the stack's namespace running the app image's python, with `labels`: the stack's
    NetworkPolicies judge it by them. Its requests go through the Service's DNS name."""

    node: Node
    namespace: str
    name: str
    image: str
    labels: dict[str, str]

    def create(self) -> None:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": self.labels},
            "spec": {
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "client",
                        "image": self.image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-c", "import time; time.sleep(3600)"],
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }
                ],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
                "terminationGracePeriodSeconds": 1,
            },
        }
        self.node.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
        self.node.kubectl("wait", f"pod/{self.name}", "-n", self.namespace, "--for=condition=Ready", "--timeout=180s")

    def delete(self) -> None:
        self.node.kubectl("delete", "pod", self.name, "-n", self.namespace, "--wait=false", "--ignore-not-found", check=False)

    def run(self, action: str, *args: object, timeout: float = 120) -> Any:
        """tests/support/client_pod.py's `action` inside the pod; its JSON answer."""
        done = self.node.kubectl(
            "exec",
            self.name,
            "-n",
            self.namespace,
            "--",
            "python",
            "-c",
            CLIENT_SCRIPT,
            action,
            *map(str, args),
            check=False,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(f"client {action} {args} in {self.name} failed ({done.returncode}): {done.stderr[-2000:]}")
        return json.loads(done.stdout)


@dataclass
class Observations:
    samples: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def in_background(poll: Any, period: float = 0.5) -> Iterator[Observations]:
    """Call `poll(observations)` every `period` seconds until the block ends."""
    observations, stop = Observations(), threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                poll(observations)
            except (KubectlError, subprocess.TimeoutExpired, json.JSONDecodeError, AssertionError) as error:
                observations.errors.append(str(error))
            stop.wait(period)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield observations
    finally:
        stop.set()
        thread.join(timeout=KUBECTL_TIMEOUT_SECONDS + 5)


@contextmanager
def load_from(client: ClientPod, action: str, *args: object, seconds: int) -> Iterator[dict[str, Any]]:
    """`action` (a bounded load loop, at most `seconds`) running in `client` while the block runs;
    the loop stops when the block ends (a stop file), and its JSON summary lands in the dict."""
    summary: dict[str, Any] = {}

    def run() -> None:
        try:
            summary.update(client.run(action, *args, seconds, timeout=seconds + 60))
        except AssertionError as error:
            summary["error"] = str(error)

    client.node.kubectl("exec", client.name, "-n", client.namespace, "--", "rm", "-f", "/tmp/stop", check=False)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(2)  # the loop is running before the block changes anything
    try:
        yield summary
    finally:
        client.node.kubectl("exec", client.name, "-n", client.namespace, "--", "touch", "/tmp/stop", check=False)
        thread.join(timeout=seconds + 90)
