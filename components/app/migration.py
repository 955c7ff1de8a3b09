"""The migration Job: `python -m service migrate` on the image about to roll out, before any of its
pods serves. Named after the image, so every new image gets a Job of its own."""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.app.runtime import APP_NAME, PodReferences, app_container, pod_spec_base
from components.config import AppConfig

MIGRATE_COMMAND = ["python", "-m", "service", "migrate"]


def migration_job_name(name: str, image_reference: pulumi.Input[str]) -> pulumi.Output[str]:
    """Named after the image: a new image is a new Job, so every image migrates before it serves."""
    return pulumi.Output.from_input(image_reference).apply(
        lambda reference: f"{name}-migrate-{hashlib.sha256(reference.encode()).hexdigest()[:10]}"
    )


def _without_service_link_setting(spec: k8s.core.v1.PodSpecArgsDict) -> k8s.core.v1.PodSpecArgsDict:
    # A Job's pod template is immutable: a new field in it replaces the Job of every deployed stack
    # on its next `pulumi up`. The migration reads only its settings, which envFrom sets and which
    # win over the Docker-link variables; the Deployments drop those, the Job keeps the defaults.
    return {key: value for key, value in spec.items() if key != "enableServiceLinks"}


def migration_job_spec(config: AppConfig, name: str, image: pulumi.Input[str], references: PodReferences) -> k8s.batch.v1.JobSpecArgsDict:
    return {
        "backoffLimit": 2,
        "activeDeadlineSeconds": 600,
        "template": {
            "metadata": {"labels": kube.labels(APP_NAME, name, "migration")},
            "spec": {
                **_without_service_link_setting(pod_spec_base(references)),
                "restartPolicy": "Never",
                "containers": [{**app_container("migrate", image, references, config.resources), "command": MIGRATE_COMMAND}],
            },
        },
    }
