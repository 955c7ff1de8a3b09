"""A password is the one the user set as secret config, or one the stack generates and keeps."""

from __future__ import annotations

import pulumi
import pulumi_random as random


def given_or_generated(
    name: str, given: pulumi.Output[str] | None, *, parent: pulumi.Resource, length: int, protect: bool = False
) -> pulumi.Output[str]:
    """`given`, or a RandomPassword named `name`, as a secret Output either way.

    Generated values are stable across `pulumi up` (the state keeps them). `protect` them
    where the server keeps the password it was initialised with: a new one would lock its
    clients out.
    """
    if given is not None:
        return pulumi.Output.secret(given)
    generated = random.RandomPassword(name, length=length, special=False, opts=pulumi.ResourceOptions(parent=parent, protect=protect))
    # The provider marks `result` secret; say so here too, so no code path can leak it.
    return pulumi.Output.secret(generated.result)
