"""The per-job supervisor (slurmstepd's role): run one batch script to its end and record how it ended.

Started by the agent in its own session, it outlives agent restarts. It becomes a child
subreaper, so every process the job leaves behind — even one that double-forks into a new
session — is re-parented to it and is killed when the job ends. It runs the script as the
submitting user (never as root on someone else's behalf), enforces the time limit (SIGTERM,
then SIGKILL after the grace time), and writes status.json before the agent reports anything.

What it writes for the job (its notices of a cancel, a time limit, an out-of-memory kill or
a launch that failed) goes only into the error file the job's own process opened after it
became the user: the child hands that descriptor back over a socket before exec. A path the
user could not open is never opened by root, so a symlink the user planted or a directory
the user cannot write is never written; when there is no such file the notice goes to this
supervisor's log on the node (supervisor.log), which only the agent reads. Everything the
supervisor creates in the job directory is private (umask 077); the job gets the umask the
supervisor was started with.

Where cgroups can be used, the script runs in its job's cgroup (see isolation.py): its
memory limit, cpuset and pids limit apply from its first instruction, an out-of-memory kill
ends the job OUT_OF_MEMORY, and the job's end kills the whole cgroup. The job's usage (CPU
time, peak memory, GPU utilisation) is sampled while it runs and kept in status.json.

Usage: python -m corral.agent.supervisor JOBDIR
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import resource
import signal
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any

from corral.agent import gpus, isolation
from corral.agent.cgroups import Cgroup
from corral.agent.isolation import JobIsolation
from corral.agent.jobdir import read_json, write_atomic, write_json_atomic
from corral.agent.usage import Sampler
from corral.model.signals import WarningSignal, parse_warning_signal

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


def become_user(uid: int, gid: int) -> None:
    """In a forked child about to exec: drop to the job's user and groups (never root for
    someone else); an agent that is not root can only run its own user's jobs."""
    if os.getuid() == 0 and uid != 0:
        user = pwd.getpwuid(uid).pw_name
        os.setgroups(os.getgrouplist(user, gid))
        os.setgid(gid)
        os.setuid(uid)
    elif os.getuid() != uid:
        raise PermissionError(f"agent runs as uid {os.getuid()} and cannot run jobs of uid {uid}")


def shown(path: str) -> str:
    """A user-chosen path in a message: as is, unless it holds what could forge a log line."""
    return path if path.isprintable() else ascii(path)


class LaunchError(Exception):
    """Why the job's process could not start, in slurmstepd's words."""


def _open_as_user(kind: str, path: str, flags: int) -> int:
    """In the child, already the job's user: the user's own right to the path decides."""
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        raise LaunchError(f"Could not open {kind} file {shown(path)}: {exc.strerror}") from exc


def _parse_signal(text: str | None) -> WarningSignal | None:
    """sbatch --signal, as the controller accepted it; a spec it could not read sends nothing
    rather than stopping the job's time limit from being enforced."""
    if not text:
        return None
    try:
        return parse_warning_signal(text)
    except ValueError:
        return None


def _timestamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


def _denied_gpus(allocated: list[int]) -> tuple[tuple[str, int, int], ...]:
    """The device files of this node's GPUs that the job was not given (none without NVML)."""
    if not gpus.driver_present():
        return ()
    found, _ = gpus.discover()
    return tuple(("c", gpus.NVIDIA_MAJOR, g.minor) for g in found
                 if g.index not in allocated and g.minor is not None)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie may still be listed in its cgroup for a moment)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] != b"Z"


def oom_note(job_id: int, step: str, kills: int) -> str:
    """slurmstepd's words for an out-of-memory kill, which tools look for in the error file."""
    plural = "" if kills == 1 else "s"
    return (f"Detected {kills} oom_kill event{plural} in StepId={job_id}.{step}. "
            "Some of the step tasks have been OOM Killed.")


