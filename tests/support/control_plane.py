"""A real Kubernetes control plane for tests (scripts/control-plane: etcd, kube-apiserver, the
controller manager and scheduler, kwok's fake node), and what a test needs around it:
kubectl, a stand-in ingress controller, a watch on a Deployment's availability.
"""

from __future__ import annotations

import json
import os
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

SCRIPTS = PROJECT_ROOT / "scripts" / "control-plane"
KUBECTL_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.2


class KubectlError(AssertionError):
    pass


@dataclass
class ControlPlane:
    run_dir: Path
    kubeconfig: Path
    bin_dir: Path

    @classmethod
    def start(cls, run_dir: Path, bin_dir: Path) -> ControlPlane:
        """Start one (up.sh: ~10 s); the caller stops it, even when a test fails."""
        started = subprocess.run(
            [str(SCRIPTS / "up.sh"), str(run_dir)],
            env={**os.environ, "CLUSTER_BIN_DIR": str(bin_dir)},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if started.returncode != 0:
            raise AssertionError(f"scripts/control-plane/up.sh failed ({started.returncode}):\n{started.stderr[-4000:]}")
        return cls(run_dir=run_dir, kubeconfig=Path(started.stdout.strip().splitlines()[-1]), bin_dir=bin_dir)

    def stop(self) -> None:
        subprocess.run([str(SCRIPTS / "down.sh"), str(self.run_dir)], capture_output=True, text=True, timeout=120, check=False)

    def keep_logs(self, destination: Path) -> Path:
        """Copy the processes' logs out of the run directory (which the fixture removes)."""
        shutil.rmtree(destination, ignore_errors=True)
        shutil.copytree(self.run_dir / "logs", destination)
        return destination

    def peak_rss_mib(self) -> dict[str, float]:
        """VmHWM of each control-plane process, in MiB."""
        peaks = {}
        for pid_file in sorted((self.run_dir / "pids").glob("*.pid")):
            status = Path(f"/proc/{pid_file.read_text().strip()}/status")
            if status.exists():
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks[pid_file.stem] = round(int(line.split()[1]) / 1024, 1)
        return peaks

    # -- kubectl ----------------------------------------------------------------------------

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_SECONDS,
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

    def namespace_exists(self, namespace: str) -> bool:
        return self.kubectl("get", "namespace", namespace, check=False).returncode == 0

    def wait_until_namespace_gone(self, namespace: str, timeout: float = 120.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.namespace_exists(namespace):
                return True
            time.sleep(1.0)
        return False


@dataclass
class Observations:
    samples: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def background(poll: Any, period: float = POLL_SECONDS) -> Iterator[Observations]:
    """Call `poll(observations)` every `period` seconds until the block ends (bounded by it)."""
    observations, stop = Observations(), threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                poll(observations)
            except (KubectlError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
                observations.errors.append(str(error))
            stop.wait(period)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield observations
    finally:
        stop.set()
        thread.join(timeout=KUBECTL_TIMEOUT_SECONDS + 5)


def ingress_controller(cluster: ControlPlane, namespace: str) -> Any:
    """What an ingress controller does that Pulumi waits for: publish a load-balancer address."""

    def poll(observations: Observations) -> None:
        for ingress in cluster.items("ingress", namespace):
            if not (ingress.get("status", {}).get("loadBalancer") or {}).get("ingress"):
                name = ingress["metadata"]["name"]
                status = {"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}}
                cluster.kubectl("patch", "ingress", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status))
                observations.samples.append({"published": name})

    return background(poll, period=0.5)


def availability(cluster: ControlPlane, namespace: str, deployment: str) -> Any:
    """Sample the Deployment's wanted and available replicas, and its ReplicaSets, during a rollout."""

    def poll(observations: Observations) -> None:
        status = cluster.get("deployment", namespace, deployment)
        observations.samples.append(
            {
                "replicas": status["spec"]["replicas"],
                "available": status.get("status", {}).get("availableReplicas", 0),
                "generation": status["metadata"]["generation"],
            }
        )

    return background(poll)
