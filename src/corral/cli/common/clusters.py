"""-M/--clusters, as every Slurm command checks it: corral is one cluster, so the names must
include this cluster's own (scontrol show config's ClusterName) or `all`; otherwise the
command stops with Slurm's print_db_notok words and exit 1, before anything is asked or done.
"""

from __future__ import annotations

from corral.cli.common.runner import CommandError
from corral.client import Client

DEFAULT = "corral"  # the name a cluster has when its configuration gives none


def local_name(client: Client) -> str:
    """This cluster's name, lower-cased as slurmdbd keeps cluster names."""
    return str(client.config().get("ClusterName") or DEFAULT).lower()


def unreachable(names: str) -> str:
    """Slurm's words (print_db_notok) for -M names no cluster of which it can reach."""
    if names.strip().lower() == "all":
        return "No clusters can be reached now. Contact your admin to resolve the problem."
    return (f"'{names}' can't be reached now, or it is an invalid entry for --cluster.  "
            "Use 'sacctmgr list clusters' to see available clusters.")


def accepts(names: str, local: str) -> bool:
    """Whether -M NAMES takes in this cluster: its name among them, or `all` (any case)."""
    wanted = {name.strip().lower() for name in names.split(",")}
    return bool(wanted & {local, "all"})


def check(client: Client, names: str) -> str:
    """This cluster's name when -M NAMES takes it in; CommandError in Slurm's words if not."""
    local = local_name(client)
    if not accepts(names, local):
        raise CommandError(unreachable(names))
    return local


def head_listing(lines: list[str], cluster: str, after_date: bool) -> None:
    """-M: Slurm heads each cluster's listing with its name, after the date line of -l/-i."""
    lines.insert(int(after_date), f"CLUSTER: {cluster}")
