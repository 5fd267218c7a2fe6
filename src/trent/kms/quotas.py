"""AWS KMS's default request quotas, as one table: QUOTAS, one row per quota, under the name `--quota` knows it by.

Source: AWS KMS Developer Guide, "Request quotas" (https://docs.aws.amazon.com/kms/latest/developerguide/
requests-per-second.html), its table "Request quotas for each AWS KMS API operation". "Each quota applies to all
requests for these operations in the AWS account and Region ... in each one-second interval"; "For
cross-account requests, AWS KMS throttles the account that makes the requests, not the account that owns the
KMS key." Which quota a request draws from is a fact of its operation (OPERATION_FACTS' `quota`): its own
(the per-API quotas, named after the operation), a shared one, or one chosen by the request's key type
(QuotaBy.KEY_TYPE, the cryptographic operations) or data key pair spec (QuotaBy.KEY_PAIR_SPEC). Stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from trent.kms.specs import Family


class QuotaBy(StrEnum):
    """How a request finds its quota when its operation has no single one."""

    KEY_TYPE = "key type"  # the type of the KMS key it uses: KEY_TYPE_QUOTAS
    KEY_PAIR_SPEC = "key pair spec"  # the data key pair it asks for: "GenerateDataKeyPair:<KeyPairSpec>"


_NO_REGIONS: Mapping[str, float] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Quota:
    """One AWS quota: `rps` requests per second in every Region but those `regions` gives another value."""

    name: str  # what --quota NAME=RPS calls it
    aws_name: str  # its name in AWS's table and in Service Quotas
    rps: float
    regions: Mapping[str, float] = field(default_factory=lambda: _NO_REGIONS)

    def rate_in(self, region: str) -> float:
        return self.regions.get(region, self.rps)


def _in(value: float, *regions: str) -> Mapping[str, float]:
    return MappingProxyType(dict.fromkeys(regions, value))


# "10,000 (shared); 20,000 (shared) in the following Regions: ...; 100,000 (shared) in the following Regions: ..."
_SYMMETRIC_REGIONS: Mapping[str, float] = MappingProxyType(
    {
        **_in(20_000, "us-east-2", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "eu-central-1", "eu-west-2"),
        **_in(100_000, "us-east-1", "us-west-2", "eu-west-1"),
    }
)
_CHINA = ("cn-north-1", "cn-northwest-1")

_SHARED: tuple[Quota, ...] = (
    # "This quota applies to cryptographic operations with symmetric encryption keys and HMAC keys, which are
    # also symmetric." It also lists GenerateRandom, which uses no key.
    Quota("symmetric", "Cryptographic operations (symmetric) request rate", 10_000, _SYMMETRIC_REGIONS),
    Quota("rsa", "Cryptographic operations (RSA) request rate", 1_000),
    Quota("ecc", "Cryptographic operations (ECC and SM2) request rate", 1_000),
    Quota("ml-dsa", "Cryptographic operations (ML-DSA) request rate", 1_000),
)

# "GenerateDataKeyPair (<spec>) request rate", shared by GenerateDataKeyPair and ...WithoutPlaintext.
_KEY_PAIRS: tuple[tuple[str, float, Mapping[str, float]], ...] = (
    ("ECC_NIST_P256", 100, _NO_REGIONS),
    ("ECC_NIST_P384", 100, _NO_REGIONS),
    ("ECC_NIST_P521", 100, _NO_REGIONS),
    ("ECC_SECG_P256K1", 100, _NO_REGIONS),
    ("ECC_NIST_EDWARDS25519", 100, _NO_REGIONS),
    ("RSA_2048", 20, _in(1, *_CHINA)),
    ("RSA_3072", 4, _in(0.5, *_CHINA)),
    ("RSA_4096", 1, _in(0.1, *_CHINA)),
    ("SM2", 25, _NO_REGIONS),  # "SM2 — China Regions only"
)

# "<Operation> request rate": the per-API quotas.
_PER_API: tuple[tuple[str, float], ...] = (
    ("CancelKeyDeletion", 5),
    ("ConnectCustomKeyStore", 5),
    ("CreateAlias", 5),
    ("CreateCustomKeyStore", 5),
    ("CreateGrant", 50),
    ("CreateKey", 5),
    ("DeleteAlias", 15),
    ("DeleteCustomKeyStore", 5),
    ("DeleteImportedKeyMaterial", 15),
    ("DescribeCustomKeyStores", 5),
    ("DescribeKey", 2000),
    ("DisableKey", 5),
    ("DisableKeyRotation", 5),
    ("DisconnectCustomKeyStore", 5),
    ("EnableKey", 5),
    ("EnableKeyRotation", 15),
    ("GetKeyLastUsage", 5),
    ("GetKeyPolicy", 1000),
    ("GetKeyRotationStatus", 1000),
    ("GetParametersForImport", 1),
    ("GetPublicKey", 2000),
    ("ImportKeyMaterial", 15),
    ("ListAliases", 500),
    ("ListGrants", 100),
    ("ListKeyPolicies", 100),
    ("ListKeyRotations", 100),
    ("ListKeys", 500),
    ("ListResourceTags", 2000),
    ("ListRetirableGrants", 100),
    ("PutKeyPolicy", 15),
    ("ReplicateKey", 5),
    ("RetireGrant", 50),
    ("RevokeGrant", 50),
    ("RotateKeyOnDemand", 5),
    ("ScheduleKeyDeletion", 15),
    ("TagResource", 10),
    ("UntagResource", 5),
    ("UpdateAlias", 5),
    ("UpdateCustomKeyStore", 5),
    ("UpdateKeyDescription", 5),
    ("UpdatePrimaryRegion", 5),
)


def key_pair_quota(spec: str) -> str:
    """The name of the quota of GenerateDataKeyPair* for a data key pair spec."""
    return f"GenerateDataKeyPair:{spec}"


ROWS: tuple[Quota, ...] = (
    *_SHARED,
    *(Quota(key_pair_quota(spec), f"GenerateDataKeyPair ({spec}) request rate", rps, r) for spec, rps, r in _KEY_PAIRS),
    *(Quota(name, f"{name} request rate", rps) for name, rps in _PER_API),
)
QUOTAS: Mapping[str, Quota] = MappingProxyType({quota.name: quota for quota in ROWS})

# The cryptographic operations' quota by the type of key they use. ML-KEM keys (Encapsulate, Decapsulate) are in
# no quota of AWS's table, so they draw from none.
KEY_TYPE_QUOTAS: Mapping[Family, str | None] = MappingProxyType(
    {
        Family.AES: "symmetric",
        Family.HMAC: "symmetric",
        Family.RSA: "rsa",
        Family.EC: "ecc",
        Family.ED25519: "ecc",
        Family.SM2: "ecc",
        Family.ML_DSA: "ml-dsa",
        Family.ML_KEM: None,
    }
)

_BY_LOWER_NAME: Mapping[str, str] = MappingProxyType({name.lower(): name for name in QUOTAS})


def quota_named(name: str) -> Quota:
    """The quota of a --quota name, in any letter case; KeyError if there is none."""
    return QUOTAS[_BY_LOWER_NAME[name.strip().lower()]]
