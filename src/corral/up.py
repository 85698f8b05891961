"""`corral up`: a controller and N agents on this machine, as real processes, in the foreground."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from corral.client import Client, ControllerUnreachable
from corral.client.locate import default_data_dir
from corral.keyfile import read_or_create
from corral.store.lock import LOCK_NAME, holder, recorded_pid
from corral.store.private import adopt_legacy, ensure_private_dir


def cluster_key(data_dir: Path) -> str:
    """The shared secret agents present to the controller."""
    return read_or_create(ensure_private_dir(data_dir) / "cluster.key")


class AllInOne:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data_dir = Path(args.data_dir or default_data_dir(os.environ)).absolute()
        self.socket = self.data_dir / "corral.sock"
        self.procs: list[subprocess.Popen[bytes]] = []
        # Each agent's command line, to start it again should it die.
        self.agents: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.agent_procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, tuple[float, float]] = {}  # name → (last start, next delay)

    def _spawn(self, argv: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
        # The logs name users' jobs, paths and errors: the controller's user reads them alone,
        # as slurmctld's and slurmd's logs.
        fd = os.open(self.data_dir / "logs" / log_name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        log = os.fdopen(fd, "ab")
        proc = subprocess.Popen([sys.executable, "-m", "corral.entry", *argv], env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def _wait_ready(self, controller: subprocess.Popen[bytes]) -> bool:
        client = Client(str(self.socket), timeout=2)
        deadline = time.time() + 30
        while time.time() < deadline:
            if controller.poll() is not None:
                return False
            try:
                client.ping()
                # The answer counts only once the directory's lock names our controller:
                # until then it may come from another one on the same socket.
                if recorded_pid(self.data_dir / LOCK_NAME) == controller.pid:
                    return True
                time.sleep(0.1)
            except ControllerUnreachable:
                time.sleep(0.1)
            finally:
                client.close()
        return False

    def _log_size(self, name: str) -> int:
        try:
            return (self.data_dir / "logs" / name).stat().st_size
        except FileNotFoundError:
            return 0

    def _refusal(self, name: str, offset: int) -> str | None:
        """The one-line reason a component refused to start, from what it wrote to its log."""
        with open(self.data_dir / "logs" / name, "rb") as log:
            log.seek(offset)
            lines = log.read().decode(errors="replace").splitlines()
        refused = [line for line in lines if line.startswith("corral: error: ")]
        return refused[-1] if refused else None

    def _node_sizes(self) -> tuple[int, int]:
        n = max(1, self.args.nodes)
        cpus = self.args.cpus_per_node or max(1, (len(os.sched_getaffinity(0)) // n))
        memory = self.args.memory_per_node or max(1, psutil.virtual_memory().total // (1024 * 1024) // n)
        return cpus, memory

    def run(self) -> int:
        # Asked before any log is opened: a running controller's files stay as they are.
        running = holder(self.data_dir / LOCK_NAME)
        if running is not None:
            print(f"corral up: error: data directory {self.data_dir} is in use by {running[1]}",
                  file=sys.stderr)
            return 1
        (self.data_dir / "logs").mkdir(mode=0o700, parents=True, exist_ok=True)
        adopt_legacy(self.data_dir)
        key = cluster_key(self.data_dir)
        env = {**os.environ, "CORRAL_CLUSTER_KEY": key}
        ctl_args = ["controller", "--data-dir", str(self.data_dir), "--port", str(self.args.port)]
        if self.args.config:
            ctl_args += ["--config", self.args.config]
        if self.args.kill_wait is not None:
            ctl_args += ["--kill-wait", str(self.args.kill_wait)]
        log_start = self._log_size("controller.log")
        controller = self._spawn(ctl_args, env, "controller.log")
        if not self._wait_ready(controller):
            print(self._refusal("controller.log", log_start) or
                  f"corral up: error: the controller did not start; see {self.data_dir}/logs/controller.log",
                  file=sys.stderr)
            self.stop()
            return 1
        cpus, memory = self._node_sizes()
        names = ([f"node{i}" for i in range(1, self.args.nodes + 1)] if self.args.nodes > 1
                 else [socket.gethostname().split(".")[0]])
        try:
            devices = self._gpu_split(len(names))
        except ValueError as exc:
            print(f"corral up: error: {exc}", file=sys.stderr)
            self.stop()
            return 1
        for name, owned in zip(names, devices, strict=True):
            agent_args = ["agent", "--controller", f"http://127.0.0.1:{self.args.port}",
                          "--name", name, "--cpus", str(cpus), "--memory", f"{memory}M",
                          "--state-dir", str(self.data_dir / "agents" / name)]
            if self.args.gpus_per_node:
                agent_args += ["--gpus", str(self.args.gpus_per_node),
                               "--gpu-devices", ",".join(owned)]
            if self.args.gpu_type:
                agent_args += ["--gpu-type", self.args.gpu_type]
            self.agents[name] = (agent_args, env)
            self._start_agent(name)
        self._wait_nodes(len(names))
        print(f"corral is up: controller on {self.socket} (TCP 127.0.0.1:{self.args.port}), "
              f"{len(names)} node(s) {','.join(names)} with {cpus} CPUs and {memory} MiB each.")
        print("In another shell:")
        print(f"  export CORRAL_CONTROLLER={self.socket}")
        print("  sbatch --wrap 'hostname'; squeue; sinfo; sacct")
        print(f"Logs: {self.data_dir}/logs. Press Ctrl-C to stop.", flush=True)
        return self._wait()

    def _gpu_split(self, nodes: int) -> list[list[str]]:
        """Each node's own GPUs: the nodes of one machine never share a physical device."""
        if not self.args.gpus_per_node:
            return [[] for _ in range(nodes)]
        from corral.agent import gpus  # NVML is looked at only when GPUs are asked for

        found, _ = gpus.discover() if gpus.driver_present() else ([], "")
        return gpus.split(found, nodes, self.args.gpus_per_node)

    def _start_agent(self, name: str) -> None:
        argv, env = self.agents[name]
        old = self.agent_procs.get(name)
        if old is not None and old in self.procs:
            self.procs.remove(old)
        self.agent_procs[name] = self._spawn(argv, env, f"agent-{name}.log")

    def _restart_dead_agents(self) -> None:
        """An agent that died is started again; the others and the controller go on. Its
        jobs' supervisors outlived it, and the new agent picks them up when it registers.
        One that keeps dying is restarted less and less often (1 s doubling up to a minute)."""
        now = time.monotonic()
        for name, proc in list(self.agent_procs.items()):
            code = proc.poll()
            if code is None:
                continue
            started, delay = self.restarts.get(name, (0.0, 1.0))
            if now < started + delay:
                continue
            delay = 1.0 if now - started > 60 else min(delay * 2, 60.0)
            print(f"corral up: the agent of {name} exited ({code}); starting it again "
                  f"(see {self.data_dir}/logs/agent-{name}.log)", file=sys.stderr, flush=True)
            self.restarts[name] = (now, delay)
            self._start_agent(name)

    def _wait_nodes(self, count: int) -> None:
        client = Client(str(self.socket), timeout=2)
        deadline = time.time() + 30
        try:
            while time.time() < deadline:
                try:
                    if len([n for n in client.nodes() if n["responding"]]) >= count:
                        return
                except ControllerUnreachable:
                    pass
                time.sleep(0.1)
        finally:
            client.close()

    def _wait(self) -> int:
        stop = {"now": False}

        def request_stop(*_: object) -> None:
            stop["now"] = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        while not stop["now"]:
            if any(p.poll() is not None for p in self.procs if p not in self.agent_procs.values()):
                print("corral up: the controller exited; stopping (see the logs)", file=sys.stderr)
                self.stop()
                return 1
            self._restart_dead_agents()
            time.sleep(0.2)
        print("\nstopping corral ...", flush=True)
        self.stop()
        return 0

    def stop(self) -> None:
        # Agents first, then the controller; running jobs stay with their supervisors and
        # are picked up again by the next `corral up`.
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
