"""External key stores (CustomKeyStoreType EXTERNAL_KEY_STORE) over the KMS API: the XKS part of
CreateCustomKeyStore, ConnectCustomKeyStore, DescribeCustomKeyStores and UpdateCustomKeyStore (ops/keystores.py
calls these), and the mapping of an XKS proxy's failures onto the KMS API (docs/decisions/0016).

Only PUBLIC_ENDPOINT connectivity exists (VPC_ENDPOINT_SERVICE needs an AWS VPC: UnsupportedOperationException).
The proxy is reached through the XksProxy port (xksclient/port.py) with the store's SigV4 credential, whose
secret is wrapped by the root of trust bound to the store id and access key id. Create, Update (of the proxy's
settings) and Connect send a GetHealthStatus with the new values first, as AWS KMS does ("Before updating the
properties your external key store, AWS KMS sends a GetHealthStatus request ... using the new values"; Developer
Guide, "Edit external key store properties", "Connect an external key store").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from trent.kms.errors import (
    KmsError,
    UnsupportedOperationException,
    ValidationException,
    XksProxyIncorrectAuthenticationCredentialException,
    XksProxyInvalidConfigurationException,
    XksProxyInvalidResponseException,
    XksProxyUriInUseException,
    XksProxyUriUnreachableException,
)
from trent.kms.keystores import ConnectionErrorCode, CustomKeyStore, XksConfig, XksProxyConnectivity
from trent.kms.operations import Operation
from trent.kms.sensitive import Sensitive
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.rootoftrust.base import UnwrapError, WrappedMaterial, xks_credential_aad
from trent.store.base import Reader
from trent.xksclient.hosts import is_loopback
from trent.xksclient.port import FailureKind, ProxyFailure, ProxyTarget

_F = FailureKind
_C = ConnectionErrorCode
VPC_UNSUPPORTED = (
    "Trent supports only XksProxyConnectivity PUBLIC_ENDPOINT: VPC_ENDPOINT_SERVICE connectivity needs an "
    "Amazon VPC endpoint service."
)
XKS_NEEDS = (
    "A custom key store of type EXTERNAL_KEY_STORE requires XksProxyConnectivity, XksProxyUriEndpoint, "
    "XksProxyUriPath and XksProxyAuthenticationCredential."
)
CLOUDHSM_ONLY = "CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword are valid only for AWS_CLOUDHSM."
# A failed GetHealthStatus on Connect: the store is FAILED with this code (ConnectionErrorCodeType).
CONNECTION_CODES: Mapping[FailureKind, ConnectionErrorCode] = {
    _F.NOT_REACHABLE: _C.XKS_PROXY_NOT_REACHABLE,
    _F.TIMED_OUT: _C.XKS_PROXY_TIMED_OUT,
    _F.INVALID_TLS: _C.XKS_PROXY_INVALID_TLS_CONFIGURATION,
    _F.ACCESS_DENIED: _C.XKS_PROXY_ACCESS_DENIED,
    _F.KEY_STATE: _C.XKS_PROXY_ACCESS_DENIED,  # the proxy's key store is disabled: it refuses every request
    _F.INVALID_RESPONSE: _C.XKS_PROXY_INVALID_RESPONSE,
    _F.INVALID_CONFIGURATION: _C.XKS_PROXY_INVALID_CONFIGURATION,
}
# A failed GetHealthStatus on Create and Update: the exception (CreateCustomKeyStore's and UpdateCustomKeyStore's
# errors: "KMS was unable to reach the specified XksProxyUriPath", "the proxy credentials failed to
# authenticate", "KMS cannot interpret the response", "the external key store proxy is not configured correctly").
MANAGEMENT_ERRORS: Mapping[FailureKind, type[KmsError]] = {
    _F.NOT_REACHABLE: XksProxyUriUnreachableException,
    _F.TIMED_OUT: XksProxyUriUnreachableException,
    _F.INVALID_TLS: XksProxyInvalidConfigurationException,
    _F.ACCESS_DENIED: XksProxyIncorrectAuthenticationCredentialException,
    _F.KEY_STATE: XksProxyIncorrectAuthenticationCredentialException,
    _F.INVALID_RESPONSE: XksProxyInvalidResponseException,
    _F.INVALID_CONFIGURATION: XksProxyInvalidConfigurationException,
}
_SECRETS: dict[bytes, Sensitive] = {}  # unwrapped secrets by their wrapped bytes (which never change)


def request_metadata(ctx: RequestContext, operation: str, key_arn: str | None = None) -> dict[str, str]:
    """The specification's requestMetadata: awsPrincipalArn, kmsOperation, kmsRequestId, kmsKeyArn (when a key
    is named); kmsViaService is absent (no AWS service calls Trent on a caller's behalf)."""
    out = {"awsPrincipalArn": ctx.principal.arn, "kmsOperation": operation, "kmsRequestId": ctx.request_id}
    if key_arn is not None:
        out["kmsKeyArn"] = key_arn
    return out


def config_of(store: CustomKeyStore) -> XksConfig:
    assert isinstance(store.config, XksConfig), "not an external key store"
    return store.config


def target(deps: Deps, store: CustomKeyStore, config: XksConfig | None = None) -> ProxyTarget:
    config = config or config_of(store)
    secret = _SECRETS.get(config.wrapped_secret)
    if secret is None:
        aad = xks_credential_aad(store.custom_key_store_id, config.access_key_id)
        try:
            secret = deps.root_of_trust.unwrap(WrappedMaterial.from_bytes(config.wrapped_secret), aad)
        except UnwrapError as exc:
            raise ProxyFailure(_F.INVALID_CONFIGURATION, "the stored credential does not unwrap") from exc
        if len(_SECRETS) > 1_000:
            _SECRETS.clear()
        _SECRETS[config.wrapped_secret] = secret
    return ProxyTarget(config.url, config.access_key_id, secret, store.region)


def _credential(value: Any) -> tuple[str, str]:
    if not isinstance(value, Mapping):
        raise ValidationException("XksProxyAuthenticationCredential requires AccessKeyId and RawSecretAccessKey.")
    access_key_id, secret = value.get("access_key_id"), value.get("raw_secret_access_key")
    if not isinstance(access_key_id, str) or not isinstance(secret, str):
        raise ValidationException("XksProxyAuthenticationCredential requires AccessKeyId and RawSecretAccessKey.")
    return access_key_id, secret  # their lengths and characters: the model's (validated before ops)


def _endpoint(endpoint: str) -> str:
    """https:// as AWS requires; plain http:// only to a loopback address (docs/decisions/0016)."""
    scheme, _, rest = endpoint.partition("://")
    host = rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest
    if scheme == "https" or (scheme == "http" and is_loopback(host)):
        return endpoint
    raise ValidationException("XksProxyUriEndpoint must begin with https:// (http:// only to a loopback address).")


def _connectivity(value: str | None) -> XksProxyConnectivity:
    if value == XksProxyConnectivity.VPC_ENDPOINT_SERVICE:
        raise UnsupportedOperationException(VPC_UNSUPPORTED)
    return XksProxyConnectivity.PUBLIC_ENDPOINT


def wrap_secret(deps: Deps, store_id: str, access_key_id: str, secret: str) -> bytes:
    aad = xks_credential_aad(store_id, access_key_id)
    return deps.root_of_trust.wrap(Sensitive(secret.encode()), aad).to_bytes()


@dataclass(frozen=True)
class ProxySettings:
    """The XksProxy* parameters of CreateCustomKeyStore and UpdateCustomKeyStore, as given (None: absent)."""

    connectivity: str | None = None
    endpoint: str | None = None
    path: str | None = None
    credential: Any = None
    vpc_service_name: str | None = None
    vpc_service_owner: str | None = None

    def given(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))


