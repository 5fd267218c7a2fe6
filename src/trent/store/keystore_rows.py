"""Custom key stores and HSM clusters as rows, for the SQL adapters (sqlite_keystores.py, postgres_keystores.py).

A store's kind-specific configuration is one JSON text column (`config`), so another kind (an external key
store's proxy settings) needs a config class and a case here, not a schema change. Bytes in it are base64.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from trent.kms.ids import AccountId, Region
from trent.kms.keystores import (
    CloudHsmConfig,
    ConnectionErrorCode,
    ConnectionState,
    CustomKeyStore,
    CustomKeyStoreType,
    HsmCluster,
    KeyStoreConfig,
    XksConfig,
    XksProxyConnectivity,
)

CLUSTER_COLUMNS = "cluster_id, module, token_label, trust_anchor, created"
STORE_COLUMNS = (
    "custom_key_store_id, account, region, name, store_type, creation_date, connection_state, "
    "connection_error_code, config, revision"
)


def config_text(config: KeyStoreConfig) -> str:
    if isinstance(config, XksConfig):
        return json.dumps(
            {
                "connectivity": config.connectivity.value,
                "uri_endpoint": config.uri_endpoint,
                "uri_path": config.uri_path,
                "access_key_id": config.access_key_id,
                "wrapped_secret": base64.b64encode(config.wrapped_secret).decode(),
            },
            sort_keys=True,
        )
    return json.dumps(
        {
            "cluster_id": config.cluster_id,
            "trust_anchor_certificate": config.trust_anchor_certificate,
            "wrapped_password": base64.b64encode(config.wrapped_password).decode(),
        },
        sort_keys=True,
    )


def config_of(store_type: CustomKeyStoreType, text: str) -> KeyStoreConfig:
    data = json.loads(text)
    if store_type is CustomKeyStoreType.EXTERNAL_KEY_STORE:
        return XksConfig(
            data["uri_endpoint"],
            data["uri_path"],
            data["access_key_id"],
            base64.b64decode(data["wrapped_secret"]),
            XksProxyConnectivity(data["connectivity"]),
        )
    if store_type is not CustomKeyStoreType.AWS_CLOUDHSM:
        raise ValueError(f"no configuration of custom key store type {store_type}")
    return CloudHsmConfig(
        data["cluster_id"], data["trust_anchor_certificate"], base64.b64decode(data["wrapped_password"])
    )


def store_values(store: CustomKeyStore, ts: Callable[[datetime], Any]) -> tuple[Any, ...]:
    return (
        store.custom_key_store_id,
        store.account,
        store.region,
        store.name,
        store.store_type.value,
        ts(store.creation_date),
        store.connection_state.value,
        None if store.connection_error_code is None else store.connection_error_code.value,
        config_text(store.config),
        store.revision,
    )


def store_of(row: Any, dt: Callable[[Any], datetime]) -> CustomKeyStore:
    store_type = CustomKeyStoreType(row[4])
    return CustomKeyStore(
        custom_key_store_id=row[0],
        account=AccountId(row[1]),
        region=Region(row[2]),
        name=row[3],
        store_type=store_type,
        creation_date=dt(row[5]),
        connection_state=ConnectionState(row[6]),
        connection_error_code=None if row[7] is None else ConnectionErrorCode(row[7]),
        config=config_of(store_type, row[8]),
        revision=row[9],
    )


def cluster_values(cluster: HsmCluster, ts: Callable[[datetime], Any]) -> tuple[Any, ...]:
    return (
        cluster.cluster_id,
        cluster.module,
        cluster.token_label,
        cluster.trust_anchor_certificate,
        ts(cluster.created),
    )


def cluster_of(row: Any, dt: Callable[[Any], datetime]) -> HsmCluster:
    return HsmCluster(row[0], row[1], row[2], row[3], dt(row[4]))
