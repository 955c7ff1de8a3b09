"""Kubernetes as this stack writes it: conventions every object follows, and one function per
Kubernetes idea (a disruption budget, an autoscaler, a probe, a single-instance StatefulSet...)
that every component needing it calls, so the specs cannot drift apart.

- `conventions`: labels, selectors, metadata, the restricted pod and container profile
- `workloads`: rollouts, disruption budgets, autoscalers, topology spread, probes, checksums
- `statefulset`: the objects around a single-instance server (MySQL, Redis)
- `passwords`: a password given as secret config, or generated and kept

`from components import kube` gives the conventions as `kube.labels`, `kube.metadata`, ...
"""

from components.kube.conventions import (
    NON_ROOT_UID,
    OWNED_ANNOTATIONS,
    PART_OF,
    PodSelector,
    container_security,
    labels,
    metadata,
    pod_security,
    selector,
    tmp_volume,
)

__all__ = [
    "NON_ROOT_UID",
    "OWNED_ANNOTATIONS",
    "PART_OF",
    "PodSelector",
    "container_security",
    "labels",
    "metadata",
    "pod_security",
    "selector",
    "tmp_volume",
]
