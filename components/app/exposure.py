"""How clients outside the cluster reach the API: an Ingress when `app.ingress` is enabled."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.config import Ingress


def ingress_annotations(ingress: Ingress) -> dict[str, str]:
    if ingress.tls is not None and ingress.tls.cluster_issuer:
        return {"cert-manager.io/cluster-issuer": ingress.tls.cluster_issuer}
    return {}


def ingress_spec(ingress: Ingress, name: str, service: pulumi.Input[str]) -> k8s.networking.v1.IngressSpecArgsDict:
    tls: list[k8s.networking.v1.IngressTLSArgsDict] = []
    if ingress.tls is not None:
        tls = [{"hosts": [ingress.host], "secretName": ingress.tls.secret_name or f"{name}-tls"}]
    return {
        "ingressClassName": ingress.class_name,
        "tls": tls,
        "rules": [
            {
                "host": ingress.host,
                "http": {
                    "paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"name": "http"}}}}]
                },
            }
        ],
    }
