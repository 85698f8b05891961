"""Control groups for jobs and steps: one small interface over cgroup v1 and cgroup v2.

A `Hierarchy` (found by `detect`) creates a `Cgroup` for a relative path with `Limits`
(memory, cpuset, pids, denied device files); a Cgroup takes processes (`attach`), lists and
signals them, kills all of them (`kill`: nothing escapes, nothing stays), reads what they used
(`usage`: CPU time, memory peak, OOM kills) and is removed. `to_record`/`reopen` let a
restarted agent find a job's cgroups again from the paths kept in its job directory.

What each version enforces:

- v1 (one mount per controller, as on this project's development machine): memory
  (memory.limit_in_bytes, and memory.memsw.limit_in_bytes so swap is no way around it),
  cpuset (cpuset.cpus/mems), pids (pids.max), devices (devices.deny for other jobs' GPUs),
  freezer (kill freezes the group first, so no process can fork while it is being killed);
  cpuacct gives CPU time. v1 cgroups nest under the agent's own cgroup in each hierarchy.
- v2 (unified, as on Ubuntu 22.04+): memory.max and memory.swap.max=0, cpuset.cpus,
  pids.max, cgroup.kill (or cgroup.freeze on kernels before 5.14). Device files are not
  restricted on v2 (that needs an eBPF device program): GPUs are isolated by
  CUDA_VISIBLE_DEVICES only. v2 cgroups live under `corral/` at the top of the hierarchy,
  because a v2 cgroup that holds processes (the agent's own) cannot give controllers to
  children; this is what Docker's cgroupfs driver and Slurm without systemd do.

CORRAL_CGROUPS=off|v1|v2 in the agent's environment turns cgroups off or picks a version.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

V1_CONTROLLERS = ("memory", "cpuset", "pids", "devices", "freezer", "cpuacct")
V2_CONTROLLERS = ("memory", "cpuset", "pids")


@dataclass(frozen=True, slots=True)
class Limits:
    memory_bytes: int | None = None
    cpus: tuple[int, ...] = ()
    pids_max: int | None = None
    # ("c", major, minor) device files the processes may not open.
    denied_devices: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_s: float | None = None
    user_cpu_s: float | None = None
    system_cpu_s: float | None = None
    memory_peak_kb: int | None = None   # includes page cache: the kernel's own peak
    rss_kb: int | None = None           # anonymous memory now (what RSS means to users)
    oom_kills: int = 0


class CgroupError(OSError):
    pass


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _keyed(text: str | None) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control)."""
    found: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            found[key] = int(value)
    return found


def format_cpus(cpus: Iterable[int]) -> str:
    """[0, 1, 2, 5] → '0-2,5' (the kernel's cpu list syntax)."""
    ids = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(parts)


def parse_cpus(text: str | None) -> tuple[int, ...]:
    ids: list[int] = []
    for part in (text or "").strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        ids.extend(range(int(low), int(high or low) + 1))
    return tuple(ids)


def _walk(top: Path) -> Iterator[Path]:
    """The cgroup and every cgroup below it, children first (the order rmdir needs)."""
    try:
        children = [p for p in top.iterdir() if p.is_dir()]
    except OSError:
        children = []
    for child in children:
        yield from _walk(child)
    yield top


def _procs(top: Path) -> list[int]:
    pids: list[int] = []
    for group in _walk(top):
        pids.extend(int(p) for p in (_read(group / "cgroup.procs") or "").split())
    return pids


def _rmdir_tree(top: Path, timeout: float = 2.0) -> None:
    """Removes the cgroup and those below it; a cgroup whose last process is still exiting
    answers EBUSY for a moment, so it is tried again until `timeout`."""
    deadline = time.monotonic() + timeout
    for group in _walk(top):
        while True:
            try:
                group.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)


def _signal_all(pids: Iterable[int], sig: int) -> int:
    sent = 0
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            sent += 1
    return sent


