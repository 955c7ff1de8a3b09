"""Cluster: the stack's own provider, and a namespace that enforces Pod Security `restricted`."""

from __future__ import annotations

from offline.engine import StackRun


def test_the_namespace_enforces_pod_security_restricted(stack_run: StackRun) -> None:
    (namespace,) = stack_run.find("Namespace")
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"


def test_prod_protects_the_namespace_that_holds_its_data(stack_run: StackRun) -> None:
    # Deleting a namespace deletes every volume claim in it: in prod a destroy stops here first.
    (namespace,) = stack_run.find("Namespace")
    assert namespace.protect == (stack_run.stack == "prod")


def test_secrets_and_config_maps_change_in_place_so_pods_roll_by_checksum(stack_run: StackRun) -> None:
    # Replaced (renamed) Secrets would also replace the migration Job that mounts them on every
    # rotation; updated in place, the Deployment's checksum annotations roll the pods instead.
    (provider,) = stack_run.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["enableSecretMutable"] in (True, "true")
    assert provider.inputs["enableConfigMapMutable"] in (True, "true")
