"""sacctmgr against a live controller: accounts and users it adds decide who may submit where,
survive a restart, and bad or unprivileged requests change nothing."""

from __future__ import annotations

import contextlib
import io
import os
import pwd
from pathlib import Path

import pytest

from cluster import Cluster, as_user
from corral.cli.slurm.sacctmgr import main as sacctmgr_main
from corral.cli.slurm.sbatch import main as sbatch_main

pytestmark = pytest.mark.integration

NOBODY = pwd.getpwnam("nobody")


def run_as_nobody(cluster: Cluster, main: object, argv: list[str], cwd: Path) -> dict[str, object]:
    """A command's main() in a forked child that became `nobody`."""

    def action() -> dict[str, object]:
        os.environ.update(cluster.env)
        os.chdir(cwd)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)  # type: ignore[operator]
        return {"code": code, "out": out.getvalue(), "err": err.getvalue()}

    reply = as_user(NOBODY.pw_uid, NOBODY.pw_gid, action)
    return reply["ok"]  # type: ignore[index,no-any-return]


def test_accounts_decide_who_submits_where(cluster: Cluster, workdir: Path) -> None:
    workdir.chmod(0o777)
    added = cluster.run("sacctmgr", "-i", "add", "account", "physics", "fairshare=10",
                        "description=Physics department", check=True).stdout
    assert added.startswith(" Adding Account(s)\n  physics\n")
    cluster.run("sacctmgr", "-i", "add", "user", "nobody", "account=physics", check=True)
    assoc = cluster.run("sacctmgr", "-n", "-P", "show", "assoc", "format=account,user,fairshare",
                        check=True).stdout.splitlines()
    assert "physics||10" in assoc and "physics|nobody|1" in assoc

    # root has no association with physics: refused, and nothing is queued.
    refused = cluster.run("sbatch", "-A", "physics", "--wrap", "true", cwd=workdir)
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1] == ("sbatch: error: Batch job submission failed: "
                                               "Invalid account or account/partition combination specified")
    assert cluster.run("squeue", "-h").stdout == ""

    # nobody's default account is physics; jobs are charged to it.
    reply = run_as_nobody(cluster, sbatch_main, ["--parsable", "-o", "/dev/null", "--wrap", "true"],
                          workdir)
    assert reply["code"] == 0, reply
    job = int(str(reply["out"]).strip())
    record = cluster.wait_job(job)
    assert (record["state"], record["account"]) == ("COMPLETED", "physics")
    sacct = cluster.run("sacct", "-j", str(job), "-X", "-n", "-P", "-o", "Account,QOS").stdout
    assert sacct.strip() == "physics|normal"

    # Only an operator may change the tree.
    denied = run_as_nobody(cluster, sacctmgr_main, ["-i", "add", "account", "chemistry"], workdir)
    assert denied["code"] == 1
    assert "privilege" in str(denied["err"])
    accounts = cluster.run("sacctmgr", "-n", "-P", "show", "account", "format=account").stdout
    assert "chemistry" not in accounts.split()

    # Deleting an account that is someone's default is refused, and changes nothing.
    refused_delete = cluster.run("sacctmgr", "-i", "delete", "account", "physics")
    assert refused_delete.returncode == 1
    assert "physics" in cluster.run("sacctmgr", "-n", "-P", "show", "account",
                                    "format=account").stdout.split()

    # The tree is in the store: a restarted controller still knows it.
    cluster.stop_process(cluster.controller)
    cluster.start_controller()
    assoc = cluster.run("sacctmgr", "-n", "-P", "show", "assoc", "format=account,user",
                        check=True).stdout.splitlines()
    assert "physics|nobody" in assoc
