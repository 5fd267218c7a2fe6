"""An external key store whose proxy speaks HTTPS, as AWS requires: a proxy `trent serve` with a certificate of
a private CA; the user `trent serve` trusts it with --xks-ca (TRENT_XKS_CA), and without it the TLS check of
CreateCustomKeyStore fails (XksProxyInvalidConfigurationException) and keys cannot be made."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.test_xks_mtls import Authority
from tests.integration.test_xks_proxy import admin
from tests.integration.xks_client import data_dir_of
from tests.support import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, TrentServer, error_of

pytestmark = pytest.mark.integration
XKS_ID = "EXTSTORETLSKEYAAAAAA"
XKS_SECRET = base64.b64encode(b"t" * 32).decode()
PATH = "/tls/kms/xks/v1"


@dataclass
class Setup:
    proxy: TrentServer
    trusting: TrentServer
    untrusting: TrentServer
    ca: Path

    def create(self, kms: Any, name: str) -> str:
        return str(
            kms.create_custom_key_store(
                CustomKeyStoreName=name,
                CustomKeyStoreType="EXTERNAL_KEY_STORE",
                XksProxyConnectivity="PUBLIC_ENDPOINT",
                XksProxyUriEndpoint=self.proxy.endpoint,
                XksProxyUriPath=PATH,
                XksProxyAuthenticationCredential={"AccessKeyId": XKS_ID, "RawSecretAccessKey": XKS_SECRET},
            )["CustomKeyStoreId"]
        )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("tls")
    ca = Authority(directory, "trent-proxy-ca")
    tls = ca.issue("proxy", "localhost", server=True)
    env = {"TRENT_TLS_CERT": str(tls.cert), "TRENT_TLS_KEY": str(tls.key)}
    with TrentServer(directory / "proxy", env=env, workers=1) as proxy:
        assert proxy.endpoint.startswith("https://")
        proxy.endpoint = proxy.endpoint.replace("127.0.0.1", "localhost")  # the certificate's name
        trusting = TrentServer(directory / "trusting", env={"TRENT_XKS_CA": str(ca.issued.cert)}, workers=1)
        with trusting, TrentServer(directory / "untrusting", workers=1) as untrusting:
            yield Setup(proxy, trusting, untrusting, ca.issued.cert)


def test_a_proxy_of_a_trusted_ca_serves_keys(setup: Setup) -> None:
    proxy_kms = boto3.client(
        "kms", endpoint_url=setup.proxy.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY, verify=str(setup.ca),
    )  # fmt: skip
    external_key = proxy_kms.create_key()["KeyMetadata"]["KeyId"]
    data_dir = data_dir_of(setup.proxy)
    admin(data_dir, "create-keystore", "--uri-prefix", "tls", "--access-key-id", XKS_ID, "--secret-access-key",
          XKS_SECRET)  # fmt: skip
    admin(data_dir, "expose", "--uri-prefix", "tls", "--key-id", external_key)
    with pytest.raises(ClientError) as caught:
        setup.create(setup.untrusting.client(), "untrusted")  # the system's trust store knows no such CA
    assert error_of(caught)[0] == "XksProxyInvalidConfigurationException"
    kms = setup.trusting.client()
    store_id = setup.create(kms, "trusted")
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]["ConnectionState"] == (
        "CONNECTED"
    )
    key = kms.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id, XksKeyId=external_key)
    key_id = key["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"over https")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over https"
