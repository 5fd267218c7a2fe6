"""STATE_RULES: which key states each operation accepts, transcribed from AWS's key-state page.

Source: AWS KMS Developer Guide, "Key states of AWS KMS keys" (key-state.html), and docs/aws-semantics.md A.4.
The rules are the `states` column of OPERATION_FACTS (kms/operations.py). Operations that take no existing key
(CreateKey, ListKeys, GenerateRandom, ...) are absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from trent.kms.errors import DisabledException, KmsError, KMSInvalidStateException
from trent.kms.operations import ALL_STATES, OPERATION_FACTS, Operation
from trent.kms.specs import KeyState

__all__ = ["ALL_STATES", "STATE_RULES", "require_state", "state_error"]

_S = KeyState
STATE_RULES: Mapping[Operation, frozenset[KeyState]] = MappingProxyType(
    {op: facts.states for op, facts in OPERATION_FACTS.items() if facts.states is not None}
)

_STATE_WORDS: Mapping[KeyState, str] = MappingProxyType(
    {
        _S.PENDING_DELETION: "pending deletion",
        _S.PENDING_REPLICA_DELETION: "pending replica deletion",
        _S.PENDING_IMPORT: "pending import",
        _S.UNAVAILABLE: "unavailable",
        _S.CREATING: "creating",
        _S.UPDATING: "updating",
    }
)


def state_error(operation: Operation, state: KeyState, arn: str) -> KmsError:
    """The error AWS returns when `operation` meets a key in `state` (key-state page footnotes)."""
    if operation is Operation.CancelKeyDeletion:
        return KMSInvalidStateException(f"{arn} is not pending deletion.")
    if state is KeyState.DISABLED:
        return DisabledException(f"{arn} is disabled.")
    return KMSInvalidStateException(f"{arn} is {_STATE_WORDS.get(state, state.value)}.")


def require_state(operation: Operation, state: KeyState, arn: str) -> None:
    if state not in STATE_RULES.get(operation, ALL_STATES):
        raise state_error(operation, state, arn)
