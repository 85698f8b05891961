"""Batch jobs through the real commands on a real two-node cluster."""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path

import pytest

from cluster import Cluster, as_user
from corral.cli.slurm.sbatch_options import build_request, wrap_script
from corral.client import Client

pytestmark = pytest.mark.integration


def test_output_goes_to_slurm_jobid_out_in_the_submit_directory(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("--wrap", "echo hello from $SLURM_JOB_ID", cwd=workdir)
    assert cluster.wait_job(job)["state"] == "COMPLETED"
    assert (workdir / f"slurm-{job}.out").read_text() == f"hello from {job}\n"


def test_output_patterns_are_expanded(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("-J", "pat", "-o", "out-%x-%j-%u-%N-%%.txt", "-e", "err-%j.txt",
                         "--wrap", "echo out; echo err >&2", cwd=workdir)
    record = cluster.wait_job(job)
    node = record["nodes"][0]
    assert (workdir / f"out-pat-{job}-root-{node}-%.txt").read_text() == "out\n"
    assert (workdir / f"err-{job}.txt").read_text() == "err\n"


def test_directives_script_arguments_and_command_line_override(cluster: Cluster, workdir: Path) -> None:
    (workdir / "wd").mkdir()
    script = workdir / "job.sh"
    script.write_text("#!/bin/bash\n#SBATCH --job-name=fromdirective\n#SBATCH --output=o-%x-%j.log\n"
                      f"#SBATCH --chdir={workdir}/wd\n#SBATCH --export=ALL,FOO=bar\n"
                      "echo pwd=$(pwd) FOO=$FOO MYVAR=$MYVAR name=$SLURM_JOB_NAME args=$*\n")
    job = cluster.sbatch("-J", "fromcli", str(script), "a1", "b 2", cwd=workdir,
                         env={"MYVAR": "fromsubmitter"})
    cluster.wait_job(job)
    out = (workdir / "wd" / f"o-fromcli-{job}.log").read_text()
    assert out == f"pwd={workdir}/wd FOO=bar MYVAR=fromsubmitter name=fromcli args=a1 b 2\n"


def test_export_none_does_not_pass_the_submitters_environment(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("--export=NONE", "-o", "o.txt", "--wrap",
                         "echo MYVAR=${MYVAR:-unset} HOME=${HOME:+set} ID=$SLURM_JOB_ID",
                         cwd=workdir, env={"MYVAR": "x"})
    cluster.wait_job(job)
    assert (workdir / "o.txt").read_text() == f"MYVAR=unset HOME=set ID={job}\n"


def test_job_environment_has_slurm_variables(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("-c", "2", "--mem=64M", "-o", "env.txt", "--wrap", "env | sort",
                         cwd=workdir)
    cluster.wait_job(job)
    env = dict(line.split("=", 1) for line in (workdir / "env.txt").read_text().splitlines()
               if "=" in line)
    assert env["SLURM_JOB_ID"] == env["SLURM_JOBID"] == str(job)
    assert env["SLURM_CPUS_ON_NODE"] == "2" and env["SLURM_CPUS_PER_TASK"] == "2"
    assert env["SLURM_MEM_PER_NODE"] == "64"
    assert env["SLURM_SUBMIT_DIR"] == str(workdir)
    assert env["SLURM_JOB_NODELIST"] in cluster.node_names
    assert env["SLURMD_NODENAME"] == env["SLURM_JOB_NODELIST"]
    assert env["SLURM_JOB_PARTITION"] == "main" and env["SLURM_JOB_USER"] == "root"
    assert env["SLURM_TASK_PID"].isdigit()
    assert env["CUDA_VISIBLE_DEVICES"] == ""


def test_exit_codes_reach_sacct(cluster: Cluster, workdir: Path) -> None:
    failed = cluster.sbatch("-o", "/dev/null", "--wrap", "exit 3", cwd=workdir)
    killed = cluster.sbatch("-o", "/dev/null", "--wrap", "kill -9 $$", cwd=workdir)
    cluster.wait_job(failed)
    cluster.wait_job(killed)
    out = cluster.run("sacct", "-j", f"{failed},{killed}", "--parsable2",
                      "--format=JobID,State,ExitCode", check=True).stdout
    assert out.splitlines() == [
        "JobID|State|ExitCode",
        f"{failed}|FAILED|3:0", f"{failed}.batch|FAILED|3:0",
        f"{killed}|FAILED|0:9", f"{killed}.batch|CANCELLED|0:9",
    ]


def test_sbatch_wait_exits_with_the_job_exit_code(cluster: Cluster, workdir: Path) -> None:
    result = cluster.run("sbatch", "--wait", "-o", "/dev/null", "--wrap", "exit 3", cwd=workdir)
    assert result.returncode == 3
    assert result.stdout.startswith("Submitted batch job ")


def test_missing_output_directory_fails_the_launch(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("-o", "/nonexistent_dir/x-%j.out", "--wrap", "echo hi", cwd=workdir)
    record = cluster.wait_job(job)
    assert (record["state"], record["reason"], record["exit_code"], record["exit_signal"]) == \
        ("FAILED", "JobLaunchFailure", 0, 53)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_cancel_leaves_no_process_behind(cluster: Cluster, workdir: Path) -> None:
    # The job starts a child in the background and a grandchild that escapes into its own
    # session (setsid), then records their pids.
    job = cluster.sbatch("-o", "o.txt", "--wrap",
                         "sleep 300 & echo $! > pids; setsid sh -c 'echo $$ >> pids; sleep 300' & "
                         "sleep 300", cwd=workdir)
    cluster.wait_job(job, states=["RUNNING"])
    cluster.wait_for(lambda: len((workdir / "pids").read_text().split()) == 2
                     if (workdir / "pids").exists() else False, what="the job's children")
    pids = [int(p) for p in (workdir / "pids").read_text().split()]
    assert all(_pid_alive(p) for p in pids)
    assert cluster.run("scancel", str(job)).returncode == 0
    record = cluster.wait_job(job)
    assert record["state"] == "CANCELLED" and record["cancelled_by"] == 0
    cluster.wait_for(lambda: not any(_pid_alive(p) for p in pids), timeout=10,
                     what="the job's processes to be gone")
    assert "CANCELLED AT" in (workdir / "o.txt").read_text()
    out = cluster.run("sacct", "-j", str(job), "-P", "-o", "JobID,State", check=True).stdout
    assert out.splitlines()[1:] == [f"{job}|CANCELLED by 0", f"{job}.batch|CANCELLED"]


def test_cancel_pending_job(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("-H", "--wrap", "true", cwd=workdir)
    assert cluster.run("squeue", "-h", "-j", str(job), "-o", "%i %T %r").stdout == \
        f"{job} PENDING JobHeldUser\n"
    assert cluster.run("scancel", str(job)).returncode == 0
    assert cluster.job(job)["state"] == "CANCELLED"
    assert cluster.run("scancel", str(job)).returncode == 0  # again: silent, as Slurm


def test_hold_and_release(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("-H", "-o", "/dev/null", "--wrap", "true", cwd=workdir)
    time.sleep(0.3)
    assert cluster.job(job)["state"] == "PENDING"
    assert cluster.run("scontrol", "release", str(job)).returncode == 0
    assert cluster.wait_job(job)["state"] == "COMPLETED"


def test_two_node_job_gets_both_nodes_at_once(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("-N", "2", "-o", "o.txt", "--wrap",
                         "echo $SLURM_JOB_NODELIST $SLURM_JOB_NUM_NODES $SLURM_NNODES", cwd=workdir)
    record = cluster.wait_job(job)
    assert record["state"] == "COMPLETED"
    assert sorted(record["nodes"]) == ["node1", "node2"]
    assert (workdir / "o.txt").read_text() == "node[1-2] 2 2\n"


def test_scontrol_update_time_limit_and_show_job(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("-H", "-t", "10", "--wrap", "true", cwd=workdir)
    assert cluster.run("scontrol", "update", f"JobId={job}", "TimeLimit=5").returncode == 0
    shown = cluster.run("scontrol", "show", "job", str(job), check=True).stdout
    assert f"JobId={job} JobName=wrap" in shown and "TimeLimit=00:05:00" in shown
    assert "JobState=PENDING Reason=JobHeldUser" in shown
    cluster.run("scancel", str(job), check=True)


def test_drained_node_gets_no_new_jobs(cluster: Cluster, workdir: Path) -> None:
    cluster.run("scontrol", "update", "NodeName=node2", "State=DRAIN", "Reason=maintenance",
                check=True)
    try:
        assert "maintenance" in cluster.run("sinfo", "-R").stdout
        jobs = [cluster.sbatch("-o", "/dev/null", "--wrap", "true", cwd=workdir) for _ in range(3)]
        assert all(cluster.wait_job(j)["nodes"] == ["node1"] for j in jobs)
    finally:
        cluster.run("scontrol", "update", "NodeName=node2", "State=RESUME", check=True)


def test_backfill_starts_a_short_job_but_not_a_long_one(cluster: Cluster, workdir: Path) -> None:
    blocker = cluster.sbatch("-w", "node1", "-c", "2", "-t", "5", "--wrap", "sleep 300", cwd=workdir)
    cluster.wait_job(blocker, states=["RUNNING"])
    wide = cluster.sbatch("-N", "2", "-c", "2", "-t", "5", "--wrap", "true", cwd=workdir)
    short = cluster.sbatch("-c", "2", "-t", "2", "-o", "/dev/null", "--wrap", "sleep 1", cwd=workdir)
    long = cluster.sbatch("-c", "2", "-t", "30", "--wrap", "true", cwd=workdir)
    try:
        assert cluster.wait_job(short)["state"] == "COMPLETED"
        assert cluster.job(wide)["state"] == "PENDING" and cluster.job(wide)["reason"] == "Resources"
        assert cluster.job(wide)["estimated_start"] is not None
        assert cluster.job(long)["state"] == "PENDING" and cluster.job(long)["reason"] == "Priority"
    finally:
        cluster.run("scancel", str(blocker), str(wide), str(long), check=True)




NOBODY = pwd.getpwnam("nobody")


def test_another_user_cannot_cancel_hold_or_change_my_job(cluster: Cluster, workdir: Path) -> None:
    job = cluster.sbatch("-H", "--wrap", "true", cwd=workdir)
    actions = {
        "cancel": lambda c: c.cancel(job_ids=[job]),
        "release": lambda c: c.release(job),
        "update": lambda c: c.update_job(job, {"time_limit": 1}),
    }
    for name, act in actions.items():
        reply = as_user(NOBODY.pw_uid, NOBODY.pw_gid,
                         lambda act=act: act(Client(str(cluster.socket))))
        if name == "cancel":
            assert reply == {"ok": {"cancelled": [], "errors": [
                {"job_id": job, "error": "Access/permission denied"}]}}
        else:
            assert reply["status"] == 403, (name, reply)  # type: ignore[index]
    record = cluster.job(job)
    assert (record["state"], record["held"]) == ("PENDING", True)
    cluster.run("scancel", str(job), check=True)  # root may


def test_jobs_run_as_the_submitting_user(cluster: Cluster, workdir: Path) -> None:
    workdir.chmod(0o777)
    request = build_request({"output": "id.txt"}, script=wrap_script("id -un; id -u"),
                            script_args=[], default_name="wrap", cwd=str(workdir),
                            environ={"PATH": "/usr/bin:/bin"}, hostname="login", command="")
    reply = as_user(NOBODY.pw_uid, NOBODY.pw_gid,
                     lambda: Client(str(cluster.socket)).submit(request))
    job = reply["ok"]["job_id"]  # type: ignore[index]
    record = cluster.wait_job(job)
    assert (record["user"], record["uid"], record["state"]) == ("nobody", NOBODY.pw_uid, "COMPLETED")
    assert (workdir / "id.txt").read_text() == f"nobody\n{NOBODY.pw_uid}\n"
    assert (workdir / "id.txt").stat().st_uid == NOBODY.pw_uid


def test_a_user_cannot_submit_as_someone_else(cluster: Cluster, workdir: Path) -> None:
    request = {"script": "#!/bin/sh\ntrue\n", "work_dir": str(workdir), "uid": 0, "gid": 0}
    reply = as_user(NOBODY.pw_uid, NOBODY.pw_gid,
                     lambda: Client(str(cluster.socket)).submit(request))
    assert reply["status"] == 403  # type: ignore[index]


def test_bad_requests_are_refused_and_queue_nothing(cluster: Cluster, workdir: Path) -> None:
    before = cluster.run("squeue", "-h", "-t", "all", "-o", "%i").stdout
    cases = {
        ("--mem=100G", "--wrap", "true"): ("Memory specification can not be satisfied", 1),
        ("-c", "64", "--wrap", "true"): ("CPU count per node can not be satisfied", 1),
        ("--gres=gpu:1", "--wrap", "true"): ("Invalid generic resource (gres) specification", 1),
        ("-p", "nosuchpart", "--wrap", "true"): ("invalid partition specified: nosuchpart", 1),
        ("--time=bogus", "--wrap", "true"): ("Invalid --time specification", 255),
        ("--no-such-option", "--wrap", "true"): ("unrecognized option '--no-such-option'", 255),
        ("/nonexistent/script.sh",): ("Unable to open file /nonexistent/script.sh", 1),
    }
    for args, (message, code) in cases.items():
        result = cluster.run("sbatch", *args, cwd=workdir)
        assert (result.returncode, result.stdout) == (code, ""), args
        assert message in result.stderr, (args, result.stderr)
    (workdir / "noshebang.sh").write_text("echo hi\n")
    result = cluster.run("sbatch", "noshebang.sh", cwd=workdir)
    assert result.returncode == 1 and "This does not look like a batch script" in result.stderr
    after = cluster.run("squeue", "-h", "-t", "all", "-o", "%i").stdout
    assert sorted(after.split()) == sorted(before.split())


def test_unreachable_controller_is_one_line_without_traceback(cluster: Cluster, workdir: Path) -> None:
    for command in ("squeue", "sbatch", "sinfo", "sacct", "scontrol", "scancel"):
        args = {"sbatch": ["--wrap", "true"], "scontrol": ["show", "job"], "scancel": ["1"]}
        result = cluster.run(command, *args.get(command, []), cwd=workdir,
                             env={"CORRAL_CONTROLLER": str(workdir / "nothing.sock")})
        assert result.returncode != 0, command
        # squeue speaks as Slurm's does (slurm_load_jobs error: …): batchspawner matches it.
        prefix = ("slurm_load_jobs error: Unable to contact slurm controller (connect failure): "
                  if command == "squeue" else f"{command}: error: ")
        assert result.stderr.startswith(prefix + "cannot reach the controller at "), \
            (command, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
