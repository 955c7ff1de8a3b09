"""Who may reach whom: `NetworkPolicies` (`policies`) from what the components hand over (`peers`)."""

from components.network.policies import NetworkPolicies, NetworkPoliciesArgs

__all__ = ["NetworkPolicies", "NetworkPoliciesArgs"]
