"""botocore's KMS service model (service-2.json), loaded once: the wire contract Trent follows.

botocore is a dependency, not a copy: shapes, enums, lengths, ranges and patterns come from it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore.loaders
import botocore.model
from botocore import xform_name

TARGET_PREFIX = "TrentService"

Shape = Any  # botocore.model.Shape; botocore ships no type hints


@cache
def service_model() -> Any:
    data = botocore.loaders.Loader().load_service_model("kms", "service-2")
    return botocore.model.ServiceModel(data, "kms")


def operation_model(name: str) -> Any:
    return service_model().operation_model(name)


def operation_names() -> tuple[str, ...]:
    return tuple(service_model().operation_names)


def snake(member_name: str) -> str:
    """PascalCase member → the snake_case name ops use (the mapping boto3 and localstack's stubs use)."""
    return str(xform_name(member_name))


def lower_camel(member_name: str) -> str:
    """The member path AWS prints in validation messages: 'NumberOfBytes' → 'numberOfBytes'."""
    return member_name[:1].lower() + member_name[1:]
