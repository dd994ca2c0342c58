"""`scripts/lock --check`: does requirements.lock pin everything pricecast[dev] needs, and only that?

Walks the requirement graph from pyproject.toml (dependencies + the dev extra) through the
metadata of the installed .venv, following extras and environment markers, and reports in one
line each: a requirement the lock does not pin, a pin outside a range that asks for it, a torch
pin that disagrees with constraints.txt, a pin nothing needs, and an installed version that
differs from the lock (run scripts/setup-venv). Exit 1 if there is any.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]


def read_lock(path: Path, problems: list[str]) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        try:
            pins[canonicalize_name(name)] = Version(version) if sep else None  # type: ignore[assignment]
        except InvalidVersion:
            pins[canonicalize_name(name)] = None  # type: ignore[assignment]
        if pins[canonicalize_name(name)] is None:
            problems.append(f"{path.name} line {n}: {line!r} is not an exact pin (name==version)")
    return pins


def main(lock_path: str) -> int:
    problems: list[str] = []
    pins = read_lock(ROOT / lock_path, problems)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    roots = project["dependencies"] + project["optional-dependencies"]["dev"]
    todo = [(Requirement(r), "pyproject.toml") for r in roots]
    needed: set[str] = set()
    expanded: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req, parent = todo.pop()
        name = canonicalize_name(req.name)
        needed.add(name)
        pin = pins.get(name)
        if name not in pins:
            problems.append(f"{req.name} (needed by {parent}) is not pinned: run scripts/lock")
            continue
        if pin is not None and not req.specifier.contains(pin, prereleases=True):
            problems.append(f"{req.name}=={pin} is outside {parent}'s range {req.specifier}: run scripts/lock --upgrade")
        key = (name, frozenset(req.extras))
        if key in expanded:
            continue
        expanded.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{req.name} is pinned but not installed in .venv: run scripts/setup-venv")
            continue
        if pin is not None and Version(dist.version) != pin:
            problems.append(f"{req.name}: .venv has {dist.version}, the lock pins {pin}: run scripts/setup-venv")
        extras = {""} | set(req.extras)
        for spec in dist.requires or []:
            sub = Requirement(spec)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append((sub, f"{dist.metadata['Name']} {dist.version}"))
    for name in sorted(set(pins) - needed):
        problems.append(f"{name}=={pins[name]} is pinned but nothing requires it: run scripts/lock")
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            pin = pins.get(canonicalize_name(req.name))
            if pin is not None and not req.specifier.contains(pin, prereleases=True):
                problems.append(f"{req.name}=={pin} disagrees with constraints.txt ({line})")
    for p in problems:
        print(f"{lock_path}: {p}", file=sys.stderr)
    if not problems:
        print(f"{lock_path}: {len(pins)} pins cover pricecast[dev] and match .venv")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "requirements.lock"))
