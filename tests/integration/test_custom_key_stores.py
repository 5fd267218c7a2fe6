"""Custom key stores of type AWS_CLOUDHSM over the KMS API, with boto3 against a real `trent serve` (2 workers)
whose clusters are SoftHSM2 tokens: CreateCustomKeyStore, Connect, Disconnect, Describe, Update, Delete, with
AWS's errors and connection state rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.keystores import REGIONS, Clusters, add_cluster, admin, cluster_id, fails
from tests.softhsm import Token

pytestmark = pytest.mark.integration
# Each test in a Region of its own: AWS allows 10 custom key stores per account and Region.
_REGIONS = iter(REGIONS)


@pytest.fixture
def kms(clusters: Clusters) -> Any:
    return clusters.server.client(region=next(_REGIONS))


def _create(kms: Any, clusters: Clusters, name: str | None = None) -> tuple[str, str, Token]:
    return clusters.create_store(kms, name)


def _describe(kms: Any, store_id: str) -> dict[str, Any]:
    (entry,) = kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"]
    return dict(entry)


def test_a_store_is_created_disconnected_and_described_with_every_field(clusters: Clusters, kms: Any) -> None:
    store_id, cluster, _ = _create(kms, clusters, "described")
    assert store_id.startswith("cks-") and len(store_id) == 21
    entry = _describe(kms, store_id)
    created = entry.pop("CreationDate")
    assert created.year >= 2026
    assert entry == {
        "CustomKeyStoreId": store_id,
        "CustomKeyStoreName": "described",
        "CustomKeyStoreType": "AWS_CLOUDHSM",
        "CloudHsmClusterId": cluster,
        "TrustAnchorCertificate": clusters.certificate.read_text(),
        "ConnectionState": "DISCONNECTED",
    }
    (by_name,) = kms.describe_custom_key_stores(CustomKeyStoreName="described")["CustomKeyStores"]
    assert by_name["CustomKeyStoreId"] == store_id


def test_create_refuses_what_aws_refuses(clusters: Clusters, kms: Any) -> None:
    store_id, cluster, token = _create(kms, clusters, "taken name")
    cert = clusters.certificate.read_text()
    create = kms.create_custom_key_store
    free, free_token = clusters.new()
    fails(
        create,
        "CustomKeyStoreNameInUseException",
        CustomKeyStoreName="taken name",
        CloudHsmClusterId=free,
        TrustAnchorCertificate=cert,
        KeyStorePassword=free_token.pin,
    )
    fails(
        create,
        "CloudHsmClusterInUseException",
        CustomKeyStoreName="second on it",
        CloudHsmClusterId=cluster,
        TrustAnchorCertificate=cert,
        KeyStorePassword=token.pin,
    )
    fails(
        create,
        "CloudHsmClusterNotFoundException",
        CustomKeyStoreName="nowhere",
        CloudHsmClusterId="cluster-zzzzzzzzzzz",
        TrustAnchorCertificate=cert,
        KeyStorePassword=token.pin,
    )
    fails(
        create,
        "IncorrectTrustAnchorException",
        CustomKeyStoreName="wrong anchor",
        CloudHsmClusterId=free,
        TrustAnchorCertificate=clusters.other_certificate.read_text(),
        KeyStorePassword=free_token.pin,
    )
    fails(
        create,
        "IncorrectTrustAnchorException",
        CustomKeyStoreName="no anchor",
        CloudHsmClusterId=free,
        TrustAnchorCertificate="not a certificate",
        KeyStorePassword=free_token.pin,
    )
    fails(
        create,
        "ValidationException",
        CustomKeyStoreName="no password",
        CloudHsmClusterId=free,
        TrustAnchorCertificate=cert,
    )
    fails(
        create,
        "UnsupportedOperationException",
        CustomKeyStoreName="external",
        CustomKeyStoreType="EXTERNAL_KEY_STORE",
        XksProxyUriEndpoint="https://proxy.example",
        XksProxyUriPath="/kms/xks/v1",
        XksProxyConnectivity="VPC_ENDPOINT_SERVICE",
        XksProxyAuthenticationCredential={"AccessKeyId": "A" * 20, "RawSecretAccessKey": "s" * 43},
    )
    # The anchor's PEM text may differ (line breaks, surrounding space) as long as it is the same certificate.
    again = kms.create_custom_key_store(
        CustomKeyStoreName="same anchor",
        CloudHsmClusterId=free,
        TrustAnchorCertificate="\n" + cert + "\n\n",
        KeyStorePassword=free_token.pin,
    )
    assert again["CustomKeyStoreId"] != store_id


def test_connect_and_disconnect_follow_the_connection_states(clusters: Clusters, kms: Any) -> None:
    store_id, _, _ = _create(kms, clusters)
    fails(kms.disconnect_custom_key_store, "CustomKeyStoreInvalidStateException", CustomKeyStoreId=store_id)
    assert kms.connect_custom_key_store(CustomKeyStoreId=store_id)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert _describe(kms, store_id)["ConnectionState"] == "CONNECTED"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)  # valid in every state but DISCONNECTING and FAILED
    assert _describe(kms, store_id)["ConnectionState"] == "CONNECTED"
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert _describe(kms, store_id)["ConnectionState"] == "DISCONNECTED"
    fails(kms.disconnect_custom_key_store, "CustomKeyStoreInvalidStateException", CustomKeyStoreId=store_id)
    for call in (kms.connect_custom_key_store, kms.disconnect_custom_key_store, kms.delete_custom_key_store):
        fails(call, "CustomKeyStoreNotFoundException", CustomKeyStoreId="cks-0123456789abcdef0")


def test_a_wrong_password_fails_the_connection_until_it_is_updated(clusters: Clusters, kms: Any) -> None:
    cluster, token = clusters.new()
    store_id = kms.create_custom_key_store(
        CustomKeyStoreName=f"wrong password {cluster}",
        CloudHsmClusterId=cluster,
        TrustAnchorCertificate=clusters.certificate.read_text(),
        KeyStorePassword="not-the-pin-123",
    )["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    entry = _describe(kms, store_id)
    assert (entry["ConnectionState"], entry["ConnectionErrorCode"]) == ("FAILED", "INVALID_CREDENTIALS")
    # "To reconnect a custom key store in a FAILED state, disconnect it, then connect it."
    fails(kms.connect_custom_key_store, "CustomKeyStoreInvalidStateException", CustomKeyStoreId=store_id)
    fails(
        kms.update_custom_key_store,
        "CustomKeyStoreInvalidStateException",
        CustomKeyStoreId=store_id,
        KeyStorePassword=token.pin,
    )
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert "ConnectionErrorCode" not in _describe(kms, store_id)
    kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword=token.pin)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert _describe(kms, store_id)["ConnectionState"] == "CONNECTED"


def test_a_removed_cluster_fails_the_connection_with_cluster_not_found(clusters: Clusters, kms: Any) -> None:
    store_id, cluster, _ = _create(kms, clusters)
    done = admin(clusters.data, "remove-hsm-cluster", "--cluster-id", cluster)
    assert done.returncode == 0 and store_id in done.stderr, done.stderr
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    entry = _describe(kms, store_id)
    assert (entry["ConnectionState"], entry["ConnectionErrorCode"]) == ("FAILED", "CLUSTER_NOT_FOUND")


def test_update_renames_rehomes_and_changes_the_password_only_while_disconnected(clusters: Clusters, kms: Any) -> None:
    store_id, cluster, token = _create(kms, clusters, "before")
    _create(kms, clusters, "someone else's")
    update = kms.update_custom_key_store
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    fails(update, "CustomKeyStoreInvalidStateException", CustomKeyStoreId=store_id, NewCustomKeyStoreName="after")
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    fails(update, "CustomKeyStoreNameInUseException", CustomKeyStoreId=store_id, NewCustomKeyStoreName="someone else's")
    fails(
        update, "CloudHsmClusterNotFoundException", CustomKeyStoreId=store_id, CloudHsmClusterId="cluster-zzzzzzzzzzz"
    )
    unrelated, _ = clusters.new(clusters.other_certificate)
    fails(update, "CloudHsmClusterNotRelatedException", CustomKeyStoreId=store_id, CloudHsmClusterId=unrelated)
    fails(
        update, "CustomKeyStoreNotFoundException", CustomKeyStoreId="cks-0123456789abcdef0", NewCustomKeyStoreName="x"
    )
    # A related cluster (same trust anchor: a backup of the same token, in Trent's terms) takes over.
    related = cluster_id()
    add_cluster(clusters.data, token, related, clusters.certificate)
    update(CustomKeyStoreId=store_id, NewCustomKeyStoreName="after", CloudHsmClusterId=related)
    entry = _describe(kms, store_id)
    assert (entry["CustomKeyStoreName"], entry["CloudHsmClusterId"]) == ("after", related)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert _describe(kms, store_id)["ConnectionState"] == "CONNECTED"


def test_delete_needs_a_disconnected_store(clusters: Clusters, kms: Any) -> None:
    store_id, _, _ = _create(kms, clusters)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    fails(kms.delete_custom_key_store, "CustomKeyStoreInvalidStateException", CustomKeyStoreId=store_id)
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    fails(kms.describe_custom_key_stores, "CustomKeyStoreNotFoundException", CustomKeyStoreId=store_id)


def test_describe_filters_and_pages(clusters: Clusters, kms: Any) -> None:
    made = {_create(kms, clusters)[0] for _ in range(3)}
    seen: list[str] = []
    marker: dict[str, str] = {}
    while True:
        page = kms.describe_custom_key_stores(Limit=1, **marker)
        seen += [s["CustomKeyStoreId"] for s in page["CustomKeyStores"]]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = {"Marker": page["NextMarker"]}
    assert made <= set(seen) and len(seen) == len(set(seen)) == len(kms.describe_custom_key_stores()["CustomKeyStores"])
    assert seen == sorted(seen)
    fails(kms.describe_custom_key_stores, "InvalidMarkerException", Marker="not a marker")
    fails(kms.describe_custom_key_stores, "CustomKeyStoreNotFoundException", CustomKeyStoreName="no such store")
    fails(kms.describe_custom_key_stores, "ValidationException", CustomKeyStoreId=seen[0], CustomKeyStoreName="both")
    # Another region of the same account sees none of them ("Cross-account use: No"; stores live in a Region).
    assert clusters.server.client(region="sa-east-1").describe_custom_key_stores()["CustomKeyStores"] == []
