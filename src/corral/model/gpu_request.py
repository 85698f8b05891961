"""What --gpus-per-task, --cpus-per-gpu and --mem-per-gpu fix of a job's request (Slurm's
_set_gpu_defaults / _validate_cpus_per_gpu): the one rule, which the controller's ingest
applies to every request and sbatch, salloc and srun to the body they send.

Pure, over a request as a mapping of its given fields (a key that is absent, or None, was not
asked for), and lean: the commands import it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The fields the rule reads; of these it may change gpus, gpus_per_node, cpus_per_task,
# mem_per_cpu and mem_per_node.
FIELDS = ("num_tasks", "num_nodes", "ntasks_per_node", "cpus_per_task", "gpus", "gpus_per_node",
          "gpus_per_task", "cpus_per_gpu", "mem_per_gpu", "mem_per_node", "mem_per_cpu")


def gpu_derived(given: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the GPU options fix, with their values (only those that change or are set).

    Idempotent: a request that already holds the derived values derives nothing new, so a body
    derived by the command and derived again by the controller is the same job.
    """
    request = {key: value for key, value in given.items() if value is not None}
    out: dict[str, Any] = {}
    tasks = request.get("num_tasks", 1)
    nodes = request.get("num_nodes", 1)
    # No node count (no -N, --ntasks-per-node or -w): the controller spreads the tasks over as
    # many nodes as they need, so their GPUs are a total it spreads with them, as a --gpus
    # total is (-n 4 --gpus-per-task=1 is 4 GPUs in all, not 4 on every node).
    spread = bool(request.get("gpus_per_task")) and "num_nodes" not in request \
        and not request.get("ntasks_per_node")
    if spread:
        out["gpus"] = max(request.get("gpus", 0), request["gpus_per_task"] * tasks)
    elif request.get("gpus_per_task"):
        per_node_tasks = request.get("ntasks_per_node") or -(-tasks // nodes)
        out["gpus_per_node"] = max(request.get("gpus_per_node", 0),
                                   request["gpus_per_task"] * per_node_tasks)
    request.update(out)
    gpus = request.get("gpus_per_node", 0) or -(-request.get("gpus", 0) // nodes)
    if gpus and request.get("cpus_per_gpu"):
        per_node_tasks = request.get("ntasks_per_node") or -(-tasks // nodes)
        out["cpus_per_task"] = request["cpus_per_task"] = max(
            request.get("cpus_per_task", 1), -(-request["cpus_per_gpu"] * gpus // per_node_tasks))
    if not gpus or not request.get("mem_per_gpu") or "mem_per_node" in request:
        return out
    if spread and "mem_per_cpu" not in request:
        # a task's GPUs' memory, on its CPUs: it follows the tasks wherever they land
        per_task = request["mem_per_gpu"] * request["gpus_per_task"]
        out["mem_per_cpu"] = -(-per_task // request.get("cpus_per_task", 1))
    elif not spread:
        out["mem_per_node"] = request["mem_per_gpu"] * gpus
    return out
