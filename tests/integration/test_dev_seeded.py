"""A dev server started with a seed file (`trent serve --dev --seed`): the seed is its start state, made at
start and again by every reset, in every worker; the pytest plugin's --trent-seed passes it through."""

from __future__ import annotations

import base64
import os
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.plugin.test_plugin import EXAMPLE, run_suite
from tests.support import TrentServer, dev_call, error_of

pytestmark = pytest.mark.integration
WITH_MATERIAL = "11111111-2222-3333-4444-555555555555"
WITHOUT_MATERIAL = "22222222-3333-4444-5555-666666666666"
MATERIAL = base64.b64encode(os.urandom(32)).decode()


def write_seed(directory: Path) -> Path:
    path = directory / "seed.toml"
    path.write_text(
        textwrap.dedent(
            f"""\
            [[keys]]
            key_id = "{WITH_MATERIAL}"
            description = "seeded"
            aliases = ["alias/seeded"]
            material = "{MATERIAL}"

            [[keys]]
            key_id = "{WITHOUT_MATERIAL}"
            description = "fresh material at each reset"
            """
        )
    )
    return path


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    seed = write_seed(tmp_path_factory.mktemp("seed"))
    with TrentServer(None, args=("--dev", "--seed", str(seed)), admin_from_env=False) as running:
        yield running


def reset(server: TrentServer) -> None:
    assert dev_call(server.endpoint, "POST", "/_trent/reset")[0] == 200


def clients(server: TrentServer, n: int = 8) -> list[Any]:
    """New clients, so new connections, which the kernel spreads over both workers."""
    return [server.client(access_key="test", secret="test") for _ in range(n)]


def test_a_reset_brings_the_seed_back_and_nothing_else(seeded: TrentServer) -> None:
    kms = seeded.client(access_key="test", secret="test")
    kms.create_key(Description="made by a test")
    kms.update_key_description(KeyId=WITH_MATERIAL, Description="changed by a test")
    kms.delete_alias(AliasName="alias/seeded")
    reset(seeded)
    for client in clients(seeded):
        keys = sorted(k["KeyId"] for k in client.list_keys()["Keys"])
        assert keys == [WITH_MATERIAL, WITHOUT_MATERIAL]
        assert client.describe_key(KeyId="alias/seeded")["KeyMetadata"]["Description"] == "seeded"


def test_a_seeded_keys_ciphertexts_survive_a_reset(seeded: TrentServer) -> None:
    blob = seeded.client(access_key="test", secret="test").encrypt(KeyId=WITH_MATERIAL, Plaintext=b"kept")
    reset(seeded)
    for client in clients(seeded):
        assert client.decrypt(CiphertextBlob=blob["CiphertextBlob"])["Plaintext"] == b"kept"


def test_a_key_seeded_without_material_gets_new_material_in_every_worker(seeded: TrentServer) -> None:
    """Every worker has cached the old material under the same key id and version: a reset must drop it."""
    before = []
    for client in clients(seeded):
        before.append(client.encrypt(KeyId=WITHOUT_MATERIAL, Plaintext=b"old")["CiphertextBlob"])
        for blob in before:
            assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"old"
    reset(seeded)
    fresh = clients(seeded)
    new_blobs = [client.encrypt(KeyId=WITHOUT_MATERIAL, Plaintext=b"new")["CiphertextBlob"] for client in fresh]
    for client in fresh:
        for blob in new_blobs:  # made by either worker: one material in both
            assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"new"
        with pytest.raises(ClientError) as exc:
            client.decrypt(CiphertextBlob=before[0])
        assert error_of(exc)[0] == "InvalidCiphertextException"


def test_the_plugin_passes_its_seed_option_through(tmp_path: Path) -> None:
    seed = write_seed(tmp_path)
    shutil.copytree(EXAMPLE, tmp_path / "suite")
    (tmp_path / "suite" / "pytest.ini").write_text(f"[pytest]\ntrent_seed = {seed.name}\n")
    shutil.copy(seed, tmp_path / "suite" / seed.name)
    (tmp_path / "suite" / "test_with_seed.py").write_text(
        "def test_seeded(kms_client):\n"
        f"    assert kms_client.describe_key(KeyId='alias/seeded')['KeyMetadata']['KeyId'] == {WITH_MATERIAL!r}\n"
        "    kms_client.delete_alias(AliasName='alias/seeded')\n"
        "\n"
        "def test_seeded_again(kms_client):\n"
        f"    assert kms_client.describe_key(KeyId='alias/seeded')['KeyMetadata']['KeyId'] == {WITH_MATERIAL!r}\n"
    )
    done = run_suite(tmp_path / "suite", "-k", "seeded")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout, done.stdout