class Cgroup:
    """One job's or step's cgroup; the version-specific parts are in the two subclasses."""

    version = 0

    def __init__(self, dirs: Mapping[str, Path]) -> None:
        # v1: controller → directory; v2: {"unified": directory}.
        self.dirs = dict(dirs)

    def _main(self) -> Path:
        return next(iter(self.dirs.values()))

    def to_record(self) -> dict[str, Any]:
        return {"version": self.version, "dirs": {k: str(v) for k, v in self.dirs.items()}}

    def attach(self, pid: int) -> None:
        """Moves `pid` in (in every hierarchy); meant for the job's first process, before exec."""
        for directory in self.dirs.values():
            _write(directory / "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        return _procs(self._main())

    def exists(self) -> bool:
        return self._main().is_dir()

    def signal(self, sig: int) -> int:
        """Sends `sig` to every process in the group and below; returns how many got it."""
        return _signal_all(self.pids(), sig)

    def kill(self, timeout: float = 5.0) -> bool:
        """SIGKILLs everything in the group and waits until it is empty; True when it is."""
        deadline = time.monotonic() + timeout
        self._kill_once()
        while self.pids():
            if time.monotonic() > deadline:
                return False
            self._kill_once()
            time.sleep(0.01)
        return True

    def _kill_once(self) -> None:
        self.signal(signal.SIGKILL)

    def remove(self) -> None:
        for directory in self.dirs.values():
            _rmdir_tree(directory)

    def child(self, name: str, limits: Limits | None = None) -> Cgroup:
        raise NotImplementedError

    def usage(self) -> Usage:
        raise NotImplementedError

    def oom_kills(self) -> int:
        return self.usage().oom_kills

    def controllers(self) -> tuple[str, ...]:
        raise NotImplementedError


class CgroupV1(Cgroup):
    version = 1

    def child(self, name: str, limits: Limits | None = None) -> CgroupV1:
        dirs = {c: d / name for c, d in self.dirs.items()}
        for controller, directory in dirs.items():
            _make(controller, directory)
        group = CgroupV1(dirs)
        if limits is not None:
            group.apply(limits)
        return group

    def apply(self, limits: Limits) -> None:
        d = self.dirs
        if limits.memory_bytes and "memory" in d:
            _write(d["memory"] / "memory.limit_in_bytes", str(limits.memory_bytes))
            memsw = d["memory"] / "memory.memsw.limit_in_bytes"
            if memsw.exists():  # only with swap accounting: then swap counts against the limit
                _write(memsw, str(limits.memory_bytes))
        if limits.cpus and "cpuset" in d:
            _write(d["cpuset"] / "cpuset.cpus", format_cpus(limits.cpus))
        if limits.pids_max and "pids" in d:
            _write(d["pids"] / "pids.max", str(limits.pids_max))
        if limits.denied_devices and "devices" in d:
            for kind, major, minor in limits.denied_devices:
                _write(d["devices"] / "devices.deny", f"{kind} {major}:{minor} rwm")

    def _main(self) -> Path:
        for preferred in ("freezer", "memory", "pids", "cpuacct", "cpuset", "devices"):
            if preferred in self.dirs:
                return self.dirs[preferred]
        return super()._main()

    def _kill_once(self) -> None:
        freezer = self.dirs.get("freezer")
        if freezer is None:
            self.signal(signal.SIGKILL)
            return
        # Frozen processes cannot fork; a SIGKILL sent while frozen takes effect on thaw.
        _write(freezer / "freezer.state", "FROZEN")
        deadline = time.monotonic() + 1.0
        while (_read(freezer / "freezer.state") or "").strip() == "FREEZING" \
                and time.monotonic() < deadline:
            time.sleep(0.005)
        self.signal(signal.SIGKILL)
        _write(freezer / "freezer.state", "THAWED")

    def usage(self) -> Usage:
        d = self.dirs
        cpu_s = user_s = system_s = None
        if "cpuacct" in d:
            total = _read(d["cpuacct"] / "cpuacct.usage")
            cpu_s = int(total) / 1e9 if total and total.strip().isdigit() else None
            stat = _keyed(_read(d["cpuacct"] / "cpuacct.stat"))
            hz = os.sysconf("SC_CLK_TCK")
            if "user" in stat:
                user_s, system_s = stat["user"] / hz, stat.get("system", 0) / hz
        peak = rss = None
        oom = 0
        if "memory" in d:
            text = _read(d["memory"] / "memory.max_usage_in_bytes")
            peak = int(text) // 1024 if text and text.strip().isdigit() else None
            stat = _keyed(_read(d["memory"] / "memory.stat"))
            rss = stat["total_rss"] // 1024 if "total_rss" in stat else None
            # v1 counts an OOM kill only in the victim's own cgroup, not in its parents.
            oom = sum(_keyed(_read(g / "memory.oom_control")).get("oom_kill", 0)
                      for g in _walk(d["memory"]))
        return Usage(cpu_s, user_s, system_s, peak, rss, oom)

    def controllers(self) -> tuple[str, ...]:
        return tuple(self.dirs)


class CgroupV2(Cgroup):
    version = 2

    @property
    def path(self) -> Path:
        return self.dirs["unified"]

    def child(self, name: str, limits: Limits | None = None) -> CgroupV2:
        self.enable_children()  # allowed: a job's cgroup holds no process itself
        directory = self.path / name
        directory.mkdir(exist_ok=True)
        group = CgroupV2({"unified": directory})
        if limits is not None:
            group.apply(limits)
        return group

    def enable_children(self) -> None:
        """Hands this cgroup's controllers down, so its children can be limited and measured."""
        available = set((_read(self.path / "cgroup.controllers") or "").split())
        for controller in V2_CONTROLLERS:
            if controller in available:
                with contextlib.suppress(OSError):
                    _write(self.path / "cgroup.subtree_control", f"+{controller}")

    def apply(self, limits: Limits) -> None:
        p = self.path
        if limits.memory_bytes and (p / "memory.max").exists():
            _write(p / "memory.max", str(limits.memory_bytes))
            if (p / "memory.swap.max").exists():
                _write(p / "memory.swap.max", "0")
        if limits.cpus and (p / "cpuset.cpus").exists():
            _write(p / "cpuset.cpus", format_cpus(limits.cpus))
        if limits.pids_max and (p / "pids.max").exists():
            _write(p / "pids.max", str(limits.pids_max))

    def _kill_once(self) -> None:
        if (self.path / "cgroup.kill").exists():  # Linux 5.14+: one write kills the subtree
            _write(self.path / "cgroup.kill", "1")
            return
        freeze = self.path / "cgroup.freeze"
        if freeze.exists():
            _write(freeze, "1")
        self.signal(signal.SIGKILL)
        if freeze.exists():
            _write(freeze, "0")

    def usage(self) -> Usage:
        p = self.path
        cpu = _keyed(_read(p / "cpu.stat"))  # present with or without the cpu controller
        peak_text = _read(p / "memory.peak")
        stat = _keyed(_read(p / "memory.stat"))
        events = _keyed(_read(p / "memory.events"))  # hierarchical: children's kills count
        return Usage(
            cpu_s=cpu["usage_usec"] / 1e6 if "usage_usec" in cpu else None,
            user_cpu_s=cpu["user_usec"] / 1e6 if "user_usec" in cpu else None,
            system_cpu_s=cpu["system_usec"] / 1e6 if "system_usec" in cpu else None,
            memory_peak_kb=int(peak_text) // 1024 if peak_text and peak_text.strip().isdigit()
            else None,
            rss_kb=stat["anon"] // 1024 if "anon" in stat else None,
            oom_kills=events.get("oom_kill", 0))

    def controllers(self) -> tuple[str, ...]:
        have = set((_read(self.path / "cgroup.controllers") or "").split())
        kill = ("kill",) if (self.path / "cgroup.kill").exists() else ("freeze",)
        return tuple(c for c in V2_CONTROLLERS if c in have) + kill


def _make(controller: str, directory: Path) -> None:
    """mkdir -p for a v1 cgroup; a new cpuset starts with no CPUs and must copy its parent's."""
    missing: list[Path] = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        if controller == "cpuset":
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not (_read(path / name) or "").strip():
                    _write(path / name, (_read(path.parent / name) or "").strip() or "\n")


# ------------------------------------------------------------------------------ hierarchies


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """Where this node's job cgroups go: `base` per controller (v1) or one `base` (v2)."""

    version: int
    bases: Mapping[str, Path]
    mount: Path | None = None  # v2: the mount, from which controllers are handed down

    def describe(self) -> str:
        return f"cgroup/v{self.version}"

    def group(self, rel: str) -> Cgroup:
        dirs = {c: b / rel for c, b in self.bases.items()}
        return CgroupV1(dirs) if self.version == 1 else CgroupV2(dirs)

    def create(self, rel: str, limits: Limits | None = None) -> Cgroup:
        """The cgroup at `rel` below the base (parents created as needed), with `limits`."""
        if self.version == 1:
            made: dict[str, Path] = {}
            for controller, base in self.bases.items():
                try:
                    _make(controller, base / rel)
                    made[controller] = base / rel
                except OSError:
                    continue  # a hierarchy we cannot write to is simply not used
            if not made:
                raise CgroupError(errno.EACCES, f"cannot create cgroup {rel}")
            v1 = CgroupV1(made)
            if limits is not None:
                _apply_or_remove(v1, limits)
            return v1
        assert self.mount is not None
        path = self.mount
        for part in self.bases["unified"].relative_to(self.mount).parts + Path(rel).parts:
            CgroupV2({"unified": path}).enable_children()
            path = path / part
            path.mkdir(exist_ok=True)
        v2 = CgroupV2({"unified": path})
        if limits is not None:
            _apply_or_remove(v2, limits)
        return v2


def _apply_or_remove(group: CgroupV1 | CgroupV2, limits: Limits) -> None:
    """A cgroup whose limits cannot be set is not left behind half made."""
    try:
        group.apply(limits)
    except OSError:
        with contextlib.suppress(OSError):
            group.remove()
        raise


def reopen(record: Mapping[str, Any]) -> Cgroup:
    dirs = {k: Path(v) for k, v in record["dirs"].items()}
    return CgroupV1(dirs) if int(record["version"]) == 1 else CgroupV2(dirs)


def _mounts(proc: Path) -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount point, root within the hierarchy, super options) of each cgroup mount."""
    found = []
    for line in (_read(proc / "self" / "mountinfo") or "").splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((tail[0], fields[4], fields[3], set(tail[2].split(","))))
    return found


def _own_paths(proc: Path) -> dict[str, str]:
    """This process's cgroup per v1 controller, and per "unified" for v2."""
    own: dict[str, str] = {}
    for line in (_read(proc / "self" / "cgroup") or "").splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            own["unified"] = path
        for controller in controllers.split(","):
            own.setdefault(controller, path)
    return own


