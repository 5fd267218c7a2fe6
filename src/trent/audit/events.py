"""AuditEvent: one CloudTrail-format record per request, built only from allow-listed, typed values.

Fields follow the CloudTrail record contents (eventVersion 1.08). There is no field that could hold
plaintext, key material, secrets, ciphertexts, signatures or MACs: request parameters and response
elements pass through explicit allow-lists, and bytes are never copied into an event, whatever their name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from trent.audit.chain import canonical

EVENT_VERSION = "1.08"
EVENT_SOURCE = "kms.amazonaws.com"

# The size of one record is bounded, whoever sends what (docs/decisions/0007-hostile-input.md). A record
# over MAX_RECORD_BYTES is cut: every string to MAX_FIELD_CHARS characters (ending "..."), every list and
# map to its first MAX_ITEMS entries, then, if still over, requestParameters and responseElements are
# left out. CloudTrail's own rule is kept: "CloudTrail truncates a field if the field contents exceed the
# maximum field size. If a field is truncated, omitted is present with a value of true." (CloudTrail
# record contents).
MAX_RECORD_BYTES = 32 * 1024
MAX_FIELD_CHARS = 1024
MAX_ITEMS = 100

# Request parameters CloudTrail records for KMS, snake_case → camelCase (AWS KMS Developer Guide, "Logging
# AWS KMS API calls with AWS CloudTrail": e.g. Decrypt logs encryptionAlgorithm and encryptionContext, and
# omits the ciphertext and the plaintext).
REQUEST_PARAMETERS: Mapping[str, str] = {
    name: name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
    for name in (
        "key_id",
        "key_spec",
        "customer_master_key_spec",
        "key_usage",
        "origin",
        "description",
        "multi_region",
        "replica_region",  # ReplicateKey
        "primary_region",  # UpdatePrimaryRegion
        "bypass_policy_lockout_safety_check",
        "encryption_algorithm",
        "encryption_context",
        "source_key_id",
        "destination_key_id",
        "source_encryption_algorithm",
        "destination_encryption_algorithm",
        "source_encryption_context",
        "destination_encryption_context",
        "number_of_bytes",
        "key_pair_spec",
        "signing_algorithm",
        "message_type",
        "mac_algorithm",
        "key_agreement_algorithm",
        "encapsulation_algorithm",
        "alias_name",
        "target_key_id",
        "policy_name",
        "pending_window_in_days",
        "rotation_period_in_days",
        "include_key_material",
        "grant_id",
        "grantee_principal",
        "retiring_principal",
        "operations",
        "constraints",
        "name",
        "tag_keys",
        "tags",
        "limit",
        "dry_run",
        "dry_run_modifiers",
        "resource_owners",
        "wrapping_algorithm",
        "wrapping_key_spec",
        "valid_to",
        "expiration_model",
        "import_type",
        "key_material_id",
        "key_material_description",
        "custom_key_store_id",
        "custom_key_store_name",
        "new_custom_key_store_name",
        "custom_key_store_type",
        "cloud_hsm_cluster_id",
        "xks_key_id",
        "xks_proxy_connectivity",
        "xks_proxy_uri_endpoint",
        "xks_proxy_uri_path",  # never xks_proxy_authentication_credential
    )
}
RESPONSE_ELEMENTS: Mapping[str, str] = {
    name: name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
    for name in (
        "key_metadata",
        "key_id",
        "custom_key_store_id",
        "source_key_id",
        "grant_id",
        "key_state",
        "deletion_date",
        "pending_window_in_days",
        "encryption_algorithm",
        "source_encryption_algorithm",
        "destination_encryption_algorithm",
        "signing_algorithm",
        "mac_algorithm",
        "key_agreement_algorithm",
        "encapsulation_algorithm",
        "key_pair_spec",
        "key_material_id",
        "source_key_material_id",
        "destination_key_material_id",
    )
}
# KeyMetadata (CreateKey's response element) is safe to log whole; these are its members in camelCase.
_NESTED_NAMES = {"aws_account_id": "AWSAccountId"}


def _camel(name: str) -> str:
    if name in _NESTED_NAMES:
        return _NESTED_NAMES[name]
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def plain(value: Any) -> Any:
    """A JSON-ready copy of an allow-listed value. Bytes never pass: they are dropped, whatever they hold."""
    kind = type(value)
    if kind is str or kind is bool or kind is int or value is None:
        return value
    if isinstance(value, (bool, int, float, str)):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items() if not _is_secret(v)}
    if isinstance(value, (tuple, list, frozenset, set)):
        return [plain(v) for v in value if not _is_secret(v)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            _camel(f.name): plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None and not _is_secret(getattr(value, f.name))
        }
    return None  # anything else (bytes, Sensitive, key objects) is never logged


def _is_secret(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray, memoryview)) or type(value).__name__ == "Sensitive"


def allow_listed(values: Mapping[str, Any] | Any, allow: Mapping[str, str]) -> dict[str, Any] | None:
    if values is None:
        return None
    items = (
        values.items()
        if isinstance(values, Mapping)
        else ((f.name, getattr(values, f.name)) for f in dataclasses.fields(values))
    )
    kept = {allow[k]: plain(v) for k, v in items if k in allow and v is not None and not _is_secret(v)}
    return kept or None


@lru_cache(maxsize=64)
def _timestamp(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=4096)
def _resource(arn: str) -> dict[str, str]:
    return {"accountId": arn.split(":")[4], "type": "AWS::KMS::Key", "ARN": arn}


@dataclass(frozen=True, slots=True)
class UserIdentity:
    type: str  # "Root", "IAMUser", or "Unknown" when authentication failed
    account_id: str = ""
    arn: str = ""
    access_key_id: str = ""
    user_name: str = ""

    def record(self) -> dict[str, Any]:
        return _identity_record(self)

    def _build(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.account_id:
            out["principalId"] = self.account_id if self.type == "Root" else self.access_key_id
            out["accountId"] = self.account_id
        if self.arn:
            out["arn"] = self.arn
        if self.access_key_id:
            out["accessKeyId"] = self.access_key_id
        if self.user_name:
            out["userName"] = self.user_name
        return out


@lru_cache(maxsize=4096)
def _identity_record(identity: UserIdentity) -> dict[str, Any]:
    """Shared, never mutated: events are serialized, not edited."""
    return identity._build()


@dataclass(frozen=True, slots=True)
class AuditEvent:
    event_name: str
    event_time: datetime
    region: str
    request_id: str
    event_id: str
    user_identity: UserIdentity
    source_ip: str
    user_agent: str
    read_only: bool
    recipient_account_id: str
    resources: tuple[str, ...] = ()  # key ARNs
    request_parameters: dict[str, Any] | None = None
    response_elements: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    additional_event_data: dict[str, Any] | None = field(default=None)
    key_use: bool = False  # a successful use of its key that GetKeyLastUsage reports (not part of the record)
    event_source: str = EVENT_SOURCE  # iam.amazonaws.com for `trent admin`'s changes of principals

    @property
    def key_arn(self) -> str | None:
        return self.resources[0] if self.resources else None

    def record(self) -> dict[str, Any]:
        """The CloudTrail record (a dict ready for canonical JSON)."""
        out: dict[str, Any] = {
            "eventVersion": EVENT_VERSION,
            "userIdentity": self.user_identity.record(),
            "eventTime": _timestamp(int(self.event_time.timestamp())),
            "eventSource": self.event_source,
            "eventName": self.event_name,
            "awsRegion": self.region,
            "sourceIPAddress": self.source_ip,
            "userAgent": self.user_agent,
            "requestParameters": self.request_parameters,
            "responseElements": self.response_elements,
            "requestID": self.request_id,
            "eventID": self.event_id,
            "readOnly": self.read_only,
            "resources": [_resource(arn) for arn in self.resources],
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": self.recipient_account_id,
            "eventCategory": "Management",
        }
        if self.error_code is not None:
            out["errorCode"] = self.error_code
            out["errorMessage"] = self.error_message or ""
        if self.additional_event_data:
            out["additionalEventData"] = self.additional_event_data
        return out

    def body(self) -> bytes:
        """The record's canonical bytes, at most MAX_RECORD_BYTES (see above): what the chain stores."""
        record = self.record()
        body = canonical(record)
        if len(body) <= MAX_RECORD_BYTES:
            return body
        cut: dict[str, Any] = _cut(record)
        cut["omitted"] = True
        body = canonical(cut)
        if len(body) <= MAX_RECORD_BYTES:
            return body
        cut["requestParameters"] = cut["responseElements"] = None
        return canonical(cut)


def _cut(value: Any) -> Any:
    """A copy of a record's value with every string, list and map held to its bound."""
    if isinstance(value, str):
        return value if len(value) <= MAX_FIELD_CHARS else value[: MAX_FIELD_CHARS - 3] + "..."
    if isinstance(value, dict):
        return {_cut(k): _cut(v) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, list):
        return [_cut(v) for v in value[:MAX_ITEMS]]
    return value
