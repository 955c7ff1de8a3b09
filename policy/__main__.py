"""Pulumi policy pack: `pulumi preview --policy-pack policy` (deps: policy/requirements.txt)."""

import sys
from pathlib import Path

# The pack runs with policy/ as its working directory: make `policy.*` importable from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.pack import POLICIES

PolicyPack(name="fastapi-service-gates", policies=list(POLICIES), enforcement_level=EnforcementLevel.MANDATORY)
