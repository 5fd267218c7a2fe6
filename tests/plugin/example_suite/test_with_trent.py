"""A user's test suite with Trent's pytest plugin and no other set-up: no conftest, no fixture of its own."""

import base64


def test_create_and_use_a_key(kms_client):
    key_id = kms_client.create_key(Description="made by a test")["KeyMetadata"]["KeyId"]
    blob = kms_client.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert kms_client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    assert base64.b64encode(blob)


def test_each_test_starts_from_an_empty_server(kms_client):
    assert kms_client.list_keys()["Keys"] == []  # the key of the test before is gone


def test_the_options_choose_account_and_region(kms_client, trent_server):
    arn = kms_client.create_key()["KeyMetadata"]["Arn"]
    assert arn.startswith(f"arn:aws:kms:{trent_server.region}:{trent_server.account}:key/")


def test_the_endpoint_is_the_sessions_one(kms_endpoint, trent_server):
    assert kms_endpoint == trent_server.endpoint and kms_endpoint.startswith("http://127.0.0.1:")


def test_the_clock_can_be_moved(kms_client, trent_server):
    key_id = kms_client.create_key()["KeyMetadata"]["KeyId"]
    kms_client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    trent_server.advance_clock(7 * 86400 + 60)
    assert kms_client.list_keys()["Keys"] == []
