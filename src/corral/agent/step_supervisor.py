"""The per-step supervisor (slurmstepd's role for an srun step): run this node's tasks of one step.

Started by the agent in its own session, it forks the node's tasks as the job's user, in the
working directory srun named, with the step's environment. It then connects back to srun
(see corral.api.stepio for the protocol), forwards each task's output, delivers what srun
sends (stdin, signals, window size), and reports each task's end. Like the batch supervisor
it is a child subreaper: whatever the tasks leave behind is killed when they end. If srun goes
away, or the agent cancels the step (the job ended), the tasks get SIGTERM, then SIGKILL after
the grace time. status.json is written before srun or the agent is told the step ended.

It writes nothing on the tasks' behalf to the node's files: their output and its notices go
to srun, which writes them as the user who ran it. What it creates in the step directory is
private (umask 077); the tasks get the umask it was started with.

The tasks run confined to their job, as the batch script does (see isolation.py): in the
step's cgroup `job_N/step_M` below the job's, so the job's memory limit (shared with its
other steps), cpuset, pids limit and GPU device rules hold for them, and the step's own
cgroup is removed when it ends. A task the kernel kills for the job's memory ends the step
OUT_OF_MEMORY. Without usable cgroups the tasks get the job's CPU ids as their affinity and
the step's memory is polled against the job's limit, as for batch jobs. If srun says it
cannot serve the step (its output file cannot be opened), the tasks are killed and the step
ends FAILED, as a launch slurmstepd could not complete does.

Tasks are forked before the connection is opened, while this process still has one thread:
forking after the WebSocket's threads start would risk a child inheriting a held lock.

Usage: python -m corral.agent.step_supervisor STEPDIR
"""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import pwd
import queue
import selectors
import signal
import struct
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

from corral.agent import isolation
from corral.agent.cgroups import Cgroup
from corral.agent.isolation import JobIsolation
from corral.agent.jobdir import read_json, write_atomic, write_json_atomic
from corral.agent.supervisor import (
    _denied_gpus,
    _descendants,
    _set_subreaper,
    _signal_tree,
    become_user,
    oom_note,
)
from corral.agent.usage import Sampler
from corral.api import stepio

HANDLED = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
# Slurm's stepd reports a task that could not be exec'd as exit code 2.
EXEC_FAILED = 2


def _timestamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


class Task:
    __slots__ = ("procid", "localid", "gpus", "pid", "stdin", "pending_input", "input_ended",
                 "status", "exec_error")

    def __init__(self, procid: int, localid: int, gpus: list[int] | None) -> None:
        self.procid = procid
        self.localid = localid
        self.gpus = gpus
        self.pid = 0
        self.stdin: int | None = None
        self.pending_input = b""
        self.input_ended = False
        self.status: tuple[int, int] | None = None  # (exit code, signal) once ended
        self.exec_error: str | None = None


