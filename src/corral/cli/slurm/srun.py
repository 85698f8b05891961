"""srun: run parallel tasks as a job step, inside an allocation or in one it creates.

Inside a job (SLURM_JOB_ID, or --jobid) srun asks the controller for step N.M; outside one it
first gets an allocation (as salloc does), runs the step in it, then releases it. Like Slurm's
srun it listens and the nodes connect back (corral.api.stepio): their tasks' output comes
here, stdin and signals go there, and srun exits with the worst task's status.

Signals (srun(1)): one Ctrl-C prints the tasks' state, a second within a second sends SIGINT
to every task, a third gives up waiting. --quit-on-interrupt and -X send it at once. Other
catchable signals are forwarded to the tasks.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from corral.api import stepio
from corral.cli.common import clusters
from corral.cli.common.allocation import (
    AllocationRefused,
    release,
    request_allocation,
    still_running,
    wait_for_allocation,
)
from corral.cli.common.runner import CommandError
from corral.cli.slurm.srun_io import (
    Output,
    OutputFileError,
    StepServer,
    failure_lines,
    forward_input,
    task_ranges,
    worst_exit,
)
from corral.cli.slurm.srun_options import (
    SrunError,
    SrunOptions,
    allocation_request,
    expand_io_pattern,
    parse_command_line,
    per_task_pattern,
    step_request,
)
from corral.client import Client, ClientError, ControllerUnreachable

USAGE = """Usage: srun [OPTIONS(0)... [executable(0) [args(0)...]]] [ : [OPTIONS(N)...]] executable(N) [args(N)...]
  -N, --nodes=N, -n, --ntasks=ntasks, -c, --cpus-per-task=ncpus, --ntasks-per-node=n,
  -l, --label, -o, --output=out, -e, --error=err, -i, --input=in, -u, --unbuffered, --pty,
  -J, --job-name=name, --jobid=id, -D, --chdir=dir, --export=names, -p, --partition=partition,
  -t, --time=minutes, --mem=MB, --gpus-per-task=n, -G, --gpus=n, -w, --nodelist=hosts,
  -X, --disable-status, --quit-on-interrupt, -O, --overcommit, -Q, --quiet