def _below(mount_root: str, own: str) -> str:
    rel = own[len(mount_root):] if own.startswith(mount_root) else own
    return rel.strip("/")


def detect(instance: str, *, proc: Path = Path("/proc"),
           environ: Mapping[str, str] | None = None) -> tuple[Hierarchy | None, str]:
    """The hierarchy job cgroups of this agent instance go under, or None and why not.

    `instance` names this agent's subtree (several agents may share a machine in tests).
    Nothing is created here; `probe` checks that the hierarchy can actually be written.
    """
    env = os.environ if environ is None else environ
    wanted = env.get("CORRAL_CGROUPS", "").strip().lower()
    if wanted in ("off", "no", "none", "0", "false"):
        return None, "disabled by CORRAL_CGROUPS"
    mounts = _mounts(proc)
    own = _own_paths(proc)
    v1: dict[str, Path] = {}
    unified: Path | None = None
    for fstype, point, root, options in mounts:
        if fstype == "cgroup2":
            unified = Path(point)  # v2 job cgroups go at its top (see the module docstring)
            continue
        for controller in V1_CONTROLLERS:
            if controller in options and controller not in v1:
                v1[controller] = Path(point) / _below(root, own.get(controller, "/")) / "corral" / instance
    if wanted != "v2" and "memory" in v1:
        return Hierarchy(1, v1), "cgroup/v1"
    if wanted != "v1" and unified is not None:
        return Hierarchy(2, {"unified": unified / "corral" / instance}, unified), "cgroup/v2"
    return None, "no cgroup hierarchy mounted" if not mounts else "no usable cgroup hierarchy"


def probe(hierarchy: Hierarchy) -> tuple[str, ...]:
    """Creates and removes a test cgroup; returns the controllers that really work (empty when
    the hierarchy cannot be written, e.g. not root or a read-only /sys/fs/cgroup)."""
    rel = f"probe-{os.getpid()}"
    try:
        group = hierarchy.create(rel)
    except OSError:
        return ()
    try:
        return group.controllers()
    finally:
        with contextlib.suppress(OSError):
            group.remove()
        for directory in group.dirs.values():
            with contextlib.suppress(OSError):  # the instance's own directory, if still empty
                directory.parent.rmdir()