class StepSupervisor:
    def __init__(self, step_dir: Path, task_umask: int = 0o022) -> None:
        self.dir = step_dir
        self.task_umask = task_umask
        self.spec: dict[str, Any] = read_json(step_dir / "step.json")
        self.node = str(self.spec["node"])
        self.step_name = f"{self.spec['job_id']}.{self.spec['step_id']}"
        self.kill_wait = float(self.spec.get("kill_wait", 30))
        self.tasks = [Task(int(t["procid"]), int(t["localid"]), t.get("gpus"))
                      for t in self.spec["tasks"]]
        self.by_procid = {t.procid: t for t in self.tasks}
        self.selector = selectors.DefaultSelector()
        self.outputs: dict[int, tuple[int, int]] = {}  # fd → (procid, stream)
        self.inbox: queue.Queue[str | bytes | None] = queue.Queue()
        self.conn: Any = None
        self.cancelled = False
        self.lost = False
        self.kill_at: float | None = None
        self.flags: set[int] = set()
        self.notify_r, self.notify_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.job: JobIsolation | None = None
        self.group: Cgroup | None = None  # job_N/step_M
        self.job_gpus = [int(g) for g in self.spec.get("job_gpus") or ()]
        self.step_gpus = [int(g) for g in self.spec.get("step_gpus") or ()]
        self.sampler = Sampler(None)
        self.sample_every = 0.5  # grows to acct_freq, as the batch supervisor's does
        self.next_sample = time.time() + self.sample_every
        self.out_of_memory = False
        self.launch_failed: str | None = None  # srun could not serve the step
        self.verdict = False  # srun said whether it serves the step ("launch" or "launch_failed")
        self.srun_gone = False

    # -- isolation -----------------------------------------------------------------------

    def _isolate(self) -> None:
        """The job's isolation on this node (made here if no other step or batch script of
        the job made it yet) and the step's cgroup below it; a step runs, less isolated,
        if this fails."""
        spec = self.spec
        memory = spec.get("memory_mb")
        try:
            self.job = isolation.open_job(
                self.dir.parent, self.node, int(spec["job_id"]), int(spec.get("attempt", 0)),
                cpus=int(spec.get("job_cpus") or len(self.tasks)),
                memory_mb=int(memory) if memory else None,
                denied_devices=_denied_gpus(self.job_gpus), pids_max=spec.get("pids_max"))
        except OSError as exc:
            print(f"step {self.step_name}: no isolation: {exc}", file=sys.stderr, flush=True)
            return
        # The job's GPUs that this step was not given are denied to it as well.
        others = [g for g in self.job_gpus if g not in self.step_gpus]
        denied = _denied_gpus(self.step_gpus) if others and self.job.devices_enforced else ()
        self.group = isolation.open_step(self.job, str(spec["step_id"]), denied)
        self.sampler.group = self.group
        print(f"step {self.step_name}: {self.job.mode} cpus={list(self.job.cpus)} "
              f"step cgroup={self.group is not None}", file=sys.stderr, flush=True)

    def _visible(self, gpus: list[int]) -> str:
        """CUDA's numbers for these GPUs: the node's indices, or, where the step can open only
        its own GPUs, their places among them (Slurm's ConstrainDevices numbering)."""
        if self.job is not None and self.job.devices_enforced:
            return ",".join(str(self.step_gpus.index(g)) for g in gpus if g in self.step_gpus)
        return ",".join(str(g) for g in gpus)

    def _sample(self, now: float) -> None:
        self.sample_every = min(self.sample_every * 2, float(self.spec.get("acct_freq", 5)))
        self.next_sample = now + self.sample_every
        rss = self.sampler.sample(now, lambda: _descendants(os.getpid()))
        job = self.job
        limit = job.memory_bytes if job is not None else None
        if limit and job is not None and not job.memory_enforced and rss * 1024 > limit \
                and not self.out_of_memory:
            # No memory cgroup: the job's limit is kept by polling, as Slurm's OverMemoryKill.
            self.out_of_memory = True
            self._note(f"StepId={self.step_name} exceeded memory limit "
                       f"({rss} > {limit // 1024}), being killed")
            _signal_tree(signal.SIGKILL)

    def _note(self, text: str) -> None:
        """A notice of slurmstepd's, on the first task's stderr (srun writes it out)."""
        note = f"slurmstepd: error: {text}\n"
        self._send(stepio.data_frame(self.tasks[0].procid, stepio.STDERR, note.encode()))

    # -- tasks ---------------------------------------------------------------------------

    def _task_env(self, task: Task) -> dict[str, str]:
        env = dict(self.spec["environment"])
        account = pwd.getpwuid(int(self.spec["uid"]))
        for key, value in (("HOME", account.pw_dir), ("USER", account.pw_name),
                           ("LOGNAME", account.pw_name), ("SHELL", account.pw_shell),
                           ("PATH", "/usr/local/bin:/usr/bin:/bin")):
            env.setdefault(key, value)
        # srun's address, under each name Slurm's steps give it (MPI launchers read them).
        srun_host, _, srun_port = self.spec["io_addr"].rpartition(":")
        env.update({"SLURM_PROCID": str(task.procid), "SLURM_LOCALID": str(task.localid),
                    "SLURM_GTIDS": ",".join(str(t.procid) for t in self.tasks),
                    "SLURMD_NODENAME": self.node, "SLURM_STEP_LAUNCHER_PORT": srun_port,
                    "SLURM_SRUN_COMM_PORT": srun_port, "SLURM_SRUN_COMM_HOST": srun_host,
                    "SLURM_LAUNCH_NODE_IPADDR": srun_host})
        if self.step_gpus:
            # SLURM_STEP_GPUS names the node's GPUs of the step; each task sees its share
            # (--gpus-per-task), or all of them.
            env["SLURM_STEP_GPUS"] = ",".join(str(g) for g in self.step_gpus)
            visible = self._visible(task.gpus if task.gpus is not None else self.step_gpus)
            env["CUDA_VISIBLE_DEVICES"] = env["GPU_DEVICE_ORDINAL"] = visible
        elif task.gpus is not None:  # a controller that sent the tasks' GPUs only
            gpus = ",".join(str(g) for g in task.gpus)
            env.update({"CUDA_VISIBLE_DEVICES": gpus, "GPU_DEVICE_ORDINAL": gpus,
                        "SLURM_STEP_GPUS": gpus})
        return env

    def _exec_task(self, task: Task, fds: tuple[int, int, int], terminal: int | None,
                   error_fd: int) -> None:
        """In the forked child: become the user, wire the fds, exec. Never returns."""
        try:
            for sig in HANDLED:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            if self.job is not None:
                # Before setuid and exec: the task's first instruction runs inside its limits.
                isolation.enter(self.job, self.group)
            os.setsid()
            if terminal is not None:
                fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)
            become_user(int(self.spec["uid"]), int(self.spec["gid"]))
            os.umask(self.task_umask)
            env = self._task_env(task)
            try:
                os.chdir(self.spec["work_dir"])
            except OSError as exc:
                note = (f"slurmstepd: error: couldn't chdir to `{self.spec['work_dir']}': "
                        f"{exc.strerror}: going to /tmp instead\n")
                os.write(fds[2], note.encode())
                os.chdir("/tmp")
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            env["SLURM_TASK_PID"] = str(os.getpid())
            argv = list(self.spec["argv"])
            try:
                os.execvpe(argv[0], argv, env)
            except OSError as exc:
                os.write(2, f"slurmstepd: error: execve(): {argv[0]}: {exc.strerror}\n".encode())
                os.write(error_fd, b"exec")
                os._exit(EXEC_FAILED)
        except BaseException as exc:  # noqa: BLE001 - everything must reach the parent
            os.write(error_fd, f"{type(exc).__name__}: {exc}".encode()[:4000])
            os._exit(127)

    def _spawn(self, task: Task, use_pty: bool) -> None:
        error_r, error_w = os.pipe2(os.O_CLOEXEC)
        terminal = None
        if use_pty:
            master, terminal = pty.openpty()
            if self.spec.get("winsize"):
                rows, cols = (int(v) for v in self.spec["winsize"])
                fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.set_inheritable(master, False)
            os.set_inheritable(terminal, False)
            child_fds = (terminal, terminal, terminal)
            mine = [(master, stepio.STDOUT)]
            task.stdin = master
        else:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            child_fds = (in_r, out_w, err_w)
            mine = [(out_r, stepio.STDOUT), (err_r, stepio.STDERR)]
            task.stdin = in_w
        pid = os.fork()
        if pid == 0:
            os.close(error_r)
            self._exec_task(task, child_fds, terminal, error_w)
        task.pid = pid
        os.close(error_w)
        for fd in set(child_fds):
            os.close(fd)
        error = b""
        while chunk := os.read(error_r, 4096):
            error += chunk
        os.close(error_r)
        if error and error != b"exec":
            task.exec_error = error.decode(errors="replace")
        for fd, stream in mine:
            os.set_blocking(fd, False)
            self.outputs[fd] = (task.procid, stream)
            self.selector.register(fd, selectors.EVENT_READ, ("output", task.procid))
        os.set_blocking(task.stdin, False)

    # -- the connection to srun ----------------------------------------------------------

    def _connect(self) -> None:
        from websockets.sync.client import connect

        self.conn = connect(f"ws://{self.spec['io_addr']}/", open_timeout=10, close_timeout=2,
                            ping_interval=None, compression=None, proxy=None,
                            max_size=None,
                            additional_headers={"Authorization": f"Bearer {self.spec['io_key']}"})
        self._send(stepio.control({"hello": self.node, "tasks": [t.procid for t in self.tasks]}))
        threading.Thread(target=self._receive, daemon=True).start()

    def _receive(self) -> None:
        try:
            for message in self.conn:
                self.inbox.put(message)
                os.write(self.notify_w, b"m")
        except Exception:  # noqa: BLE001 - any failure means srun is gone
            pass
        self.inbox.put(None)
        os.write(self.notify_w, b"x")

    def _send(self, message: str | bytes) -> None:
        if self.conn is None or self.lost:
            return
        try:
            self.conn.send(message)
        except Exception:  # noqa: BLE001 - srun went away; the loop ends the tasks
            self.lost = True

    def _from_srun(self) -> None:
        while True:
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return
            if message is None:
                self.srun_gone = True
                if not self._all_ended():
                    self.lost = True
                    self._terminate()
                continue
            if isinstance(message, bytes):
                procid, _, payload = stepio.parse_data_frame(message)
                for task in self.tasks:
                    if procid in (stepio.ALL_TASKS, task.procid):
                        self._queue_input(task, payload)
                continue
            request = stepio.parse_control(message)
            if "launch" in request or "launch_failed" in request:
                self.verdict = True
            if request.get("launch_failed") and self.launch_failed is None:
                self.launch_failed = str(request["launch_failed"])
                _signal_tree(signal.SIGKILL)  # srun cannot serve them: they never should have run
                self.kill_at = time.time() + 5
            if "signal" in request:
                self._signal_tasks(int(request["signal"]))
            if "winsize" in request and self.spec.get("pty"):
                rows, cols = (int(v) for v in request["winsize"])
                for task in self.tasks:
                    if task.stdin is not None:
                        winsize = struct.pack("HHHH", rows, cols, 0, 0)
                        fcntl.ioctl(task.stdin, termios.TIOCSWINSZ, winsize)

    def _queue_input(self, task: Task, payload: bytes) -> None:
        if task.stdin is None or task.input_ended:
            return
        if payload:
            task.pending_input += payload
        elif self.spec.get("pty"):
            task.pending_input += b"\x04"  # end of file, as a terminal spells it
        else:
            task.input_ended = True
        self._write_input(task)

    def _write_input(self, task: Task) -> None:
        fd = task.stdin
        if fd is None:
            return
        try:
            written = os.write(fd, task.pending_input) if task.pending_input else 0
        except BlockingIOError:
            written = 0
        except OSError:  # the task closed its stdin: what it did not read is dropped
            written, task.input_ended = len(task.pending_input), not self.spec.get("pty")
        task.pending_input = task.pending_input[written:]
        if not task.pending_input and task.input_ended:
            self._close_stdin(task)
            return
        self._watch_input(task, bool(task.pending_input))

    def _watch_input(self, task: Task, writable: bool) -> None:
        """Waits for room in the task's stdin while input is pending (the pty's master is also
        its output, so its registration is widened rather than added)."""
        fd = task.stdin
        assert fd is not None
        events = selectors.EVENT_WRITE if writable else 0
        if fd in self.outputs:
            self.selector.modify(fd, selectors.EVENT_READ | events, ("output", task.procid))
        elif fd in self.selector.get_map():
            if not writable:
                self.selector.unregister(fd)
        elif writable:
            self.selector.register(fd, events, ("input", task.procid))

    def _close_stdin(self, task: Task) -> None:
        fd = task.stdin
        if fd is None or fd in self.outputs:
            return  # a pty's master closes with its output
        if fd in self.selector.get_map():
            self.selector.unregister(fd)
        os.close(fd)
        task.stdin = None
        task.pending_input = b""

    # -- signals and ends ----------------------------------------------------------------

    def _signal_tasks(self, sig: int) -> None:
        for task in self.tasks:
            if task.status is None and task.pid:
                try:
                    os.killpg(task.pid, sig)
                except ProcessLookupError:
                    try:
                        os.kill(task.pid, sig)
                    except ProcessLookupError:
                        pass

    def _terminate(self) -> None:
        if self.kill_at is not None:
            return
        _signal_tree(signal.SIGCONT)
        _signal_tree(signal.SIGTERM)
        self.kill_at = time.time() + self.kill_wait

    def _cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        self._note(f"*** STEP {self.step_name} ON {self.node} CANCELLED AT "
                   f"{_timestamp(time.time())} ***")
        self._terminate()

    def _control(self) -> None:
        request = read_json(self.dir / "control.json") or {}
        if request.get("cancel"):
            self._cancel()
        if request.get("signal"):
            self._signal_tasks(int(request["signal"]))

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for task in self.tasks:
                if task.pid == pid and task.status is None:
                    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 0
                    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
                    task.status = (code, sig)
                    self._close_stdin(task)
                    self._send(stepio.control({"exit": task.procid,
                                               "status": {"exit_code": code, "signal": sig}}))

    def _all_ended(self) -> bool:
        return all(t.status is not None for t in self.tasks)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.flags.add(signum)

    def _handle_flags(self) -> None:
        flags, self.flags = self.flags, set()
        if signal.SIGCHLD in flags:
            self._reap()
        if signal.SIGUSR1 in flags:
            self._control()
        if flags & {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}:
            self._cancel()

    # -- the loop ------------------------------------------------------------------------

    def _read_output(self, fd: int) -> None:
        procid, stream = self.outputs[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:  # a pty whose other side is closed says EIO
            if exc.errno != errno.EIO:
                raise
            data = b""
        if data:
            self._send(stepio.data_frame(procid, stream, data))
            return
        self.selector.unregister(fd)
        del self.outputs[fd]
        task = self.by_procid[procid]
        if task.stdin == fd:  # the pty's master: input and output share it
            task.stdin = None
        os.close(fd)

    def _loop(self) -> None:
        cleanup_at: float | None = None
        while self.outputs or not self._all_ended():
            now = time.time()
            if now >= self.next_sample and not self._all_ended():
                self._sample(now)
            if self.kill_at is not None and now >= self.kill_at:
                _signal_tree(signal.SIGKILL)
                self.kill_at = now + 5
            if self._all_ended() and self.outputs:
                # The tasks are gone; whatever they left holding their output goes too.
                if cleanup_at is None:
                    cleanup_at = now + min(self.kill_wait, 2.0)
                    _signal_tree(signal.SIGTERM)
                elif now >= cleanup_at:
                    _signal_tree(signal.SIGKILL)
                    cleanup_at = now + 1.0
                    if not _descendants(os.getpid()):
                        for fd in list(self.outputs):
                            self._read_output(fd)  # drain what is left, then give up
                        for fd in list(self.outputs):
                            self.selector.unregister(fd)
                            os.close(fd)
                            del self.outputs[fd]
            waits = [w for w in (self.kill_at, cleanup_at, self.next_sample) if w is not None]
            timeout = max(0.01, min(min(waits) - now, 1.0)) if waits else 1.0
            for key, mask in self.selector.select(timeout):
                fd = int(key.fd)
                if key.data == "wake":
                    self._drain(fd)
                    self._handle_flags()
                elif key.data == "inbox":
                    self._drain(fd)
                    self._from_srun()
                else:
                    kind, procid = key.data
                    if mask & selectors.EVENT_WRITE:
                        self._write_input(self.by_procid[procid])
                    if kind == "output" and mask & selectors.EVENT_READ and fd in self.outputs:
                        self._read_output(fd)
            self._handle_flags()
            if self.lost and not self._all_ended():
                self._terminate()
        self._reap()

    @staticmethod
    def _drain(fd: int) -> None:
        try:
            while os.read(fd, 4096):
                pass
        except BlockingIOError:
            pass

    def run(self) -> None:
        write_atomic(self.dir / "supervisor.pid", str(os.getpid()).encode(), sync=False)
        _set_subreaper()
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for sig in HANDLED:
            signal.signal(sig, self._on_signal)
        self.selector.register(wake_r, selectors.EVENT_READ, "wake")
        self.selector.register(self.notify_r, selectors.EVENT_READ, "inbox")
        self._isolate()
        use_pty = bool(self.spec.get("pty"))
        for task in self.tasks:
            self._spawn(task, use_pty and task.localid == 0 and task.procid == 0)
        error = next((t.exec_error for t in self.tasks if t.exec_error), None)
        try:
            self._connect()
        except Exception as exc:  # noqa: BLE001 - srun is unreachable: the step cannot run
            self.lost = True
            error = error or f"cannot reach srun at {self.spec['io_addr']}: {exc}"
            self._terminate()
        if error:
            print(f"step {self.step_name}: {error}", file=sys.stderr, flush=True)
            note = f"slurmstepd: error: task launch failed on {self.node}: {error}\n"
            self._send(stepio.data_frame(self.tasks[0].procid, stepio.STDERR, note.encode()))
        self._loop()
        self._await_verdict()
        self._finish(error)

    def _await_verdict(self, timeout: float = 10.0) -> None:
        """Tasks that ended quickly wait for srun's word that it could serve them: a step
        whose output srun could not open ends FAILED even if its tasks had already ended."""
        deadline = time.time() + timeout
        while not (self.verdict or self.srun_gone or self.lost or self.conn is None) \
                and time.time() < deadline:
            for key, _ in self.selector.select(0.1):
                if key.data == "inbox":
                    self._drain(int(key.fd))
                    self._from_srun()
                elif key.data == "wake":
                    self._drain(int(key.fd))
                    self._handle_flags()

    def _release(self) -> dict[str, Any]:
        """The step is over here: an OOM kill is told, the step's cgroup goes (with whatever
        is left in it), and the job's isolation with it if no one else of the job is here.
        Returns the step's usage."""
        if self.group is not None:
            try:
                kills = self.group.oom_kills()
            except OSError:
                kills = 0
            if kills:
                self.out_of_memory = True
                self._note(oom_note(int(self.spec["job_id"]), str(self.spec["step_id"]), kills))
        usage = self.sampler.final(time.time())
        isolation.close_step(self.group)
        if self.job is not None:
            isolation.leave_job(self.dir.parent, self.job)
        return usage

    def _finish(self, error: str | None) -> None:
        statuses = [t.status or (0, signal.SIGKILL) for t in self.tasks]
        worst = max(((code & 0xFF) << 8 | (sig & 0x7F)) for code, sig in statuses)
        usage = self._release()
        result: dict[str, Any] = {
            "exit_code": worst >> 8, "exit_signal": worst & 0x7F,
            "cancelled": self.cancelled or self.lost, "end_time": time.time(),
            "max_rss_kb": usage["max_rss_kb"], "total_cpu_s": usage["total_cpu_s"],
            "tasks": [{"procid": t.procid, "exit_code": s[0], "signal": s[1]}
                      for t, s in zip(self.tasks, statuses, strict=True)],
        }
        if self.out_of_memory:
            result["out_of_memory"] = True
        if self.launch_failed is not None:
            # As slurmstepd reports a launch it could not complete: exit 1, not a cancel.
            error = error or self.launch_failed
            result.update({"exit_code": 1, "exit_signal": 0, "cancelled": False,
                           "launch_failed": True})
        if error:
            result["error"] = error
        write_json_atomic(self.dir / "status.json", result)
        self._send(stepio.control({"done": True, "cancelled": result["cancelled"]}))
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - srun may already be gone
                pass


def main() -> None:
    task_umask = os.umask(0o077)  # what we create is ours alone; the tasks get theirs back
    StepSupervisor(Path(sys.argv[1]), task_umask).run()


if __name__ == "__main__":
    main()
