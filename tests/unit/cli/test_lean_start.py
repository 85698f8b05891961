"""The Slurm-style commands are called in loops: importing them must not pull in the server stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = ["slurm.sbatch", "slurm.squeue", "slurm.scancel", "slurm.sinfo", "slurm.sacct",
            "slurm.scontrol", "pbs.qsub", "pbs.qstat", "pbs.qdel", "lsf.bsub", "lsf.bjobs",
            "lsf.bkill", "slurm.sacctmgr", "slurm.sshare", "slurm.sprio", "slurm.why"]
HEAVY = ["fastapi", "sqlalchemy", "pydantic", "httpx", "corral.core", "corral.controller",
         "corral.store", "http.client", "email"]


@pytest.mark.parametrize("command", COMMANDS)
def test_command_imports_stay_lean(command: str) -> None:
    code = (f"import sys, corral.cli.{command}; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "", f"{command} imports {loaded}"
