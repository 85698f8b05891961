"""The per-job supervisor (slurmstepd's role): run one batch script to its end and record how it ended.

Started by the agent in its own session, it outlives agent restarts. It becomes a child
subreaper, so every process the job leaves behind — even one that double-forks into a new
session — is re-parented to it and is killed when the job ends. It runs the script as the
submitting user (never as root on someone else's behalf), enforces the time limit (SIGTERM,
then SIGKILL after the grace time), and writes status.json before the agent reports anything.

Usage: python -m corral.agent.supervisor JOBDIR
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

from corral.agent.jobdir import read_json, write_json_atomic

PR_SET_CHILD_SUBREAPER = 36
WATCHED = {signal.SIGCHLD, signal.SIGUSR1, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def _set_subreaper() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _descendants(root: int) -> list[int]:
    """Every live process below `root`, found through /proc (children before their parents' end)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if fields and fields[0] != b"Z":
            parents.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        for child in parents.get(pid, []):
            found.append(child)
            todo.append(child)
    return found


def _signal_tree(sig: int) -> int:
    """Signal every process of the job; returns how many were alive."""
    pids = _descendants(os.getpid())
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return len(pids)


def _parse_signal(text: str | None) -> tuple[int, bool, int] | None:
    """sbatch --signal=[{R|B}:]SIG[@secs] → (signal, batch shell only, seconds before the limit)."""
    if not text:
        return None
    flags, _, rest = text.rpartition(":")
    name, _, secs = rest.partition("@")
    name = name.upper().removeprefix("SIG")
    number = int(name) if name.isdigit() else getattr(signal, f"SIG{name}", None)
    if number is None:
        return None
    return int(number), "B" in flags.upper(), int(secs) if secs else 60


def _timestamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


class Supervisor:
    def __init__(self, job_dir: Path) -> None:
        self.dir = job_dir
        self.launch: dict[str, Any] = read_json(job_dir / "launch.json")
        self.job_id = int(self.launch["job_id"])
        self.node = str(self.launch["node"])
        self.kill_wait = float(self.launch.get("kill_wait", 30))
        limit = self.launch.get("time_limit")
        self.start = time.time()
        self.deadline = self.start + limit * 60 if limit is not None else None
        self.kill_at: float | None = None
        # --signal=[B:]SIG[@secs]: warn the job (or only its batch shell) before its limit.
        self.warning = _parse_signal(self.launch.get("signal"))
        self.warned = False
        self.outcome: dict[str, Any] = {}
        self.child = 0
        self.child_status: int | None = None

    # -- the job's process -----------------------------------------------------------------

    def _exec_child(self, error_fd: int) -> None:
        """In the forked child: become the user, open files, exec. Never returns."""
        try:
            for sig in WATCHED:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            os.setsid()
            uid, gid = int(self.launch["uid"]), int(self.launch["gid"])
            if os.getuid() == 0 and uid != 0:
                user = pwd.getpwuid(uid).pw_name
                os.setgroups(os.getgrouplist(user, gid))
                os.setgid(gid)
                os.setuid(uid)
            elif os.getuid() != uid:
                raise PermissionError(f"agent runs as uid {os.getuid()} and cannot run jobs of uid {uid}")
            os.chdir(self.launch["work_dir"])
            stdin = os.open(self.launch.get("stdin") or "/dev/null", os.O_RDONLY)
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if self.launch.get("open_append")
                                                else os.O_TRUNC)
            stdout = os.open(self.launch["stdout"], flags, 0o644)
            if self.launch["stderr"] == self.launch["stdout"]:
                stderr = stdout
            else:
                stderr = os.open(self.launch["stderr"], flags, 0o644)
            os.dup2(stdin, 0)
            os.dup2(stdout, 1)
            os.dup2(stderr, 2)
            env = {k: v.replace("@JOBDIR@", str(self.dir))
                   for k, v in self.launch["environment"].items()}
            account = pwd.getpwuid(uid)
            for key, value in (("HOME", account.pw_dir), ("USER", account.pw_name),
                               ("LOGNAME", account.pw_name), ("SHELL", account.pw_shell),
                               ("PATH", "/usr/local/bin:/usr/bin:/bin")):
                env.setdefault(key, value)
            env["SLURM_TASK_PID"] = str(os.getpid())
            script = str(self.dir / "slurm_script")
            os.execve(script, [script, *self.launch.get("argv", [])], env)
        except BaseException as exc:  # noqa: BLE001 - everything must reach the parent
            os.write(error_fd, f"{type(exc).__name__}: {exc}".encode()[:4000])
            os._exit(127)

    def _spawn(self) -> str | None:
        """Starts the script; returns why it could not start, or None."""
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            self._exec_child(write_end)
        os.close(write_end)
        self.child = pid
        error = b""
        while chunk := os.read(read_end, 4096):
            error += chunk
        os.close(read_end)
        return error.decode(errors="replace") or None

    # -- the loop --------------------------------------------------------------------------

    def _stderr_note(self, text: str) -> None:
        """Slurm's stepd writes its notices into the job's error file; tools grep for them."""
        try:
            with open(self.launch["stderr"], "a") as handle:
                handle.write(f"slurmstepd-{self.node}: error: {text}\n")
        except OSError:
            pass

    def _terminate(self, why: str) -> None:
        if self.kill_at is not None:
            return
        self.outcome[why] = True
        now = time.time()
        suffix = " DUE TO TIME LIMIT" if why == "timed_out" else ""
        self._stderr_note(f"*** JOB {self.job_id} ON {self.node} CANCELLED AT {_timestamp(now)}{suffix} ***")
        _signal_tree(signal.SIGCONT)
        _signal_tree(signal.SIGTERM)
        self.kill_at = now + self.kill_wait

    def _warn_at(self) -> float | None:
        if self.warning is None or self.warned or self.deadline is None:
            return None
        return self.deadline - self.warning[2]

    def _warn(self) -> None:
        self.warned = True
        sig, batch_only, _ = self.warning or (0, False, 0)
        if batch_only:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, sig)
        else:
            _signal_tree(sig)

    def _control(self) -> None:
        request = read_json(self.dir / "control.json") or {}
        if request.get("cancel"):
            self._terminate("cancelled")
        if request.get("signal"):
            sig = int(request["signal"])
            if request.get("batch_only"):
                os.kill(self.child, sig)
            else:
                _signal_tree(sig)
        if "time_limit" in request:
            limit = request["time_limit"]
            self.deadline = self.start + limit * 60 if limit is not None else None

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.child:
                self.child_status = status

    def run(self) -> None:
        (self.dir / "supervisor.pid").write_text(str(os.getpid()))
        _set_subreaper()
        for name, text in (self.launch.get("files") or {}).items():
            # Files the job reads (PBS_NODEFILE): readable by the job's user, in our directory.
            path = self.dir / name
            path.write_text(text)
            os.chmod(path, 0o644)
        signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
        error = self._spawn()
        if error is not None:
            self._reap()
            self._stderr_note(f"couldn't launch job {self.job_id}: {error}")
            self._finish({"launch_failed": True, "error": error})
            return
        (self.dir / "started").write_text(str(self.child))
        while self.child_status is None:
            now = time.time()
            warn_at = self._warn_at()
            if warn_at is not None and now >= warn_at:
                self._warn()
            if self.deadline is not None and now >= self.deadline:
                self._terminate("timed_out")
            if self.kill_at is not None and now >= self.kill_at:
                _signal_tree(signal.SIGKILL)
                self.kill_at = now + 5
            waits = [w for w in (self.deadline, self.kill_at, self._warn_at()) if w is not None]
            timeout = max(0.01, min(waits) - now) if waits else 60.0
            received = signal.sigtimedwait(WATCHED, min(timeout, 60.0))
            if received is None or received.si_signo == signal.SIGCHLD:
                self._reap()
            elif received.si_signo == signal.SIGUSR1:
                self._control()
            else:  # TERM/INT/HUP sent to the supervisor itself: end the job as a cancel would
                self._terminate("cancelled")
        self._cleanup()
        status = self.child_status
        exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 0
        exit_signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        self._finish({"exit_code": exit_code, "exit_signal": exit_signal})

    def _cleanup(self) -> None:
        """The batch script ended: nothing it started may outlive it."""
        if _signal_tree(signal.SIGTERM):
            end = time.time() + min(self.kill_wait, 2.0)
            while time.time() < end and _descendants(os.getpid()):
                signal.sigtimedwait({signal.SIGCHLD}, 0.05)
                self._reap()
            while _signal_tree(signal.SIGKILL):
                signal.sigtimedwait({signal.SIGCHLD}, 0.05)
                self._reap()
        self._reap()

    def _finish(self, result: dict[str, Any]) -> None:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        write_json_atomic(self.dir / "status.json", {
            **self.outcome, **result, "end_time": time.time(),
            "max_rss_kb": int(usage.ru_maxrss), "total_cpu_s": usage.ru_utime + usage.ru_stime,
        })


def main() -> None:
    Supervisor(Path(sys.argv[1])).run()


if __name__ == "__main__":
    main()
