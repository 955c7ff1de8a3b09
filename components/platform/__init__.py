"""Where the stack lives: `StackTarget`, the Kubernetes provider bound to one cluster and the
Pod Security 'restricted' namespace every other component creates its objects in."""

from components.platform.target import StackTarget, StackTargetArgs

__all__ = ["StackTarget", "StackTargetArgs"]
