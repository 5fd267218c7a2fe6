"""model.py's shapes, read from botocore's KMS model file without botocore's loaders, against botocore's own
ServiceModel: every operation's input and output, shape by shape, member by member."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest

from trent.protocol.awsjson import model

BOTOCORE: Any = model.service_model()
OPERATIONS = list(BOTOCORE.operation_names)


def described(shape: Any, seen: frozenset[str] = frozenset()) -> Any:
    """What decoding and encoding read of a shape, recursively (a shape already on the path is named only)."""
    if shape is None:
        return None
    if shape.name in seen:
        return ("recursive", shape.name)
    seen = seen | {shape.name}
    out: dict[str, Any] = {"name": shape.name, "type": shape.type_name, "metadata": dict(shape.metadata)}
    if shape.type_name == "structure":
        out["required"] = list(shape.required_members)
        out["members"] = [(name, described(member, seen)) for name, member in shape.members.items()]
    elif shape.type_name == "list":
        out["member"] = described(shape.member, seen)
    elif shape.type_name == "map":
        out["key"], out["value"] = described(shape.key, seen), described(shape.value, seen)
    return out


@pytest.mark.parametrize("operation", OPERATIONS)
def test_shapes_are_botocores(operation: str) -> None:
    theirs = BOTOCORE.operation_model(operation)
    assert described(model.input_shape(operation)) == described(theirs.input_shape)
    assert described(model.output_shape(operation)) == described(theirs.output_shape)


def test_every_operation_of_the_model() -> None:
    assert list(model.operation_names()) == OPERATIONS
    assert len(OPERATIONS) >= 50


def test_member_traits_are_laid_over_the_shape() -> None:
    """As botocore's ShapeResolver does: a member's own traits override its shape's, which stays as it was."""
    shapes = {"S": {"type": "string", "min": 1}, "T": {"type": "structure", "members": {"A": {"shape": "S", "min": 3}}}}
    member = model.Shape("T", shapes["T"], shapes).members["A"]
    assert (member.name, member.metadata) == ("S", {"min": 3})
    assert shapes["S"] == {"type": "string", "min": 1}


def test_models_of_ones_own_are_left_to_botocores_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KMS model in ~/.aws/models (botocore's customer data path, searched first) is what botocore loads; so
    does model.py then, through botocore's Loader."""
    builtin = Path(botocore.__file__).parent / "data" / "kms"
    version = sorted(p.name for p in builtin.iterdir() if p.is_dir())[-1]
    data = json.loads(gzip.decompress((builtin / version / "service-2.json.gz").read_bytes()))
    data["shapes"]["ListKeysRequest"]["members"]["Limit"]["documentation"] = "of one's own"
    data["shapes"]["LimitType"]["max"] = 99
    own = tmp_path / ".aws" / "models" / "kms" / version
    own.mkdir(parents=True)
    (own / "service-2.json").write_text(json.dumps(data))
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    monkeypatch.setattr(botocore.loaders.Loader, "CUSTOMER_DATA_PATH", str(tmp_path / ".aws" / "models"))
    assert model._service_data()["shapes"]["LimitType"]["max"] == 99
    monkeypatch.setattr(Path, "home", lambda: tmp_path / "nowhere")
    assert model._service_data()["shapes"]["LimitType"]["max"] == 1000
