"""The quota table (kms/quotas.py) against AWS's "Request quotas" page, and each operation's quota rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from trent.kms.operations import OPERATION_FACTS, Operation
from trent.kms.quotas import KEY_TYPE_QUOTAS, QUOTAS, QuotaBy, key_pair_quota, quota_named
from trent.kms.specs import KEY_SPECS, DataKeyPairSpec, Family

# The cryptographic operations of the page's shared quotas ("Applies to: ...") and the two that share the
# per-spec GenerateDataKeyPair quotas; every other operation has a quota of its own name.
BY_KEY_TYPE = {
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "ReEncrypt",
    "Sign",
    "Verify",
    "DeriveSharedSecret",
    "Encapsulate",
    "Decapsulate",
}
BY_KEY_PAIR_SPEC = {"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}


def test_every_operation_draws_from_a_quota_of_the_table() -> None:
    for operation, facts in OPERATION_FACTS.items():
        if operation.value in BY_KEY_TYPE:
            assert facts.quota is QuotaBy.KEY_TYPE, operation
        elif operation.value in BY_KEY_PAIR_SPEC:
            assert facts.quota is QuotaBy.KEY_PAIR_SPEC, operation
        elif operation is Operation.GenerateRandom:
            assert facts.quota == "symmetric"  # listed under "Cryptographic operations (symmetric)"
        else:
            assert facts.quota == operation.value and facts.quota in QUOTAS, operation


def test_every_quota_of_the_table_is_drawn_from() -> None:
    drawn = {facts.quota for facts in OPERATION_FACTS.values()} | set(KEY_TYPE_QUOTAS.values())
    drawn |= {key_pair_quota(spec) for spec in DataKeyPairSpec}
    assert set(QUOTAS) <= drawn


def test_every_key_type_has_its_quota() -> None:
    assert set(KEY_TYPE_QUOTAS) == set(Family)
    families = {info.family for info in KEY_SPECS.values()}
    assert families <= set(KEY_TYPE_QUOTAS)
    assert KEY_TYPE_QUOTAS[Family.HMAC] == "symmetric"  # "... symmetric encryption keys and HMAC keys"
    assert KEY_TYPE_QUOTAS[Family.ML_KEM] is None  # the page lists no quota for ML-KEM keys


def test_every_data_key_pair_spec_but_ml_kem_has_its_quota() -> None:
    for spec in DataKeyPairSpec:
        assert (key_pair_quota(spec) in QUOTAS) is (not spec.startswith("ML_KEM")), spec


@pytest.mark.parametrize(
    ("name", "region", "rps"),
    [
        ("symmetric", "eu-west-3", 10_000),
        ("symmetric", "eu-west-2", 20_000),
        ("symmetric", "us-east-1", 100_000),
        ("rsa", "us-east-1", 1_000),
        ("ecc", "us-east-1", 1_000),
        ("ml-dsa", "us-east-1", 1_000),
        ("DescribeKey", "us-east-1", 2_000),
        ("CreateKey", "us-east-1", 5),
        ("CreateGrant", "us-east-1", 50),
        ("ListKeys", "us-east-1", 500),
        ("GetParametersForImport", "us-east-1", 1),
        ("GenerateDataKeyPair:RSA_2048", "us-east-1", 20),
        ("GenerateDataKeyPair:RSA_4096", "us-east-1", 1),
        ("GenerateDataKeyPair:RSA_4096", "cn-north-1", 0.1),
        ("GenerateDataKeyPair:ECC_NIST_P256", "eu-west-1", 100),
    ],
)
def test_defaults_are_awss(name: str, region: str, rps: float) -> None:
    assert QUOTAS[name].rate_in(region) == rps


def test_names_are_found_in_any_letter_case() -> None:
    assert quota_named("describekey") is QUOTAS["DescribeKey"]
    assert quota_named(" ML-DSA ") is QUOTAS["ml-dsa"]
    assert quota_named("generatedatakeypair:rsa_2048") is QUOTAS["GenerateDataKeyPair:RSA_2048"]
    with pytest.raises(KeyError):
        quota_named("Encrypt")  # a cryptographic operation draws from its key type's quota, not its own
    assert QUOTAS["CreateKey"].aws_name == "CreateKey request rate"


def _shown(rps: float) -> str:
    return f"{rps:,.0f}" if rps == int(rps) else f"{rps:g}"


def test_docs_list_every_quota_with_its_default() -> None:
    page = (Path(__file__).parents[3] / "docs" / "throttling.md").read_text()
    for quota in QUOTAS.values():
        assert f"| `{quota.name}` | {quota.aws_name} | {_shown(quota.rps)}" in page, quota.name
        for region, rps in quota.regions.items():
            assert region in page and _shown(rps) in page, (quota.name, region)
