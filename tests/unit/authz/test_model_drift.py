"""authz's tables against botocore's KMS model: a new cross-account or encryption-context operation fails here."""

from __future__ import annotations

import re
from typing import Any

import botocore.loaders
import botocore.model

from trent.authz.evaluate import CROSS_ACCOUNT_ACTIONS
from trent.authz.grants import CONTEXT_OPERATIONS

_MODEL: Any = botocore.model.ServiceModel(botocore.loaders.Loader().load_service_model("kms", "service-2"), "kms")
# ReEncrypt is authorized as two IAM actions (and two grant operations): ReEncryptFrom and ReEncryptTo.
_ACTIONS = {"ReEncrypt": ("ReEncryptFrom", "ReEncryptTo")}


def _actions(operation: str) -> tuple[str, ...]:
    return _ACTIONS.get(operation, (operation,))


def test_cross_account_actions_are_the_models_cross_account_operations() -> None:
    cross = {
        f"kms:{action}".lower()
        for name in _MODEL.operation_names
        if re.search(r"<b>Cross-account use</b>\s*:\s*Yes", _MODEL.operation_model(name).documentation)
        for action in _actions(name)
    }
    assert cross == CROSS_ACCOUNT_ACTIONS


def test_context_operations_are_the_grant_operations_taking_an_encryption_context() -> None:
    grant_operations = set(_MODEL.shape_for("GrantOperation").enum)
    with_context = {
        action
        for name in _MODEL.operation_names
        if any("EncryptionContext" in member for member in _MODEL.operation_model(name).input_shape.members)
        for action in _actions(name)
    }
    assert with_context == CONTEXT_OPERATIONS
    assert grant_operations >= CONTEXT_OPERATIONS
