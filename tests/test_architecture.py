"""The rooms of ARCHITECTURE.md import one way: a room uses only the rooms below it, and the
program never knows its test harness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from offline.paths import PROJECT_ROOT

# Room -> the rooms of ours it may import (besides itself).
ALLOWED = {
    "components.config": set(),
    "components.kube": {"components.config"},
    "components.platform": {"components.config", "components.kube"},
    "components.build": {"components.config", "components.kube"},
    "components.network.peers": {"components.kube"},
    "components.data": {"components.config", "components.kube", "components.network.peers"},
    "components.app": {"components.config", "components.kube", "components.network.peers", "components.build", "components.data.endpoints"},
    "components.network.policies": {"components.config", "components.kube", "components.network.peers"},
    "components.network": {"components.network.peers", "components.network.policies"},  # the package's re-exports
    "components.monitoring": {"components.config", "components.kube", "components.network.peers"},
    "testservers": {"components.config", "components.data.backup.commands"},
}
HARNESS = ("offline", "tests", "testservers", "pulumi.runtime.mocks", "pytest")


def _relative(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT))


def _modules(package: Path) -> list[Path]:
    return sorted(path for path in package.rglob("*.py") if "__pycache__" not in path.parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _room(module: str) -> str | None:
    return max((room for room in ALLOWED if module == room or module.startswith(room + ".")), key=len, default=None)


def _ours(module: str) -> bool:
    return module.split(".", maxsplit=1)[0] in {"components", "offline", "tests", "testservers", "recovery", "policy", "bench"}


@pytest.mark.parametrize("path", [*_modules(PROJECT_ROOT / "components"), *_modules(PROJECT_ROOT / "testservers")], ids=_relative)
def test_a_room_imports_only_the_rooms_below_it(path: Path) -> None:
    module = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
    room = _room(module)
    if room is None:  # components/__init__.py, components/interrupt.py: they import nothing of ours
        assert not [name for name in _imports(path) if _ours(name)]
        return
    allowed = {room, *ALLOWED[room]}
    strays = sorted(
        name
        for name in _imports(path)
        if _ours(name)
        and not any(name == other or name.startswith(other + ".") for other in allowed)
        and _room(name) != room
        # `from components import kube` names the package, then the module: judge the module.
        and name not in {"components"}
    )
    assert strays == [], f"{module} ({room}) imports {strays}"


@pytest.mark.parametrize("path", [PROJECT_ROOT / "__main__.py", *_modules(PROJECT_ROOT / "components")], ids=_relative)
def test_the_program_never_imports_its_test_harness(path: Path) -> None:
    assert [name for name in _imports(path) if name.startswith(HARNESS)] == []


def test_testservers_need_no_pytest() -> None:
    # The operator's drill (python -m recovery.drill) runs them without pytest installed.
    for path in _modules(PROJECT_ROOT / "testservers"):
        assert "pytest" not in _imports(path), path