def _no_cloudhsm_or_vpc(proxy: ProxySettings, cloudhsm: tuple[object, ...]) -> None:
    if any(p is not None for p in cloudhsm):
        raise ValidationException(CLOUDHSM_ONLY)
    if (proxy.vpc_service_name or proxy.vpc_service_owner) is not None:
        raise ValidationException("XksProxyVpcEndpointServiceName is valid only for VPC_ENDPOINT_SERVICE.")


def new_config(deps: Deps, store_id: str, proxy: ProxySettings, cloudhsm: tuple[object, ...]) -> XksConfig:
    if any(p is not None for p in cloudhsm):
        raise ValidationException(CLOUDHSM_ONLY)
    connectivity, endpoint, path, credential = proxy.connectivity, proxy.endpoint, proxy.path, proxy.credential
    if connectivity is None or endpoint is None or path is None or credential is None:
        raise ValidationException(XKS_NEEDS)
    _connectivity(connectivity)
    _no_cloudhsm_or_vpc(proxy, ())
    access_key_id, secret = _credential(credential)
    return XksConfig(_endpoint(endpoint), path, access_key_id, wrap_secret(deps, store_id, access_key_id, secret))


def updated_config(deps: Deps, store: CustomKeyStore, proxy: ProxySettings, cloudhsm: tuple[object, ...]) -> XksConfig:
    """The store's config with the changes; the endpoint and connectivity need it DISCONNECTED (Developer Guide,
    "Edit external key store properties": name, credential and URI path in any connection state)."""
    _no_cloudhsm_or_vpc(proxy, cloudhsm)
    config = config_of(store)
    if proxy.connectivity is not None:
        _connectivity(proxy.connectivity)
    if proxy.endpoint is not None:
        config = XksConfig(_endpoint(proxy.endpoint), config.uri_path, config.access_key_id, config.wrapped_secret)
    if proxy.path is not None:
        config = XksConfig(config.uri_endpoint, proxy.path, config.access_key_id, config.wrapped_secret)
    if proxy.credential is not None:
        access_key_id, secret = _credential(proxy.credential)
        wrapped = wrap_secret(deps, store.custom_key_store_id, access_key_id, secret)
        config = XksConfig(config.uri_endpoint, config.uri_path, access_key_id, wrapped)
    return config


