"""How clients outside the cluster reach the API: exactly one object per `app.exposure` mode.

- gateway: an HTTPRoute (Gateway API, `gateway.networking.k8s.io/v1`) attached by `parentRefs` to
  the Gateway the stack names. TLS terminates at that Gateway's listener (its certificate is the
  Gateway's), so the route carries none.
- ingress: an Ingress for whichever controller serves `className`, with no controller-specific
  annotations. The one annotation it may carry, `cert-manager.io/cluster-issuer`, is read by
  cert-manager's ingress-shim whatever the controller, and by no controller.
- none: nothing; in-cluster clients only.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.config import Exposure, IngressExposure

GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"


def expose(
    name: str,
    exposure: Exposure,
    metadata: k8s.meta.v1.ObjectMetaArgsDict,
    service: pulumi.Input[str],
    service_port: int,
    opts: pulumi.ResourceOptions,
) -> pulumi.Output[str] | None:
    """The mode's object for the API Service `service` (port `service_port`); returns the public URL, if any."""
    if exposure.mode == "gateway":
        k8s.apiextensions.CustomResource(
            name,
            api_version=GATEWAY_API_VERSION,
            kind="HTTPRoute",
            metadata=metadata,
            spec=http_route_spec(exposure, service, service_port),
            opts=opts,
        )
        # HTTPS: the Gateway terminates TLS (a plain-HTTP listener is the operator's choice, not ours to see).
        return pulumi.Output.from_input(f"https://{exposure.hostnames[0]}/") if exposure.hostnames else None
    if exposure.mode == "ingress":
        ingress = exposure.ingress or IngressExposure()
        k8s.networking.v1.Ingress(
            name,
            metadata={**metadata, "annotations": {**metadata.get("annotations", {}), **ingress_annotations(ingress)}},
            spec=ingress_spec(exposure, name, service),
            opts=opts,
        )
        return pulumi.Output.from_input(f"{'https' if ingress.tls else 'http'}://{exposure.hostnames[0]}/")
    return None


def http_route_spec(exposure: Exposure, service: pulumi.Input[str], service_port: int) -> dict[str, object]:
    gateway = exposure.gateway
    assert gateway is not None and gateway.name and gateway.namespace, "the config rules require the Gateway's name and namespace"
    parent: dict[str, object] = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway.name, "namespace": gateway.namespace}
    if gateway.section_name:
        parent["sectionName"] = gateway.section_name
    spec: dict[str, object] = {
        "parentRefs": [parent],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"group": "", "kind": "Service", "name": service, "port": service_port}],
            }
        ],
    }
    if exposure.hostnames:
        spec["hostnames"] = list(exposure.hostnames)
    return spec


def ingress_annotations(ingress: IngressExposure) -> dict[str, str]:
    if ingress.tls is not None and ingress.tls.cluster_issuer:
        return {"cert-manager.io/cluster-issuer": ingress.tls.cluster_issuer}
    return {}


def ingress_spec(exposure: Exposure, name: str, service: pulumi.Input[str]) -> k8s.networking.v1.IngressSpecArgsDict:
    ingress = exposure.ingress or IngressExposure()
    tls: list[k8s.networking.v1.IngressTLSArgsDict] = []
    if ingress.tls is not None:
        tls = [{"hosts": list(exposure.hostnames), "secretName": ingress.tls.secret_name or f"{name}-tls"}]
    spec: k8s.networking.v1.IngressSpecArgsDict = {
        "tls": tls,
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"name": "http"}}}}]
                },
            }
            for host in exposure.hostnames
        ],
    }
    if ingress.class_name:
        spec = {"ingressClassName": ingress.class_name, **spec}
    return spec
