"""Custom key stores on PostgreSQL with two `trent serve` nodes: a store created and connected on one node, its
key used on the other, and a Disconnect on one node obeyed by the other from its next request."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.keystores import add_cluster, trust_anchor
from tests.postgres import url_of
from tests.softhsm import Token
from tests.support import TrentServer, error_of

pytestmark = pytest.mark.integration


def test_two_nodes_share_custom_key_stores_and_their_connection_state(
    postgres_url: str, tmp_path: Path, softhsm_token: Token
) -> None:
    shared = {
        "TRENT_DATABASE_URL": url_of(postgres_url),
        "TRENT_ROOT_KEY_FILE": str(tmp_path / "keys" / "root.key"),
        **softhsm_token.env(),
    }
    cert = trust_anchor(tmp_path / "ca.crt")
    with (
        TrentServer(tmp_path / "a", workers=1, env=shared) as a,
        TrentServer(tmp_path / "b", workers=1, env=shared) as b,
    ):
        add_cluster(tmp_path / "a", softhsm_token, "cluster-pgpgpgpgpgp", cert, env=shared)
        one, two = a.client(), b.client()
        store_id = one.create_custom_key_store(
            CustomKeyStoreName="shared",
            CloudHsmClusterId="cluster-pgpgpgpgpgp",
            TrustAnchorCertificate=cert.read_text(),
            KeyStorePassword=softhsm_token.pin,
        )["CustomKeyStoreId"]
        assert two.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]["ConnectionState"] == (
            "DISCONNECTED"
        )
        one.connect_custom_key_store(CustomKeyStoreId=store_id)
        key = two.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"]
        assert key["CloudHsmClusterId"] == "cluster-pgpgpgpgpgp"
        blob = one.encrypt(KeyId=key["KeyId"], Plaintext=b"across nodes")["CiphertextBlob"]
        assert two.decrypt(CiphertextBlob=blob)["Plaintext"] == b"across nodes"
        one.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        with pytest.raises(ClientError) as excinfo:
            two.decrypt(CiphertextBlob=blob)
        assert error_of(excinfo) == ("KMSInvalidStateException", f"{key['Arn']} is unavailable.")
        assert two.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Unavailable"
        one.connect_custom_key_store(CustomKeyStoreId=store_id)
        assert two.decrypt(CiphertextBlob=blob)["Plaintext"] == b"across nodes"
