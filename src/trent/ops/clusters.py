"""The registry of HSM clusters: PKCS#11 tokens the operator offers as AWS CloudHSM clusters for custom key
stores (`trent admin add-hsm-cluster`, list-hsm-clusters, remove-hsm-cluster; docs/decisions/0014)."""

from __future__ import annotations

from pathlib import Path

from trent.crypto.certificates import certificate_der
from trent.kms.keystores import CLUSTER_ID, CloudHsmConfig, HsmCluster
from trent.ops.deps import Deps
from trent.store.base import DuplicateError


class ClusterError(ValueError):
    """The cluster cannot be registered or removed as asked; the message says why."""


def add_cluster(deps: Deps, cluster_id: str, module: str, token_label: str, trust_anchor_pem: str) -> HsmCluster:
    if CLUSTER_ID.fullmatch(cluster_id) is None:
        raise ClusterError(
            f"{cluster_id!r} is not a cluster id: cluster- and 11 to 16 letters or digits 2-7 (AWS's CloudHsmClusterId)"
        )
    if not Path(module).is_file():
        raise ClusterError(f"PKCS#11 module {module} does not exist")
    if not token_label:
        raise ClusterError("the token label is empty")
    try:
        certificate_der(trust_anchor_pem)
    except ValueError:
        raise ClusterError("the trust anchor certificate file holds no PEM X.509 certificate") from None
    cluster = HsmCluster(cluster_id, module, token_label, trust_anchor_pem.strip() + "\n", deps.clock())
    try:
        with deps.store.transaction() as tx:
            tx.insert_hsm_cluster(cluster)
    except DuplicateError:
        raise ClusterError(f"cluster {cluster_id} is registered already") from None
    return cluster


def remove_cluster(deps: Deps, cluster_id: str) -> tuple[str, ...]:
    """Forget the cluster; the ids of the custom key stores on it, which can no longer connect (CLUSTER_NOT_FOUND)."""
    with deps.store.transaction() as tx:
        if tx.get_hsm_cluster(cluster_id) is None:
            raise ClusterError(f"no cluster {cluster_id} is registered")
        tx.delete_hsm_cluster(cluster_id)
        stores = tx.list_custom_key_stores(None, None)
    return tuple(
        s.custom_key_store_id
        for s in stores
        if isinstance(s.config, CloudHsmConfig) and s.config.cluster_id == cluster_id
    )
