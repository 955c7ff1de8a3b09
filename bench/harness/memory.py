"""Resident memory of the processes the bench starts, from /proc (Linux)."""

from __future__ import annotations

from pathlib import Path

KIB_PER_MIB = 1024


def rss_mib(pid: int) -> float:
    """VmRSS of `pid`, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / KIB_PER_MIB, 1)
    raise RuntimeError(f"no VmRSS for pid {pid}")


def pss_mib(pid: int) -> float:
    """Proportional set size of `pid`, MiB: pages shared with other processes (a prefork pool's
    copy-on-write pages) counted in shares, so a tree's PSS adds up to what its cgroup is charged."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return round(int(line.split()[1]) / KIB_PER_MIB, 1)
    raise RuntimeError(f"no Pss for pid {pid}")


def children(pid: int) -> list[int]:
    """Direct children of `pid` (every thread's)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree_rss_mib(pid: int) -> dict[str, object]:
    """RSS of `pid` and of each of its children (a prefork worker's pool processes), and the PSS of
    them all, MiB."""
    pool = children(pid)
    main = rss_mib(pid)
    rss = [rss_mib(child) for child in pool]
    pss = pss_mib(pid) + sum(pss_mib(child) for child in pool)
    return {"main": main, "children": rss, "total": round(main + sum(rss), 1), "total_pss": round(pss, 1)}