def needs_disconnected(store: CustomKeyStore, config: XksConfig, connectivity: str | None) -> bool:
    old = config_of(store)
    return config.uri_endpoint != old.uri_endpoint or (connectivity is not None and connectivity != old.connectivity)


def require_unique(reader: Reader, store: CustomKeyStore) -> None:
    """ "The combination of the proxy URI endpoint and the proxy URI path must be unique in the AWS account and
    Region" (XksProxyUriInUseException)."""
    config = config_of(store)
    for other in reader.list_custom_key_stores(store.account, store.region):
        same = isinstance(other.config, XksConfig) and other.config.url == config.url
        if same and other.custom_key_store_id != store.custom_key_store_id:
            raise XksProxyUriInUseException(
                f"The XksProxyUriEndpoint and XksProxyUriPath {config.url} are already used by custom key store "
                f"{other.custom_key_store_id}."
            )


def check_health(deps: Deps, ctx: RequestContext, store: CustomKeyStore, operation: Operation) -> None:
    """GetHealthStatus with the store's (new) settings; the management exception if it fails."""
    try:
        deps.xks_proxy.health(target(deps, store), request_metadata(ctx, operation))
    except ProxyFailure as failure:
        error = MANAGEMENT_ERRORS.get(failure.kind, XksProxyInvalidResponseException)
        raise error(f"The external key store proxy check failed: {failure.detail}.") from None


def connection_error(deps: Deps, ctx: RequestContext, store: CustomKeyStore) -> ConnectionErrorCode | None:
    try:
        deps.xks_proxy.health(target(deps, store), request_metadata(ctx, Operation.ConnectCustomKeyStore))
    except ProxyFailure as failure:
        return CONNECTION_CODES.get(failure.kind, _C.XKS_PROXY_INVALID_RESPONSE)
    return None