class Supervisor:
    def __init__(self, job_dir: Path, job_umask: int = 0o022) -> None:
        self.dir = job_dir
        self.job_umask = job_umask
        self.error_fd: int | None = None  # the job's error file, as its user opened it
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
        self.job: JobIsolation | None = None
        self.step: Cgroup | None = None
        self.gpus = [int(i) for i in self.launch.get("gpus") or ()]
        idle_after = self.launch.get("gpu_idle_after")
        self.sampler = Sampler(None, gpus.GpuSampler(self.gpus) if self.gpus else None,
                               gpu_idle_after=float(idle_after) if idle_after else None)
        self.sample_every = 0.5  # grows to acct_freq: short jobs get a few samples too
        self.next_sample = self.start + self.sample_every

    # -- isolation -------------------------------------------------------------------------

    def _isolate(self) -> None:
        """The job's cgroup and CPUs on this node; a job runs (less isolated) if this fails."""
        memory = self.launch.get("memory_mb")
        try:
            self.job = isolation.open_job(
                self.dir.parent, self.node, self.job_id, int(self.launch.get("attempt", 0)),
                cpus=int(self.launch.get("cpus") or 1), memory_mb=int(memory) if memory else None,
                denied_devices=_denied_gpus(self.gpus), pids_max=self.launch.get("pids_max"))
        except OSError as exc:
            print(f"job {self.job_id}: no isolation: {exc}", file=sys.stderr)
            return
        self.step = isolation.open_step(self.job, "batch")
        self.sampler.group = self.step
        print(f"job {self.job_id}: {self.job.mode} cpus={list(self.job.cpus)} "
              f"enforced={self.job.enforced()}", file=sys.stderr, flush=True)

    def _job_environment(self) -> dict[str, str]:
        env = {k: v.replace("@JOBDIR@", str(self.dir))
               for k, v in self.launch["environment"].items()}
        if self.job is not None and self.job.devices_enforced and self.gpus:
            # The job can open only its own GPUs, so CUDA numbers them from 0, as Slurm's
            # ConstrainDevices does; SLURM_JOB_GPUS keeps the node's indices.
            local = ",".join(str(i) for i in range(len(self.gpus)))
            env["CUDA_VISIBLE_DEVICES"] = env["GPU_DEVICE_ORDINAL"] = local
        return env

    def _signal_job(self, sig: int) -> int:
        """Signals every process of the job once: those below us and those in its cgroup.
        Returns how many there were."""
        pids = set(_descendants(os.getpid()))
        if self.step is not None:
            with contextlib.suppress(OSError):
                pids.update(p for p in self.step.pids() if _running(p))
        if self.child and self.child_status is None:  # not reaped: its pid is still its group's
            # The script's session first, in one go: signalled one by one, a shell could see
            # its child die and print "Terminated" before its own signal reached it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.child, sig)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return len(pids)

    def _sample(self, now: float) -> None:
        self.sample_every = min(self.sample_every * 2, float(self.launch.get("acct_freq", 5)))
        self.next_sample = now + self.sample_every
        rss = self.sampler.sample(now, lambda: _descendants(os.getpid()))
        with contextlib.suppress(OSError):
            self.sampler.write_live(self.dir, now)
        limit = self.job.memory_bytes if self.job is not None else None
        if limit and not (self.job and self.job.memory_enforced) and rss * 1024 > limit \
                and not self.outcome.get("out_of_memory"):
            # No memory cgroup: the limit is kept by polling, as Slurm's OverMemoryKill does.
            self.outcome["out_of_memory"] = True
            self._stderr_note(f"StepId={self.job_id}.batch exceeded memory limit "
                              f"({rss} > {limit // 1024}), being killed")
            self._signal_job(signal.SIGKILL)

    # -- the job's process -----------------------------------------------------------------

    def _exec_child(self, channel: socket.socket) -> None:
        """In the forked child: become the user, open files, hand the error file back, exec.
        Never returns; why it failed goes back over `channel`."""
        try:
            for sig in WATCHED:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            if self.job is not None:
                # Before setuid and exec: the job's first instruction runs inside its limits.
                isolation.enter(self.job, self.step)
            os.setsid()
            uid, gid = int(self.launch["uid"]), int(self.launch["gid"])
            become_user(uid, gid)
            os.umask(self.job_umask)
            work_dir = self.launch["work_dir"]
            try:
                os.chdir(work_dir)
            except OSError as exc:
                raise LaunchError(f"couldn't chdir to {shown(work_dir)}: {exc.strerror}") from exc
            stdin = _open_as_user("stdin", self.launch.get("stdin") or "/dev/null", os.O_RDONLY)
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if self.launch.get("open_append")
                                                else os.O_TRUNC)
            stdout = _open_as_user("stdout", self.launch["stdout"], flags)
            if self.launch["stderr"] == self.launch["stdout"]:
                stderr = stdout
            else:
                stderr = _open_as_user("stderr", self.launch["stderr"], flags)
            socket.send_fds(channel, [b"stderr"], [stderr])
            os.dup2(stdin, 0)
            os.dup2(stdout, 1)
            os.dup2(stderr, 2)
            env = self._job_environment()
            account = pwd.getpwuid(uid)
            for key, value in (("HOME", account.pw_dir), ("USER", account.pw_name),
                               ("LOGNAME", account.pw_name), ("SHELL", account.pw_shell),
                               ("PATH", "/usr/local/bin:/usr/bin:/bin")):
                env.setdefault(key, value)
            env["SLURM_TASK_PID"] = str(os.getpid())
            script = str(self.dir / "slurm_script")
            try:
                os.execve(script, [script, *self.launch.get("argv", [])], env)
            except OSError as exc:
                raise LaunchError(f"execve(): {script}: {exc.strerror}") from exc
        except BaseException as exc:  # noqa: BLE001 - everything must reach the parent
            why = str(exc) if isinstance(exc, LaunchError) else f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(OSError):
                channel.send(b"error:" + why.encode()[:4000])
            os._exit(127)

    def _spawn(self) -> str | None:
        """Starts the script; returns why it could not start, or None.

        The child's end of the socket closes on exec: its end of file says it started."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            mine.close()
            self._exec_child(theirs)
        theirs.close()
        self.child = pid
        error = None
        with mine:
            while True:
                message, fds, _, _ = socket.recv_fds(mine, 8192, 1)
                for fd in fds:
                    os.set_inheritable(fd, False)
                    if self.error_fd is None:
                        self.error_fd = fd
                    else:
                        os.close(fd)
                if not message:
                    break
                if message.startswith(b"error:"):
                    error = message[len(b"error:"):].decode(errors="replace")
        return error

    # -- the loop --------------------------------------------------------------------------

    def _stderr_note(self, text: str) -> None:
        """Slurm's stepd writes its notices into the job's error file; tools grep for them.

        Only through the descriptor the job's user opened, and only to a regular file (a
        fifo could block us); otherwise the notice is the node's, in our log."""
        line = f"slurmstepd-{self.node}: error: {text}\n".encode()
        fd = self.error_fd
        try:
            if fd is not None and stat.S_ISREG(os.fstat(fd).st_mode):
                os.lseek(fd, 0, os.SEEK_END)  # after what the job wrote, as an append would
                os.write(fd, line)
                return
        except OSError:
            pass
        sys.stderr.buffer.write(line)
        sys.stderr.flush()

    def _terminate(self, why: str) -> None:
        if self.kill_at is not None:
            return
        self.outcome[why] = True
        now = time.time()
        suffix = {"timed_out": " DUE TO TIME LIMIT", "preempted": " DUE TO PREEMPTION"}.get(why, "")
        self._stderr_note(f"*** JOB {self.job_id} ON {self.node} CANCELLED AT {_timestamp(now)}{suffix} ***")
        self._signal_job(signal.SIGCONT)
        self._signal_job(signal.SIGTERM)
        self.kill_at = now + self.kill_wait

    def _warn_at(self) -> float | None:
        if self.warning is None or self.warned or self.deadline is None:
            return None
        return self.deadline - self.warning.seconds

    def _warn(self) -> None:
        self.warned = True
        sig, batch_only, _ = self.warning or (0, False, 0)
        if batch_only:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, sig)
        else:
            self._signal_job(sig)

    def _control(self) -> None:
        request = read_json(self.dir / "control.json") or {}
        if request.get("cancel"):
            if request.get("kill_wait") is not None:
                self.kill_wait = float(request["kill_wait"])  # a preemption's GraceTime
            self._terminate("preempted" if request.get("why") == "preempted" else "cancelled")
        if request.get("signal"):
            sig = int(request["signal"])
            if request.get("batch_only"):
                os.kill(self.child, sig)
            else:
                self._signal_job(sig)
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
        write_atomic(self.dir / "supervisor.pid", str(os.getpid()).encode(), sync=False)
        _set_subreaper()
        for name, text in (self.launch.get("files") or {}).items():
            # Files the job reads (PBS_NODEFILE): readable by the job's user, in our directory.
            write_atomic(self.dir / name, text.encode(), mode=0o644)
        if self.launch["environment"].get("TMPDIR") == "@JOBDIR@/tmp":
            # A PBS job's private TMPDIR: the user's alone, removed with our directory at the end.
            tmp = self.dir / "tmp"
            tmp.mkdir(mode=0o700, exist_ok=True)
            with contextlib.suppress(PermissionError):
                os.chown(tmp, int(self.launch["uid"]), int(self.launch["gid"]))
        signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
        self._isolate()
        error = self._spawn()
        if error is not None:
            self._reap()
            self._stderr_note(f"couldn't launch job {self.job_id}: {error}")
            self._release()
            self._finish({"launch_failed": True, "error": error})
            return
        write_atomic(self.dir / "started", str(self.child).encode(), sync=False)
        while self.child_status is None:
            now = time.time()
            warn_at = self._warn_at()
            if warn_at is not None and now >= warn_at:
                self._warn()
            if self.deadline is not None and now >= self.deadline:
                self._terminate("timed_out")
            if self.kill_at is not None and now >= self.kill_at:
                self._signal_job(signal.SIGKILL)
                self.kill_at = now + 5
            if now >= self.next_sample:
                self._sample(now)
            waits = [w for w in (self.deadline, self.kill_at, self._warn_at(), self.next_sample)
                     if w is not None]
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
        if self.step is not None:
            with contextlib.suppress(OSError):
                kills = self.step.oom_kills()
                if kills:
                    self.outcome["out_of_memory"] = True
                    self._stderr_note(oom_note(self.job_id, "batch", kills))
        usage = self.sampler.final(time.time())
        self._release()
        self._finish({"exit_code": exit_code, "exit_signal": exit_signal, **usage})

    def _release(self) -> None:
        """Nothing of the job may stay: its cgroup is killed and removed, its CPUs freed."""
        if self.sampler.gpus is not None:
            self.sampler.gpus.close()
        if self.job is not None:
            isolation.close_job(self.dir.parent, self.job)
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "usage.json").unlink()

    def _cleanup(self) -> None:
        """The batch script ended: nothing it started may outlive it."""
        if self._signal_job(signal.SIGTERM):
            end = time.time() + min(self.kill_wait, 2.0)
            while time.time() < end and self._left():
                signal.sigtimedwait({signal.SIGCHLD}, 0.05)
                self._reap()
            end = time.time() + 10.0  # a process stuck in the kernel must not hold us forever
            while time.time() < end and self._left():
                self._signal_job(signal.SIGKILL)
                signal.sigtimedwait({signal.SIGCHLD}, 0.05)
                self._reap()
        if self.step is not None:
            with contextlib.suppress(OSError):
                self.step.kill()  # by cgroup: also what left our process tree
        self._reap()

    def _left(self) -> bool:
        """Some process of the job still runs (below us, or in its cgroup)."""
        if _descendants(os.getpid()):
            return True
        if self.step is None:
            return False
        try:
            return any(_running(pid) for pid in self.step.pids())
        except OSError:
            return False

    def _finish(self, result: dict[str, Any]) -> None:
        if "max_rss_kb" not in result:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            result = {**result, "max_rss_kb": int(usage.ru_maxrss),
                      "total_cpu_s": usage.ru_utime + usage.ru_stime}
        write_json_atomic(self.dir / "status.json", {
            **self.outcome, **result, "end_time": time.time()})


def main() -> None:
    # What we create is ours alone; the job gets back the umask we were started with.
    job_umask = os.umask(0o077)
    Supervisor(Path(sys.argv[1]), job_umask).run()


if __name__ == "__main__":
    main()
