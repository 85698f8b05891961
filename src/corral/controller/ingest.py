"""Ingest: one job request, from the body that was sent to the JobSpec that admission queues,
as a chain of small stages (Flux's job-ingest: validators | frobnicators).

    body ── validators ──► identity ──► JobSpec ── frobnicators ──► admission (partition,
    (SubmitRequest)       (auth)                   (derived values)   spread, defaults)

- validators (validation.VALIDATORS) check the request as it was sent, in order, and the first
  that fails answers with Slurm's words; they read nothing the frobnicators change, so running
  them first keeps which error a bad body gets.
- frobnicators (FROBNICATORS) fill in what the request implies: today the GPU options' rule
  (model.gpu_request), so a body sent through the API with --cpus-per-gpu or --mem-per-gpu is
  sized as sbatch's is. Each takes and returns a Request; a stage that changes nothing returns
  it as it came.
- defaults that need the chosen partition and the job's spread (its time limit, DefMemPerCPU)
  are the last stage, in admission.build_job through default_time_limit and default_memory.

The request is one JobSpec plus the names of the fields the body gave: a rule may depend on
whether a field was asked for (-N given or not), which a default value cannot say.
"""

from __future__ import annotations

import grp
from collections.abc import Callable
from dataclasses import dataclass, replace

from corral.api.schemas import SubmitRequest
from corral.controller.auth import Caller, job_identity, user_name
from corral.controller.validation import check_submission
from corral.model.cluster import Partition
from corral.model.gpu_request import FIELDS as GPU_FIELDS
from corral.model.gpu_request import gpu_derived
from corral.model.job import JobSpec

# Of the fields the GPU rule reads, those whose presence it asks about and whose default is a
# value rather than None (a None field is not given, whatever the body said).
_GIVEN_OR_DEFAULT = ("num_nodes",)


@dataclass(frozen=True, slots=True)
class Request:
    """A job request between stages: the spec and the names of the fields the body gave."""

    spec: JobSpec
    given: frozenset[str]


Frobnicator = Callable[[Request], Request]


def derive_gpus(request: Request) -> Request:
    """--gpus-per-task, --cpus-per-gpu and --mem-per-gpu fix the GPUs, CPUs and memory."""
    spec = request.spec
    asked = {key: getattr(spec, key) for key in GPU_FIELDS
             if key not in _GIVEN_OR_DEFAULT or key in request.given}
    changes = {key: value for key, value in gpu_derived(asked).items()
               if getattr(spec, key) != value}
    if not changes:
        return request
    return Request(replace(spec, **changes), request.given | frozenset(changes))


FROBNICATORS: tuple[Frobnicator, ...] = (derive_gpus,)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def from_body(body: SubmitRequest, caller: Caller) -> Request:
    """The body as a JobSpec, run as the caller (or whom root names)."""
    uid, gid = job_identity(caller, body.uid, body.gid)
    fields = body.model_dump(exclude={"uid", "gid"})
    spec = JobSpec(**{**fields, "argv": tuple(body.argv), "req_nodes": tuple(body.req_nodes),
                      "exc_nodes": tuple(body.exc_nodes)},
                   uid=uid, gid=gid, user=user_name(uid), group=group_name(gid))
    return Request(spec, frozenset(body.model_fields_set))


def frobnicate(request: Request) -> Request:
    for frobnicator in FROBNICATORS:
        request = frobnicator(request)
    return request


def ingest(body: SubmitRequest, caller: Caller) -> JobSpec:
    """The JobSpec a submitted body asks for; raises InvalidRequest or PermissionDenied."""
    check_submission(body, caller)
    return frobnicate(from_body(body, caller)).spec


def default_time_limit(spec: JobSpec, partition: Partition) -> int | None:
    """--time, else the partition's DefaultTime, else its MaxTime (None: unlimited)."""
    if spec.time_limit is not None:
        return spec.time_limit
    return partition.default_time if partition.default_time is not None else partition.max_time


def default_memory(spec: JobSpec, def_mem_per_cpu: int) -> int:
    """A node's memory: --mem, else --mem-per-cpu (or DefMemPerCPU) times its CPUs."""
    if spec.mem_per_node is not None:
        return spec.mem_per_node
    return (spec.mem_per_cpu or def_mem_per_cpu) * spec.cpus_per_node()
