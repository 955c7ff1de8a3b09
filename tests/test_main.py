"""Whole-stack properties, for every committed stack: wiring, ordering, ownership, labels."""

from __future__ import annotations

from offline.engine import StackRun


def test_every_object_carries_the_recommended_labels(stack_run: StackRun) -> None:
    for resource in stack_run.kubernetes_objects():
        labels = resource.inputs["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "fastapi-service", resource.name
        if resource.kind != "Namespace":
            assert {"app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/managed-by"} <= set(labels), resource.name


def test_every_resource_belongs_to_a_component(stack_run: StackRun) -> None:
    components = {resource.urn for resource in stack_run.resources if not resource.custom}
    for resource in stack_run.resources:
        if resource.custom:
            assert resource.parent in components, f"{resource.type} {resource.name} has no component parent"


def test_every_kubernetes_object_uses_the_stacks_explicit_provider(stack_run: StackRun) -> None:
    (provider,) = stack_run.of_type("pulumi:providers:kubernetes")
    for resource in stack_run.kubernetes_objects():
        assert resource.provider.startswith(provider.urn + "::"), f"{resource.name} uses {resource.provider or 'the default provider'}"


def test_every_object_lives_in_the_stacks_namespace(stack_run: StackRun) -> None:
    namespace = stack_run.outputs["namespace"]
    for resource in stack_run.kubernetes_objects():
        if resource.kind != "Namespace":
            assert resource.inputs["metadata"]["namespace"] == namespace, resource.name


def test_running_the_program_under_mocks_leaves_ctrl_c_alone() -> None:
    # The program exits quietly on the engine's SIGINT only under the real engine; a test
    # process that runs it keeps Python's own handler (and its teardown on Ctrl-C).
    import signal

    from offline.engine import run_stack

    before = signal.getsignal(signal.SIGINT)
    run_stack("dev")
    assert signal.getsignal(signal.SIGINT) is before
