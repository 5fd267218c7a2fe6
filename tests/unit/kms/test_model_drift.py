"""Trent's KMS vocabulary against botocore's KMS model: a new AWS operation, enum value or member fails here."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from enum import StrEnum
from typing import Any

import botocore.loaders
import botocore.model
import pytest
from botocore import xform_name

from trent.kms import specs
from trent.kms.operations import Operation
from trent.ops.registry import OPERATIONS

_MODEL: Any = botocore.model.ServiceModel(botocore.loaders.Loader().load_service_model("kms", "service-2"), "kms")

ENUM_SHAPES: list[tuple[type[StrEnum], str]] = [
    (specs.KeySpec, "KeySpec"),
    (specs.KeyUsage, "KeyUsageType"),
    (specs.EncryptionAlgorithm, "EncryptionAlgorithmSpec"),
    (specs.SigningAlgorithm, "SigningAlgorithmSpec"),
    (specs.MacAlgorithm, "MacAlgorithmSpec"),
    (specs.KeyAgreementAlgorithm, "KeyAgreementAlgorithmSpec"),
    (specs.EncapsulationAlgorithm, "EncapsulationAlgorithmSpec"),
    (specs.MessageType, "MessageType"),
    (specs.DataKeySpec, "DataKeySpec"),
    (specs.DataKeyPairSpec, "DataKeyPairSpec"),
    (specs.KeyState, "KeyState"),
    (specs.Origin, "OriginType"),
    (specs.KeyManager, "KeyManagerType"),
    (specs.ExpirationModel, "ExpirationModelType"),
    (specs.GrantOperation, "GrantOperation"),
    (specs.WrappingKeySpec, "WrappingKeySpec"),
    (specs.WrappingAlgorithm, "AlgorithmSpec"),
    (specs.ImportType, "ImportType"),
    (specs.ImportState, "ImportState"),
    (specs.KeyMaterialState, "KeyMaterialState"),
    (specs.IncludeKeyMaterial, "IncludeKeyMaterial"),
]
_IMPLEMENTED = sorted(op for op, function in OPERATIONS.items() if not getattr(function, "unsupported", False))
_NOT_PARAMETERS = frozenset({"deps", "ctx"})


def test_operation_enum_equals_botocores_operation_list() -> None:
    assert sorted(op.value for op in Operation) == sorted(_MODEL.operation_names)
    assert len(Operation) == 56


def test_operation_member_names_are_their_values() -> None:
    assert all(op.name == op.value for op in Operation)


def test_every_specs_strenum_is_checked() -> None:
    declared = {
        obj
        for obj in vars(specs).values()
        if isinstance(obj, type)
        and issubclass(obj, StrEnum)
        and obj is not StrEnum
        and obj.__module__ == specs.__name__
    }
    assert declared == {enum for enum, _ in ENUM_SHAPES}


@pytest.mark.parametrize(("enum", "shape_name"), ENUM_SHAPES, ids=[shape for _, shape in ENUM_SHAPES])
def test_enum_equals_the_model_shape(enum: type[StrEnum], shape_name: str) -> None:
    shape = _MODEL.shape_for(shape_name)
    assert shape.type_name == "string"
    assert {member.value for member in enum} == set(shape.enum)
    assert len(enum) == len(shape.enum)


def test_customer_master_key_spec_is_a_subset_of_key_spec() -> None:
    legacy = set(_MODEL.shape_for("CustomerMasterKeySpec").enum)
    assert legacy == {spec.value for spec in specs.LEGACY_SPECS}
    assert legacy <= {spec.value for spec in specs.KeySpec}


def test_key_specs_table_covers_every_key_spec() -> None:
    assert set(specs.KEY_SPECS) == set(specs.KeySpec)


@pytest.mark.parametrize("spec", list(specs.KeySpec))
def test_key_spec_entry_is_consistent(spec: specs.KeySpec) -> None:
    info = specs.KEY_SPECS[spec]
    assert info.usages, f"{spec} has no key usage"
    for usage in info.usages:
        lists = info.algorithms_for(usage)
        offered = (*lists.encryption, *lists.signing, *lists.mac, *lists.agreement, *lists.encapsulation)
        assert offered, f"{spec} with {usage} offers no algorithm"


def test_registry_covers_every_operation() -> None:
    assert set(OPERATIONS) == set(Operation)
    assert all(callable(function) for function in OPERATIONS.values())


def test_some_operations_are_implemented() -> None:
    assert {Operation.CreateKey, Operation.Encrypt, Operation.Decrypt, Operation.DescribeKey} <= set(_IMPLEMENTED)


@pytest.mark.parametrize("operation", _IMPLEMENTED)
def test_operation_parameters_equal_the_model_input_members(operation: Operation) -> None:
    function = OPERATIONS[operation]
    parameters = {
        name: parameter
        for name, parameter in inspect.signature(function).parameters.items()
        if name not in _NOT_PARAMETERS
    }
    shape = _MODEL.operation_model(operation.value).input_shape
    members = {xform_name(name) for name in (shape.members if shape is not None else {})}
    assert set(parameters) == members, (
        f"{function.__qualname__}: missing {sorted(members - set(parameters))}, "
        f"not in the model {sorted(set(parameters) - members)}"
    )
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())


@pytest.mark.parametrize("operation", _IMPLEMENTED)
def test_required_members_have_no_default(operation: Operation) -> None:
    shape = _MODEL.operation_model(operation.value).input_shape
    required = {xform_name(name) for name in (shape.required_members if shape is not None else ())}
    parameters = inspect.signature(OPERATIONS[operation]).parameters
    defaulted = {
        name for name in required if name in parameters and parameters[name].default is not inspect.Parameter.empty
    }
    assert not defaulted


def _dataclasses_in(hint: Any) -> list[type]:
    found = [hint] if isinstance(hint, type) and dataclasses.is_dataclass(hint) else []
    for arg in typing.get_args(hint):
        found.extend(_dataclasses_in(arg))
    return found


def _unrendered_fields(cls: type, shape: Any, path: str) -> list[str]:
    """Result fields the codec would silently drop: no output member of that snake_case name."""
    members = {xform_name(name): member for name, member in (shape.members.items() if shape is not None else ())}
    hints = typing.get_type_hints(cls)
    dropped = []
    for field in dataclasses.fields(cls):
        member = members.get(field.name)
        if member is None:
            dropped.append(f"{path}.{field.name}")
            continue
        inner = member.member if member.type_name == "list" else member
        for nested in _dataclasses_in(hints[field.name]):
            dropped.extend(_unrendered_fields(nested, inner, f"{path}.{field.name}"))
    return dropped


@pytest.mark.parametrize("operation", _IMPLEMENTED)
def test_every_result_field_is_a_model_output_member(operation: Operation) -> None:
    result = typing.get_type_hints(OPERATIONS[operation])["return"]
    assert isinstance(result, type)
    assert dataclasses.is_dataclass(result)
    shape = _MODEL.operation_model(operation.value).output_shape
    assert _unrendered_fields(result, shape, operation.value) == []
    required = {xform_name(name) for name in (shape.required_members if shape is not None else ())}
    assert required <= {field.name for field in dataclasses.fields(result)}
