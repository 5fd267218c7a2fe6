"""Custom key stores over the KMS API: CreateCustomKeyStore, ConnectCustomKeyStore, DisconnectCustomKeyStore,
DescribeCustomKeyStores, UpdateCustomKeyStore, DeleteCustomKeyStore (AWS KMS API Reference, each operation;
CustomKeyStoreInvalidStateException for the state rules). AWS_CLOUDHSM: a store on a PKCS#11 token the operator
registered as a cluster (ops/clusters.py; docs/decisions/0014-custom-key-stores.md). EXTERNAL_KEY_STORE: a store
whose keys also need an XKS proxy's external key (ops/extstores.py; docs/decisions/0016-external-key-stores.md).

Connecting logs in to the token from the process that serves the request, synchronously: AWS's CONNECTING
lasts until its (asynchronous) connection ends, Trent's until the request does, so DescribeCustomKeyStores
sees CONNECTED, or FAILED with its ConnectionErrorCode. The connection state lives in the store, so every
worker and node obeys it from its next request.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from trent.crypto.certificates import certificate_der
from trent.kms.errors import (
    CloudHsmClusterInUseException,
    CloudHsmClusterNotFoundException,
    CloudHsmClusterNotRelatedException,
    CustomKeyStoreHasCMKsException,
    CustomKeyStoreNameInUseException,
    CustomKeyStoreNotFoundException,
    IncorrectTrustAnchorException,
    LimitExceededException,
    ValidationException,
)
from trent.kms.keystores import (
    MAX_KEY_STORES,
    CloudHsmConfig,
    ConnectionErrorCode,
    ConnectionState,
    CustomKeyStore,
    CustomKeyStoreType,
    HsmCluster,
    KeyStoreConfig,
    XksConfig,
)
from trent.kms.operations import Operation
from trent.kms.results import (
    CreateCustomKeyStoreResult,
    CustomKeyStoresListEntry,
    DescribeCustomKeyStoresResult,
    Empty,
    XksProxyConfiguration,
)
from trent.kms.sensitive import Sensitive
from trent.ops import extstores, paging, storekeys
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.resolution import authorize_account
from trent.rootoftrust.base import RootUnavailable, key_store_password_aad
from trent.rootoftrust.tokenkeys import LoginRefused, TokenMissing
from trent.store.base import Reader

_S = ConnectionState
CLOUDHSM_NEEDS = (
    "A custom key store of type AWS_CLOUDHSM requires CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword."
)
XKS_ONLY = "XksProxy* parameters are valid only for a custom key store of type EXTERNAL_KEY_STORE."


def _not_found(custom_key_store: str) -> CustomKeyStoreNotFoundException:
    return CustomKeyStoreNotFoundException(f"Custom key store {custom_key_store} does not exist.")


def find_store(reader: Reader, ctx: RequestContext, custom_key_store_id: str) -> CustomKeyStore:
    """The caller's store of that id, in the request's account and region ("Cross-account use: No")."""
    store = reader.get_custom_key_store(custom_key_store_id)
    if store is None or (store.account, store.region) != (ctx.account, ctx.region):
        raise _not_found(custom_key_store_id)
    return store


def hsm_config(store: CustomKeyStore) -> CloudHsmConfig:
    assert isinstance(store.config, CloudHsmConfig), "not an AWS_CLOUDHSM store"
    return store.config


def _cluster(reader: Reader, cluster_id: str) -> HsmCluster:
    cluster = reader.get_hsm_cluster(cluster_id)
    if cluster is None:
        raise CloudHsmClusterNotFoundException(f"CloudHSM cluster {cluster_id} was not found.")
    return cluster


def _same_certificate(a: str, b: str) -> bool:
    try:
        return certificate_der(a) == certificate_der(b)
    except ValueError:
        return False


def _wrap_password(deps: Deps, store_id: str, password: str) -> bytes:
    return deps.root_of_trust.wrap(Sensitive(password.encode()), key_store_password_aad(store_id)).to_bytes()


def _new_store_id() -> str:
    return "cks-" + secrets.token_hex(9)[:17]


def _name_in_use(name: str) -> CustomKeyStoreNameInUseException:
    return CustomKeyStoreNameInUseException(f"Custom key store name {name} is already in use.")


def create_custom_key_store(
    deps: Deps,
    ctx: RequestContext,
    *,
    custom_key_store_name: str,
    cloud_hsm_cluster_id: str | None = None,
    trust_anchor_certificate: str | None = None,
    key_store_password: str | None = None,
    custom_key_store_type: CustomKeyStoreType = CustomKeyStoreType.AWS_CLOUDHSM,
    xks_proxy_uri_endpoint: str | None = None,
    xks_proxy_uri_path: str | None = None,
    xks_proxy_vpc_endpoint_service_name: str | None = None,
    xks_proxy_vpc_endpoint_service_owner: str | None = None,
    xks_proxy_authentication_credential: object | None = None,
    xks_proxy_connectivity: str | None = None,
) -> CreateCustomKeyStoreResult:
    proxy = extstores.ProxySettings(
        xks_proxy_connectivity,
        xks_proxy_uri_endpoint,
        xks_proxy_uri_path,
        xks_proxy_authentication_credential,
        xks_proxy_vpc_endpoint_service_name,
        xks_proxy_vpc_endpoint_service_owner,
    )
    if custom_key_store_type is CustomKeyStoreType.EXTERNAL_KEY_STORE:
        authorize_account(deps, ctx, Operation.CreateCustomKeyStore)
        store_id = _new_store_id()
        xks = extstores.new_config(
            deps, store_id, proxy, cloudhsm=(cloud_hsm_cluster_id, trust_anchor_certificate, key_store_password)
        )
        new = CustomKeyStore(
            store_id, ctx.account, ctx.region, custom_key_store_name, custom_key_store_type, deps.clock(), xks
        )
        extstores.require_unique(deps.store, new)
        extstores.check_health(deps, ctx, new, Operation.CreateCustomKeyStore)
        return _insert(deps, ctx, new, None)
    if proxy.given():
        raise ValidationException(XKS_ONLY)
    if cloud_hsm_cluster_id is None or trust_anchor_certificate is None or key_store_password is None:
        raise ValidationException(CLOUDHSM_NEEDS)
    authorize_account(deps, ctx, Operation.CreateCustomKeyStore)
    cluster = _cluster(deps.store, cloud_hsm_cluster_id)
    if not _same_certificate(trust_anchor_certificate, cluster.trust_anchor_certificate):
        raise IncorrectTrustAnchorException(
            f"The trust anchor certificate does not match the trust anchor certificate of cluster {cluster.cluster_id}."
        )
    store_id = _new_store_id()
    config = CloudHsmConfig(
        cluster.cluster_id, trust_anchor_certificate, _wrap_password(deps, store_id, key_store_password)
    )
    store = CustomKeyStore(
        store_id, ctx.account, ctx.region, custom_key_store_name, custom_key_store_type, deps.clock(), config
    )
    return _insert(deps, ctx, store, cluster)


def _insert(
    deps: Deps, ctx: RequestContext, store: CustomKeyStore, cluster: HsmCluster | None
) -> CreateCustomKeyStoreResult:
    custom_key_store_name = store.name
    with deps.store.transaction() as tx:
        stores = tx.list_custom_key_stores(None, None)
        if cluster is None:
            extstores.require_unique(tx, store)
        elif any(_on_token(tx, s, cluster) for s in stores):
            raise CloudHsmClusterInUseException(
                f"CloudHSM cluster {cluster.cluster_id} is already associated with a custom key store."
            )
        mine = [s for s in stores if (s.account, s.region) == (ctx.account, ctx.region)]
        if any(s.name == custom_key_store_name for s in mine):
            raise _name_in_use(custom_key_store_name)
        if len(mine) >= MAX_KEY_STORES:
            raise LimitExceededException(f"You have reached the limit of {MAX_KEY_STORES} custom key stores.")
        tx.insert_custom_key_store(store)
    return CreateCustomKeyStoreResult(store.custom_key_store_id)


def _on_token(reader: Reader, store: CustomKeyStore, cluster: HsmCluster) -> bool:
    """Whether a store is on the cluster: its id, or another registration of the same token."""
    if not isinstance(store.config, CloudHsmConfig):
        return False
    if store.config.cluster_id == cluster.cluster_id:
        return True
    other = reader.get_hsm_cluster(store.config.cluster_id)
    return other is not None and (other.module, other.token_label) == (cluster.module, cluster.token_label)


def connect_custom_key_store(deps: Deps, ctx: RequestContext, *, custom_key_store_id: str) -> Empty:
    authorize_account(deps, ctx, Operation.ConnectCustomKeyStore)
    store = find_store(deps.store, ctx, custom_key_store_id)
    if store.connection_state in (_S.DISCONNECTING, _S.FAILED):
        raise storekeys.invalid_state(store, Operation.ConnectCustomKeyStore)
    if store.connected:
        return Empty()
    external = store.store_type is CustomKeyStoreType.EXTERNAL_KEY_STORE
    code = extstores.connection_error(deps, ctx, store) if external else _connection_error(deps, store)
    state = _S.CONNECTED if code is None else _S.FAILED
    with deps.store.transaction() as tx:
        current = find_store(tx, ctx, custom_key_store_id)
        if current.connection_state in (_S.DISCONNECTING, _S.FAILED, _S.CONNECTED):
            return Empty()  # another request connected it (or failed to) meanwhile
        tx.update_custom_key_store(current.evolve(connection_state=state, connection_error_code=code), current.revision)
    return Empty()


def _connection_error(deps: Deps, store: CustomKeyStore) -> ConnectionErrorCode | None:
    """Log in to the store's token (ConnectionErrorCodeType's meanings for each failure)."""
    if deps.store.get_hsm_cluster(hsm_config(store).cluster_id) is None:
        return ConnectionErrorCode.CLUSTER_NOT_FOUND
    try:
        deps.tokens.connect(storekeys.token_ref(deps, deps.store, store))
    except LoginRefused:
        return ConnectionErrorCode.INVALID_CREDENTIALS
    except TokenMissing:
        return ConnectionErrorCode.INSUFFICIENT_CLOUDHSM_HSMS  # no active HSM: no token to log in to
    except RootUnavailable:
        return ConnectionErrorCode.INTERNAL_ERROR
    return None


def disconnect_custom_key_store(deps: Deps, ctx: RequestContext, *, custom_key_store_id: str) -> Empty:
    authorize_account(deps, ctx, Operation.DisconnectCustomKeyStore)
    with deps.store.transaction() as tx:
        store = find_store(tx, ctx, custom_key_store_id)
        if store.connection_state in (_S.DISCONNECTING, _S.DISCONNECTED):
            raise storekeys.invalid_state(store, Operation.DisconnectCustomKeyStore)
        tx.update_custom_key_store(
            store.evolve(connection_state=_S.DISCONNECTED, connection_error_code=None), store.revision
        )
    return Empty()


def _entry(store: CustomKeyStore) -> CustomKeyStoresListEntry:
    failed = store.connection_state is _S.FAILED
    config = store.config
    hsm = config if isinstance(config, CloudHsmConfig) else None
    xks = config if isinstance(config, XksConfig) else None
    return CustomKeyStoresListEntry(
        custom_key_store_id=store.custom_key_store_id,
        custom_key_store_name=store.name,
        custom_key_store_type=store.store_type,
        connection_state=store.connection_state,
        creation_date=store.creation_date,
        cloud_hsm_cluster_id=None if hsm is None else hsm.cluster_id,
        trust_anchor_certificate=None if hsm is None else hsm.trust_anchor_certificate,
        connection_error_code=store.connection_error_code if failed else None,
        xks_proxy_configuration=(
            None
            if xks is None
            else XksProxyConfiguration(xks.connectivity.value, xks.access_key_id, xks.uri_endpoint, xks.uri_path)
        ),
    )


def describe_custom_key_stores(
    deps: Deps,
    ctx: RequestContext,
    *,
    custom_key_store_id: str | None = None,
    custom_key_store_name: str | None = None,
    limit: int = 100,
    marker: str | None = None,
) -> DescribeCustomKeyStoresResult:
    if custom_key_store_id is not None and custom_key_store_name is not None:
        raise ValidationException("Specify either CustomKeyStoreId or CustomKeyStoreName, not both.")
    authorize_account(deps, ctx, Operation.DescribeCustomKeyStores)
    after = paging.after(marker)
    stores = deps.store.list_custom_key_stores(ctx.account, ctx.region)
    if custom_key_store_id is not None:
        stores = tuple(s for s in stores if s.custom_key_store_id == custom_key_store_id)
        if not stores:
            raise _not_found(custom_key_store_id)
    if custom_key_store_name is not None:
        stores = tuple(s for s in stores if s.name == custom_key_store_name)
        if not stores:
            raise _not_found(custom_key_store_name)
    rest = [s for s in stores if after is None or s.custom_key_store_id > after]
    page = rest[:limit]
    more = len(rest) > limit
    return DescribeCustomKeyStoresResult(
        tuple(_entry(s) for s in page), more, paging.marker(page[-1].custom_key_store_id) if more else None
    )


def update_custom_key_store(
    deps: Deps,
    ctx: RequestContext,
    *,
    custom_key_store_id: str,
    new_custom_key_store_name: str | None = None,
    key_store_password: str | None = None,
    cloud_hsm_cluster_id: str | None = None,
    xks_proxy_uri_endpoint: str | None = None,
    xks_proxy_uri_path: str | None = None,
    xks_proxy_vpc_endpoint_service_name: str | None = None,
    xks_proxy_vpc_endpoint_service_owner: str | None = None,
    xks_proxy_authentication_credential: object | None = None,
    xks_proxy_connectivity: str | None = None,
) -> Empty:
    """Every change needs the store DISCONNECTED ("To update any property of an AWS CloudHSM key store, the
    ConnectionState of the AWS CloudHSM key store must be DISCONNECTED": UpdateCustomKeyStore); an external
    key store's name, credential and URI path can change in any state (ops/extstores.py)."""
    proxy = extstores.ProxySettings(
        xks_proxy_connectivity,
        xks_proxy_uri_endpoint,
        xks_proxy_uri_path,
        xks_proxy_authentication_credential,
        xks_proxy_vpc_endpoint_service_name,
        xks_proxy_vpc_endpoint_service_owner,
    )
    authorize_account(deps, ctx, Operation.UpdateCustomKeyStore)
    found = find_store(deps.store, ctx, custom_key_store_id)
    if found.store_type is CustomKeyStoreType.EXTERNAL_KEY_STORE:
        xks = extstores.updated_config(deps, found, proxy, cloudhsm=(key_store_password, cloud_hsm_cluster_id))
        if (
            extstores.needs_disconnected(found, xks, proxy.connectivity)
            and found.connection_state is not _S.DISCONNECTED
        ):
            raise storekeys.invalid_state(found, Operation.UpdateCustomKeyStore)
        if xks != found.config:
            extstores.require_unique(deps.store, replace(found, config=xks))
            extstores.check_health(deps, ctx, replace(found, config=xks), Operation.UpdateCustomKeyStore)
        return _update(deps, ctx, found, new_custom_key_store_name, xks)
    if proxy.given():
        raise ValidationException(XKS_ONLY)
    store = found
    if store.connection_state is not _S.DISCONNECTED:
        raise storekeys.invalid_state(store, Operation.UpdateCustomKeyStore)
    config = hsm_config(store)
    if cloud_hsm_cluster_id is not None and cloud_hsm_cluster_id != config.cluster_id:
        cluster = _cluster(deps.store, cloud_hsm_cluster_id)
        # Related clusters share a backup history, so a cluster certificate: here, the trust anchor.
        if not _same_certificate(cluster.trust_anchor_certificate, config.trust_anchor_certificate):
            raise CloudHsmClusterNotRelatedException(
                f"CloudHSM cluster {cloud_hsm_cluster_id} is not related to cluster {config.cluster_id}."
            )
        config = CloudHsmConfig(cluster.cluster_id, config.trust_anchor_certificate, config.wrapped_password)
    if key_store_password is not None:
        wrapped = _wrap_password(deps, store.custom_key_store_id, key_store_password)
        config = CloudHsmConfig(config.cluster_id, config.trust_anchor_certificate, wrapped)
    return _update(deps, ctx, store, new_custom_key_store_name, config)


def _update(
    deps: Deps,
    ctx: RequestContext,
    found: CustomKeyStore,
    new_custom_key_store_name: str | None,
    config: KeyStoreConfig,
) -> Empty:
    external = isinstance(config, XksConfig)
    with deps.store.transaction() as tx:
        current = find_store(tx, ctx, found.custom_key_store_id)
        # A CloudHSM store must still be DISCONNECTED; an external one's settings unchanged since they were checked.
        if current.config != found.config if external else current.connection_state is not _S.DISCONNECTED:
            raise storekeys.invalid_state(current, Operation.UpdateCustomKeyStore)
        name = current.name if new_custom_key_store_name is None else new_custom_key_store_name
        if name != current.name and any(s.name == name for s in tx.list_custom_key_stores(ctx.account, ctx.region)):
            raise _name_in_use(name)
        if name != current.name or config != current.config:
            tx.update_custom_key_store(current.evolve(name=name, config=config), current.revision)
    return Empty()


def delete_custom_key_store(deps: Deps, ctx: RequestContext, *, custom_key_store_id: str) -> Empty:
    authorize_account(deps, ctx, Operation.DeleteCustomKeyStore)
    with deps.store.transaction() as tx:
        store = find_store(tx, ctx, custom_key_store_id)
        if store.connection_state is not _S.DISCONNECTED:
            raise storekeys.invalid_state(store, Operation.DeleteCustomKeyStore)
        if tx.count_keys_in_custom_key_store(custom_key_store_id):
            raise CustomKeyStoreHasCMKsException(
                f"Custom key store {custom_key_store_id} contains KMS keys: schedule their deletion first."
            )
        tx.delete_custom_key_store(custom_key_store_id)
    return Empty()
