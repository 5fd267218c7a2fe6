"""Project Wycheproof vectors (tests/vectors/wycheproof): one loader, as pyca's tests keep theirs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).parents[2] / "vectors" / "wycheproof"

Vector = dict[str, Any]


def load(name: str) -> Iterator[tuple[Vector, Vector]]:
    """Every (group, test) pair of one vector file, in file order."""
    return ((g, t) for g in json.loads((VECTORS / name).read_text())["testGroups"] for t in g["tests"])
