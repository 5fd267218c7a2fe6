"""botocore's KMS service model (service-2.json), loaded once: the wire contract Trent follows.

botocore is a dependency, not a copy: shapes, enums, lengths, ranges and patterns come from it. Request
decoding and response encoding read the model's shapes through `input_shape` and `output_shape`: the JSON file
botocore's Loader would load, read here directly into `Shape`s that answer what botocore's shapes answer
(type_name, metadata, members, required_members, member, key, value), without importing botocore's loaders and
models (~40 ms of imports at every start: benchmarks/results/dev_start.md). `service_model` and
`operation_model` are botocore's own objects, for whatever needs the rest of botocore (tests parse responses
with them); tests/unit/protocol/test_model.py holds the two views equal, shape by shape.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import botocore  # its package only (xform_name, the data directory): not its loaders nor models
import orjson
from botocore import xform_name

TARGET_PREFIX = "TrentService"
_SERVICE, _TYPE = "kms", "service-2"
# botocore.model.Shape.METADATA_ATTRS: what a shape's `metadata` holds.
_METADATA = (
    "required",
    "min",
    "max",
    "pattern",
    "sensitive",
    "enum",
    "idempotencyToken",
    "error",
    "exception",
    "endpointdiscoveryid",
    "retryable",
    "document",
    "union",
    "contextParam",
    "clientContextParams",
    "requiresLength",
)


class Shape:
    """One shape of the model as botocore.model.ShapeResolver resolves a reference to it: the shape's own
    definition with the referring member's traits laid over it."""

    __slots__ = ("_model", "_shapes", "metadata", "name", "type_name")

    def __init__(self, name: str, model: Mapping[str, Any], shapes: Mapping[str, Any]) -> None:
        self.name = name
        self.type_name: str = model["type"]
        self.metadata: dict[str, Any] = {attr: model[attr] for attr in _METADATA if attr in model}
        self._model = model
        self._shapes = shapes

    @property
    def required_members(self) -> list[str]:
        required: list[str] = self.metadata.get("required", [])
        return required

    @property
    def members(self) -> dict[str, Shape]:
        return {name: _resolve(ref, self._shapes) for name, ref in self._model.get("members", {}).items()}

    @property
    def member(self) -> Shape:
        return _resolve(self._model["member"], self._shapes)

    @property
    def key(self) -> Shape:
        return _resolve(self._model["key"], self._shapes)

    @property
    def value(self) -> Shape:
        return _resolve(self._model["value"], self._shapes)


def _resolve(ref: Mapping[str, Any], shapes: Mapping[str, Any]) -> Shape:
    traits = {k: v for k, v in ref.items() if k != "shape"}
    model = shapes[ref["shape"]]
    return Shape(ref["shape"], {**model, **traits} if traits else model, shapes)


def _service_data() -> dict[str, Any]:
    """What botocore.loaders.Loader().load_service_model("kms", "service-2") returns. Read directly when the
    Loader's choice is plain: no models of one's own in ~/.aws/models (its CUSTOMER_DATA_PATH, searched first)
    and no extras file; then it is the latest API version in botocore's data directory, service-2.json before
    service-2.json.gz. Anything else is left to the Loader itself."""
    data = Path(botocore.__file__).parent / "data" / _SERVICE
    if not (Path.home() / ".aws" / "models" / _SERVICE).exists():
        versions = sorted(
            entry.name
            for entry in data.iterdir()
            if any((entry / f"{_TYPE}{ext}").is_file() for ext in (".json", ".json.gz"))
        )
        latest = data / versions[-1] if versions else None
        if latest is not None and not any((latest / f"{_TYPE}.sdk-extras{e}").exists() for e in (".json", ".json.gz")):
            plain = latest / f"{_TYPE}.json"
            raw = plain.read_bytes() if plain.is_file() else gzip.decompress((latest / f"{_TYPE}.json.gz").read_bytes())
            document: dict[str, Any] = orjson.loads(raw)
            return document
    from botocore.loaders import Loader

    loaded: dict[str, Any] = Loader().load_service_model(_SERVICE, _TYPE)
    return loaded


@cache
def _operations() -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    data = _service_data()
    return data["operations"], data["shapes"]


def input_shape(operation: str) -> Shape | None:
    """The operation's input shape (None if it takes none), as botocore's OperationModel.input_shape."""
    operations, shapes = _operations()
    ref = operations[operation].get("input")
    return None if ref is None else _resolve(ref, shapes)


def output_shape(operation: str) -> Shape | None:
    """The operation's output shape (None if it has none), as botocore's OperationModel.output_shape."""
    operations, shapes = _operations()
    ref = operations[operation].get("output")
    return None if ref is None else _resolve(ref, shapes)


def operation_names() -> tuple[str, ...]:
    return tuple(_operations()[0])


@cache
def service_model() -> Any:
    """botocore's own ServiceModel, loaded by its own Loader (botocore ships no type hints)."""
    from botocore.loaders import Loader
    from botocore.model import ServiceModel

    return ServiceModel(Loader().load_service_model(_SERVICE, _TYPE), _SERVICE)


def operation_model(name: str) -> Any:
    return service_model().operation_model(name)


def snake(member_name: str) -> str:
    """PascalCase member → the snake_case name ops use (the mapping boto3 and localstack's stubs use)."""
    return str(xform_name(member_name))


def lower_camel(member_name: str) -> str:
    """The member path AWS prints in validation messages: 'NumberOfBytes' → 'numberOfBytes'."""
    return member_name[:1].lower() + member_name[1:]
