"""The deploy gates as pure functions over a Kubernetes object (a manifest dict): each returns
a list of violations, empty when the object passes. The policy pack (`__main__.py`) and the
tests (tests/offline/test_gates.py, tests/policy/test_pack.py) both call these.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"})
# Pod Security Standards, `restricted`: the only volume types allowed.
ALLOWED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SECRET_NAME = re.compile(r"password|passwd|secret|token|apikey|api_key|api-key|passphrase|credential|private_?key|(^|_)key$", re.IGNORECASE)
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template's spec of a workload object (None for anything else)."""
    kind = manifest.get("kind")
    if kind not in WORKLOAD_KINDS:
        return None
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        return dict(spec)
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return dict((spec.get("template") or {}).get("spec") or {})


def containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field}[{container.get('name', '?')}]", container


def restricted_violations(manifest: dict[str, Any]) -> list[str]:
    """Pod Security Standards `restricted` (which includes `baseline`), field by field."""
    spec = pod_spec(manifest)
    if spec is None:
        return []
    problems = []
    pod_context = spec.get("securityContext") or {}
    for host_field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host_field):
            problems.append(f"pod sets {host_field}")
    for volume in spec.get("volumes") or []:
        types = set(volume) - {"name"}
        if not types <= ALLOWED_VOLUME_TYPES:
            problems.append(f"volume {volume.get('name')} has a disallowed type {sorted(types - ALLOWED_VOLUME_TYPES)}")
    if pod_context.get("runAsUser") == 0:
        problems.append("pod runAsUser is 0")
    pod_non_root = pod_context.get("runAsNonRoot") is True
    pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        problems.append(f"pod seccompProfile is {pod_seccomp}")
    for where, container in containers(spec):
        problems.extend(_container_violations(where, container, pod_non_root=pod_non_root, pod_seccomp=pod_seccomp))
    return problems


def _container_violations(where: str, container: dict[str, Any], *, pod_non_root: bool, pod_seccomp: str | None) -> list[str]:
    problems = []
    context = container.get("securityContext") or {}
    if context.get("privileged"):
        problems.append(f"{where} is privileged")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where} does not set allowPrivilegeEscalation: false")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append(f"{where} does not drop ALL capabilities")
    added = set(capabilities.get("add") or []) - ALLOWED_ADDED_CAPABILITIES
    if added:
        problems.append(f"{where} adds capabilities {sorted(added)}")
    if context.get("runAsNonRoot") is False or not (pod_non_root or context.get("runAsNonRoot") is True):
        problems.append(f"{where} is not runAsNonRoot (pod or container)")
    if context.get("runAsUser") == 0:
        problems.append(f"{where} runAsUser is 0")
    seccomp = (context.get("seccompProfile") or {}).get("type") or pod_seccomp
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append(f"{where} has no RuntimeDefault seccompProfile (pod or container)")
    for port in container.get("ports") or []:
        if port.get("hostPort"):
            problems.append(f"{where} uses hostPort {port['hostPort']}")
    return problems


def image_violations(manifest: dict[str, Any]) -> list[str]:
    spec = pod_spec(manifest)
    if spec is None:
        return []
    return [
        f"{where} image {container.get('image')} is not pinned by digest"
        for where, container in containers(spec)
        if not DIGEST.search(str(container.get("image", "")))
    ]


def resource_violations(manifest: dict[str, Any]) -> list[str]:
    spec = pod_spec(manifest)
    if spec is None:
        return []
    problems = []
    for where, container in containers(spec):
        resources = container.get("resources") or {}
        for section, names in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
            missing = [name for name in names if name not in (resources.get(section) or {})]
            if missing:
                problems.append(f"{where} has no {section} for {', '.join(missing)}")
    return problems


def secret_env_violations(manifest: dict[str, Any]) -> list[str]:
    """Secrets reach containers as mounted files: no secretKeyRef/secret envFrom, no literal secret-named env values."""
    spec = pod_spec(manifest)
    if spec is None:
        return []
    problems = []
    for where, container in containers(spec):
        for env in container.get("env") or []:
            name = str(env.get("name", ""))
            if (env.get("valueFrom") or {}).get("secretKeyRef"):
                problems.append(f"{where} env {name} reads a Secret (mount it as a file instead)")
            elif env.get("value") and SECRET_NAME.search(name) and not name.upper().endswith(("_FILE", "_PATH", "_DIR")):
                problems.append(f"{where} env {name} carries a literal secret-looking value")
        for source in container.get("envFrom") or []:
            if source.get("secretRef"):
                problems.append(f"{where} envFrom a Secret (mount it as a file instead)")
    return problems