"""
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGCONT, signal.SIGALRM)
NODE_CONNECT_TIMEOUT = 60.0
JOB_CHECK_INTERVAL = 2.0


def _advertised_address(client: Client, nodes: Sequence[str]) -> tuple[str, str]:
    """(address to bind, address the nodes connect to): loopback when every node is local."""
    if os.environ.get("CORRAL_SRUN_ADDR"):
        return "0.0.0.0", os.environ["CORRAL_SRUN_ADDR"]
    addrs = {n["name"]: n.get("addr") or "" for n in client.nodes()}
    wanted = [addrs.get(n, "") for n in nodes] or list(addrs.values())
    if all(a.startswith("127.") or a in ("", "::1", "localhost") for a in wanted):
        return "127.0.0.1", "127.0.0.1"
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((next(a for a in wanted if a), 9))  # no packet: this only picks a route
        return "0.0.0.0", probe.getsockname()[0]
    except OSError:
        return "0.0.0.0", socket.gethostbyname(socket.gethostname())
    finally:
        probe.close()


class Interrupts:
    """Signals that reached srun; the main loop acts on them (handlers only take note)."""

    def __init__(self, opts: SrunOptions) -> None:
        self.quit = opts.flag("quit-on-interrupt")
        self.disable_status = opts.flag("disable-status")
        self.pending: list[int] = []
        self.last_interrupt = -10.0
        self.last_sent = -10.0

    def install(self) -> None:
        for sig in (signal.SIGINT, *FORWARDED):
            signal.signal(sig, lambda signum, _frame: self.pending.append(signum))

    def take(self) -> list[int]:
        taken = list(self.pending)
        del self.pending[:len(taken)]
        return taken


class StepRun:
    """One step from its creation to its tasks' end."""

    def __init__(self, client: Client, opts: SrunOptions, job_id: int) -> None:
        self.client = client
        self.opts = opts
        self.job_id = job_id
        self.key = os.urandom(32).hex()
        self.server = StepServer(self.key)
        self.reply: dict[str, Any] = {}
        self.kill_deadline: float | None = None
        self.forced = False
        self.term_saved: Any = None

    def create(self, nodes_hint: Sequence[str]) -> None:
        bind, host = _advertised_address(self.client, nodes_hint)
        port = self.server.start(bind)
        body = step_request(self.opts, cwd=os.getcwd(), environ=os.environ,
                            allocated_nodes=len(nodes_hint) or None)
        body.update({"io_addr": f"{host}:{port}", "io_key": self.key})
        if self.opts.flag("pty") and os.isatty(0):
            size = os.get_terminal_size(0)
            body["winsize"] = [size.lines, size.columns]
        if os.environ.get("CORRAL_JOB_TOKEN"):
            body["job_token"] = os.environ["CORRAL_JOB_TOKEN"]
        try:
            self.reply = self.client.request("POST", f"/jobs/{self.job_id}/steps", body)
        except ClientError as exc:
            self.server.stop()
            raise SrunError(*exc.message.splitlines()) from None
        self.work_dir = body["work_dir"]

    @property
    def name(self) -> str:
        return f"StepId={self.job_id}.{self.reply['step_id']}"

    def _output(self) -> Output:
        reply = self.reply
        nodes, counts = reply["nodes"], reply["tasks_per_node"]
        node_of = [i for i, count in enumerate(counts) for _ in range(count)]

        def expand(pattern: str, procid: int) -> str:
            nodeid = node_of[procid]
            return expand_io_pattern(pattern, job_id=self.job_id, step_id=reply["step_id"],
                                     procid=procid, nodeid=nodeid, node=nodes[nodeid],
                                     user=reply.get("user", ""), name=reply.get("job_name", ""),
                                     array_job_id=reply.get("array_job_id"),
                                     array_task_id=reply.get("array_task_id"))

        out, err = self.opts.values.get("output"), self.opts.values.get("error")
        procids = list(range(reply["ntasks"]))
        if out and not per_task_pattern(out) and err is None:
            err = out
        truncate = str(self.opts.values.get("open-mode") or "truncate").lower() != "append"
        return Output(ntasks=reply["ntasks"], label=self.opts.flag("label"), stdout=out,
                      stderr=err, expand=expand, work_dir=self.work_dir, truncate=truncate,
                      procids=procids)

    def _status_lines(self) -> None:
        exits = self.server.exits
        running = [p for p in range(self.reply["ntasks"]) if p not in exits]
        if self.forced:
            print("srun: interrupt (abort already in progress)", file=sys.stderr)
        else:
            print("srun: interrupt (one more within 1 sec to abort)", file=sys.stderr)
        if running:
            noun = "task" if len(running) == 1 else "tasks"
            print(f"srun: {self.name} {noun} {task_ranges(running)}: running", file=sys.stderr)
        ended = [p for p in exits if exits[p] == (0, 0)]
        if ended:
            noun = "task" if len(ended) == 1 else "tasks"
            print(f"srun: {self.name} {noun} {task_ranges(ended)}: exited", file=sys.stderr)
        bad = [p for p in exits if exits[p] != (0, 0)]
        if bad:
            noun = "task" if len(bad) == 1 else "tasks"
            print(f"srun: {self.name} {noun} {task_ranges(bad)}: exited abnormally",
                  file=sys.stderr)
        sys.stderr.flush()

    def _on_signals(self, interrupts: Interrupts) -> bool:
        """Acts on what arrived, as srun(1) describes; True means stop waiting for the tasks."""
        for sig in interrupts.take():
            if sig != signal.SIGINT:
                self.server.signal(sig)
                continue
            now = time.monotonic()
            if interrupts.quit:
                if self._force():
                    return True
            elif now - interrupts.last_interrupt > 1.0 and not interrupts.disable_status:
                self._status_lines()
                interrupts.last_interrupt = now
            elif self.forced or now - interrupts.last_sent < 1.0:
                if self._force():
                    return True
            else:
                print(f"srun: sending Ctrl-C to {self.name}", file=sys.stderr, flush=True)
                interrupts.last_sent = now
                self.server.signal(signal.SIGINT)
                self.kill_deadline = now + 10.0
        return False

    def _force(self) -> bool:
        """Kills the tasks; the second time, gives up waiting for them."""
        if self.forced:
            print("srun: job abort in progress", file=sys.stderr, flush=True)
            return True
        self.forced = True
        print("srun: forcing job termination", file=sys.stderr, flush=True)
        self.server.signal(signal.SIGKILL)
        self.kill_deadline = time.monotonic() + 3.0
        return False

    def _start_input(self) -> None:
        mode = str(self.opts.values.get("input") or "all")
        tasks_of = dict(self.server.node_tasks)
        if self.opts.flag("pty"):
            target = 0
        elif mode == "all":
            target = stepio.ALL_TASKS
        elif mode.isdigit():
            target = int(mode)
        else:
            target = -1
        if target != stepio.ALL_TASKS:
            # Tasks that get no input see end of file at once.
            for node, procids in tasks_of.items():
                for procid in procids:
                    if procid != target:
                        self.server.send(node, stepio.data_frame(procid, stepio.STDIN, b""))
        if target == -1:
            return
        threading.Thread(target=forward_input, args=(self.server, 0, target),
                         kwargs={"tasks_of": tasks_of}, daemon=True).start()

    def _enter_pty(self) -> None:
        if not self.opts.flag("pty") or not os.isatty(0):
            return
        import termios
        import tty

        self.term_saved = termios.tcgetattr(0)
        # TCSANOW: what the user typed ahead stays queued for the remote shell.
        tty.setraw(0, termios.TCSANOW)
        signal.signal(signal.SIGWINCH, lambda *_: self._send_winsize())

    def _send_winsize(self) -> None:
        size = os.get_terminal_size(0)
        self.server.broadcast(stepio.control({"winsize": [size.lines, size.columns]}))

    def _leave_pty(self) -> None:
        if self.term_saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, self.term_saved)
            self.term_saved = None

    def run(self, interrupts: Interrupts, *, watch_job: bool) -> int:
        """Serves the step until every node says its tasks ended; returns srun's exit code."""
        try:
            output = self._output()
        except OutputFileError as exc:  # the tasks already started: the nodes end them, FAILED
            self._launch_failed(str(exc))
            raise SrunError(str(exc)) from None
        self.server.output = output
        self.server.decide(None)
        expected = set(self.reply["nodes"])
        hello: set[str] = set()
        finished: set[str] = set()
        started = time.monotonic()
        next_check = started + JOB_CHECK_INTERVAL
        self._enter_pty()
        try:
            while finished != expected:
                try:
                    kind, node = self.server.events.get(timeout=0.1)
                except queue.Empty:
                    kind, node = "", None
                if kind == "hello":
                    hello.add(node)
                    if hello == expected:
                        self._start_input()
                elif kind == "exit" and self.opts.flag("kill-on-bad-exit"):
                    self._bad_exit(node)
                elif kind in ("done", "lost") and node is not None:
                    finished.add(node)
                    if kind == "lost" and node in expected:
                        self._lost(node)
                if self._on_signals(interrupts):
                    break
                now = time.monotonic()
                if hello != expected and now - started > NODE_CONNECT_TIMEOUT:
                    missing = ",".join(sorted(expected - hello))
                    print(f"srun: error: Timed out waiting for nodes {missing} to start the step",
                          file=sys.stderr)
                    self.server.signal(signal.SIGKILL)
                    break
                if self.kill_deadline is not None and now > self.kill_deadline:
                    if self.forced:
                        break
                    self._force()
                if watch_job and now >= next_check:
                    next_check = now + JOB_CHECK_INTERVAL
                    if not still_running(self.client, self.job_id) and self.kill_deadline is None:
                        print("srun: Job step aborted: Waiting up to 12 seconds for job step "
                              "to finish.", file=sys.stderr, flush=True)
                        self.server.signal(signal.SIGCONT)
                        self.server.signal(signal.SIGTERM)
                        self.kill_deadline = now + 10.0
        finally:
            self._leave_pty()
            self.server.close_all()
            self.server.stop()
            output.close()
        exits = self.server.exits
        for line in failure_lines(self.server.node_tasks, exits):
            print(line, file=sys.stderr)
        unreported = [p for p in range(self.reply["ntasks"]) if p not in exits]
        for procid in unreported:
            exits[procid] = (0, signal.SIGKILL)
        return worst_exit(exits)

    def _bad_exit(self, procid: int) -> None:
        """--kill-on-bad-exit: one task failing ends the others."""
        if self.server.exits.get(procid, (0, 0)) == (0, 0) or self.kill_deadline is not None:
            return
        print(f"srun: Terminating {self.name}", file=sys.stderr, flush=True)
        self.server.signal(signal.SIGCONT)
        self.server.signal(signal.SIGTERM)
        self.kill_deadline = time.monotonic() + 10.0

    def _launch_failed(self, why: str) -> None:
        """Tells each node the step cannot run and waits (briefly) until it has ended its
        tasks: the step ends FAILED, as a launch slurmstepd could not complete, not cancelled."""
        self.server.decide(why)
        expected: set[str] = set(self.reply["nodes"])
        ended: set[str] = set()
        deadline = time.monotonic() + 30.0
        while ended != expected and time.monotonic() < deadline:
            try:
                kind, node = self.server.events.get(timeout=0.1)
            except queue.Empty:
                continue
            if kind in ("done", "lost"):
                ended.add(node)

    def _lost(self, node: str) -> None:
        missing = [p for p in self.server.node_tasks.get(node, []) if p not in self.server.exits]
        if missing:
            print(f"srun: error: Connection to {node} lost: its tasks are ended",
                  file=sys.stderr, flush=True)

    def settle(self, timeout: float = 3.0) -> None:
        """Waits (briefly) until the controller has the step's end, so that releasing the
        allocation right after does not make the step look cancelled."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                job = self.client.job(self.job_id)
            except ClientError:
                return
            steps = [s for s in job.get("steps") or [] if s.get("step_id") == self.reply["step_id"]]
            if not steps or steps[0]["state"] != "RUNNING":
                return
            time.sleep(0.05)


def _srun(client: Client, argv: list[str]) -> int:
    opts = parse_command_line(argv, os.environ)
    if opts.flag("help") or opts.flag("usage"):
        print(USAGE, end="")
        return 0
    if opts.flag("version"):
        print("slurm-wlm 22.05.8")
        return 0
    if not opts.argv:
        raise SrunError("No command given to execute.")
    if opts.values.get("clusters"):  # -M: this cluster (or all), before anything is asked
        clusters.check(client, str(opts.values["clusters"]))
    interrupts = Interrupts(opts)
    interrupts.install()
    job_id = opts.job_id
    if job_id is not None:
        step = StepRun(client, opts, job_id)
        step.create(_job_nodes(client, job_id))
        return step.run(interrupts, watch_job=not os.environ.get("CORRAL_JOB_TOKEN"))
    request = allocation_request(opts, cwd=os.getcwd(), environ=os.environ,
                                 hostname=socket.gethostname().split(".")[0], now=time.time())
    job_id = request_allocation(client, request, "Unable to allocate resources: ")
    ended = (0, 0)  # the step's worst (exit code, signal): the job ends with it, as in Slurm
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        job = wait_for_allocation(client, job_id, "srun", quiet=opts.flag("quiet"))
        interrupts.install()
        opts.values.setdefault("jobid", str(job_id))
        step = StepRun(client, opts, job_id)
        # The step takes the whole allocation unless srun was told otherwise.
        step.create(job.get("nodes") or [])
        code = step.run(interrupts, watch_job=True)
        step.settle()
        ended = worst_status(step.server.exits)
        return code
    except KeyboardInterrupt:
        print(f"srun: Job allocation {job_id} has been revoked", file=sys.stderr)
        return 1
    finally:
        release(client, job_id, *ended)


def worst_status(exits: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """The (exit code, signal) of the task srun's own exit code comes from."""
    return max(exits.values(), key=lambda e: stepio.exit_status_code(*e), default=(0, 0))


def _job_nodes(client: Client, job_id: int) -> list[str]:
    try:
        return list(client.job(job_id).get("nodes") or [])
    except ClientError:
        return []


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    client = Client.from_env()
    try:
        return _srun(client, args)
    except SrunError as exc:
        for line in exc.lines:
            print(line if exc.code == 255 else f"srun: error: {line}", file=sys.stderr)
        if exc.code == 255:
            print('Try "srun --help" for more information', file=sys.stderr)
        return exc.code
    except AllocationRefused as exc:
        for line in exc.lines:
            print(f"srun: error: {line}", file=sys.stderr)
        return 1
    except CommandError as exc:
        print(f"srun: error: {exc.message}", file=sys.stderr)
        return exc.code
    except (ControllerUnreachable, ClientError) as exc:
        print(f"srun: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
