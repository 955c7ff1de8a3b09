"""The stack's Kubernetes target: an explicit provider and the namespace everything lives in."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config import KubernetesTarget
from components.kube import OWNED_ANNOTATIONS, PART_OF


@dataclass(frozen=True)
class StackTargetArgs:
    target: KubernetesTarget
    namespace: str
    environment: str
    protect: bool = False  # prod: deleting the namespace would delete the data volumes in it


class StackTarget(pulumi.ComponentResource):
    """A provider bound to one cluster (or a YAML directory) and a Pod Security 'restricted' namespace."""

    provider: k8s.Provider  # every other component creates its objects through it
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: StackTargetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # The type token keeps the component's first name (Cluster): a new token would give
        # every resource below it a new URN, and `pulumi up` would replace the namespace.
        super().__init__("fastapi-service:platform:Cluster", name, None, opts)
        self.provider = k8s.Provider(
            f"{name}-provider",
            context=args.target.context,
            kubeconfig=args.target.kubeconfig,
            render_yaml_to_directory=args.target.render_directory,
            # Server-side apply lets other controllers (HPA, cert-manager) own their fields.
            enable_server_side_apply=True,
            # Update Secrets and ConfigMaps in place instead of replacing them under a new name:
            # the pods that read them roll through their checksum annotations, and a rotated API
            # key does not replace the migration Job that mounts the same Secret.
            enable_secret_mutable=True,
            enable_config_map_mutable=True,
            delete_unreachable=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": args.namespace,
                "annotations": dict(OWNED_ANNOTATIONS),
                "labels": {
                    # Enforce, not just warn: a pod that is not 'restricted' is refused at admission.
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "app.kubernetes.io/part-of": PART_OF,
                    "environment": args.environment,
                },
            },
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, protect=args.protect),
        )
        self.namespace = namespace.metadata.name
        self.register_outputs({"namespace": self.namespace})
