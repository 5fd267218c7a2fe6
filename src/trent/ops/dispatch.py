"""invoke(): the one way a front runs an operation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trent.kms.operations import Operation
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.registry import OPERATIONS


def invoke(deps: Deps, ctx: RequestContext, operation: Operation, params: Mapping[str, Any]) -> Any:
    """Run `operation` with bound keyword parameters; raises KmsError for every failure AWS would report."""
    return OPERATIONS[operation](deps, ctx, **params)
