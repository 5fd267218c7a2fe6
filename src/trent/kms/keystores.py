"""Custom key stores: the vocabulary of AWS's custom key stores (CustomKeyStoresListEntry in the AWS KMS API
Reference) and Trent's records of them.

A custom key store has a type, a connection state and a configuration of its type: an AWS_CLOUDHSM store names
a "cluster" (in Trent, a PKCS#11 token the operator registered with `trent admin add-hsm-cluster`), the trust
anchor certificate it was created with, and the password of the token's user, wrapped by the root of trust; an
EXTERNAL_KEY_STORE carries its XKS proxy's configuration (XksConfig: endpoint, path, the SigV4 credential with
its secret wrapped by the root of trust). Keys in a store carry its id (Key.custom_key_store_id); a CloudHSM
store's keys have their material only in the store's token, an external store's keys have Trent material and
an external key too (docs/decisions/0016-external-key-stores.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeAlias

from trent.kms.ids import AccountId, Region


class CustomKeyStoreType(StrEnum):
    AWS_CLOUDHSM = "AWS_CLOUDHSM"
    EXTERNAL_KEY_STORE = "EXTERNAL_KEY_STORE"


class ConnectionState(StrEnum):
    CONNECTED = "CONNECTED"
    CONNECTING = "CONNECTING"
    FAILED = "FAILED"
    DISCONNECTED = "DISCONNECTED"
    DISCONNECTING = "DISCONNECTING"


class ConnectionErrorCode(StrEnum):
    """The codes Trent gives, of ConnectionErrorCodeType: AWS_CLOUDHSM's, then EXTERNAL_KEY_STORE's."""

    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    CLUSTER_NOT_FOUND = "CLUSTER_NOT_FOUND"
    NETWORK_ERRORS = "NETWORK_ERRORS"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    INSUFFICIENT_CLOUDHSM_HSMS = "INSUFFICIENT_CLOUDHSM_HSMS"
    USER_LOCKED_OUT = "USER_LOCKED_OUT"
    XKS_PROXY_ACCESS_DENIED = "XKS_PROXY_ACCESS_DENIED"
    XKS_PROXY_NOT_REACHABLE = "XKS_PROXY_NOT_REACHABLE"
    XKS_PROXY_INVALID_RESPONSE = "XKS_PROXY_INVALID_RESPONSE"
    XKS_PROXY_INVALID_CONFIGURATION = "XKS_PROXY_INVALID_CONFIGURATION"
    XKS_PROXY_INVALID_TLS_CONFIGURATION = "XKS_PROXY_INVALID_TLS_CONFIGURATION"
    XKS_PROXY_TIMED_OUT = "XKS_PROXY_TIMED_OUT"


class XksProxyConnectivity(StrEnum):
    PUBLIC_ENDPOINT = "PUBLIC_ENDPOINT"
    VPC_ENDPOINT_SERVICE = "VPC_ENDPOINT_SERVICE"


# CloudHsmClusterIdType's pattern (botocore's KMS model); the custom key store id is AWS's "cks-" + 17 hex.
CLUSTER_ID = re.compile(r"cluster-[2-7a-zA-Z]{11,16}")
KEY_STORE_ID = re.compile(r"cks-[0-9a-f]{17}")
MAX_KEY_STORES = 10  # AWS KMS quota "Custom key stores per account per Region" (not adjustable)


@dataclass(frozen=True, slots=True)
class HsmCluster:
    """A PKCS#11 token the operator registered as a CloudHSM cluster: where to reach it, and its trust anchor
    certificate (PEM), which CreateCustomKeyStore's TrustAnchorCertificate must match."""

    cluster_id: str
    module: str
    token_label: str
    trust_anchor_certificate: str
    created: datetime


@dataclass(frozen=True, slots=True)
class CloudHsmConfig:
    """An AWS_CLOUDHSM store's configuration: its cluster, the trust anchor it was created with, and the token
    user's PIN (KeyStorePassword) wrapped by the root of trust, bound to the store id (rootoftrust/base.py)."""

    cluster_id: str
    trust_anchor_certificate: str
    wrapped_password: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class XksConfig:
    """An EXTERNAL_KEY_STORE's configuration: how to reach its XKS proxy (PUBLIC_ENDPOINT only) and the SigV4
    credential (XksProxyAuthenticationCredential) whose secret is wrapped by the root of trust, bound to the
    store id and access key id (rootoftrust/base.py xks_credential_aad)."""

    uri_endpoint: str
    uri_path: str
    access_key_id: str
    wrapped_secret: bytes = field(repr=False)
    connectivity: XksProxyConnectivity = XksProxyConnectivity.PUBLIC_ENDPOINT

    @property
    def url(self) -> str:
        """The proxy's API root: endpoint and path (the operations' paths follow it)."""
        return self.uri_endpoint + self.uri_path


KeyStoreConfig: TypeAlias = CloudHsmConfig | XksConfig


@dataclass(frozen=True, slots=True)
class CustomKeyStore:
    """A custom key store. `revision` grows by one on every change (compare-and-set in the store)."""

    custom_key_store_id: str
    account: AccountId
    region: Region
    name: str
    store_type: CustomKeyStoreType
    creation_date: datetime
    config: KeyStoreConfig
    connection_state: ConnectionState = ConnectionState.DISCONNECTED
    connection_error_code: ConnectionErrorCode | None = None
    revision: int = 1

    @property
    def connected(self) -> bool:
        return self.connection_state is ConnectionState.CONNECTED

    def evolve(self, **changes: Any) -> CustomKeyStore:
        return replace(self, revision=self.revision + 1, **changes)
