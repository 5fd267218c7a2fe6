"""`trent admin add-hsm-cluster | list-hsm-clusters | remove-hsm-cluster`: register PKCS#11 tokens as the
"CloudHSM clusters" that custom key stores are created on (docs/decisions/0014-custom-key-stores.md).
cli.py hands its admin group and options to `register`."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import click

from trent.kms.keystores import CloudHsmConfig
from trent.ops import clusters
from trent.ops.deps import Deps

Admin = Callable[[Path | None, Path | None], AbstractContextManager[Deps]]
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def register(group: click.Group, admin: Admin, options: tuple[Decorator, ...]) -> None:
    def with_options(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            f = option(f)
        return f

    @group.command("add-hsm-cluster")
    @with_options
    @click.option("--cluster-id", required=True, help="cluster- and 11 to 16 characters (AWS's CloudHsmClusterId).")
    @click.option("--pkcs11-module", "module", required=True, help="The PKCS#11 module (shared library).")
    @click.option("--token-label", required=True, help="The label of the token that holds the store's keys.")
    @click.option(
        "--trust-anchor-certificate",
        "certificate",
        required=True,
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        help="PEM file: the certificate CreateCustomKeyStore's TrustAnchorCertificate must match.",
    )
    def add_hsm_cluster(
        config: Path | None, data_dir: Path | None, cluster_id: str, module: str, token_label: str, certificate: Path
    ) -> None:
        """Register a PKCS#11 token as a CloudHSM cluster for custom key stores."""
        with admin(config, data_dir) as deps:
            try:
                cluster = clusters.add_cluster(deps, cluster_id, module, token_label, certificate.read_text())
            except (clusters.ClusterError, UnicodeDecodeError) as exc:
                raise click.ClickException(str(exc)) from None
        click.echo(f"registered cluster {cluster.cluster_id}: token {cluster.token_label!r} of {cluster.module}")

    # Here --pkcs11-module is the cluster's module: the root of trust's (for a PKCS#11 root) comes from
    # TRENT_PKCS11_MODULE or the TOML file for this command.
    add_hsm_cluster.params = [
        p for p in add_hsm_cluster.params if not (p.name == "pkcs11_module" and not p.expose_value)
    ]

    @group.command("list-hsm-clusters")
    @with_options
    def list_hsm_clusters(config: Path | None, data_dir: Path | None) -> None:
        """List the registered clusters as JSON, with the custom key store on each, if any."""
        with admin(config, data_dir) as deps:
            stores = {
                s.config.cluster_id: s.custom_key_store_id
                for s in deps.store.list_custom_key_stores(None, None)
                if isinstance(s.config, CloudHsmConfig)
            }
            out = [
                {
                    "CloudHsmClusterId": c.cluster_id,
                    "Pkcs11Module": c.module,
                    "TokenLabel": c.token_label,
                    "TrustAnchorCertificate": c.trust_anchor_certificate,
                    "CustomKeyStoreId": stores.get(c.cluster_id),
                }
                for c in deps.store.list_hsm_clusters()
            ]
        click.echo(json.dumps(out, indent=2, sort_keys=True))

    @group.command("remove-hsm-cluster")
    @with_options
    @click.option("--cluster-id", required=True)
    def remove_hsm_cluster(config: Path | None, data_dir: Path | None, cluster_id: str) -> None:
        """Forget a cluster (its token and the keys in it are untouched); stores on it can no longer connect."""
        with admin(config, data_dir) as deps:
            try:
                orphaned = clusters.remove_cluster(deps, cluster_id)
            except clusters.ClusterError as exc:
                raise click.ClickException(str(exc)) from None
        click.echo(f"removed cluster {cluster_id}")
        for store_id in orphaned:
            click.echo(f"custom key store {store_id} is on it: it will fail to connect (CLUSTER_NOT_FOUND)", err=True)
