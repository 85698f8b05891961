"""Filename patterns of --output/--error (%j %x %u %N %A %a %J %%), as Slurm expands them."""

from __future__ import annotations

import posixpath


def expand_pattern(pattern: str, *, job_id: int, name: str, user: str, node: str | None,
                   array_job_id: int | None = None, array_task_id: int | None = None) -> str:
    """Fills in what is known; %N stays as written until the job has a node."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch != "%" or i + 1 >= len(pattern):
            out.append(ch)
            i += 1
            continue
        code = pattern[i + 1]
        values = {
            "j": str(job_id), "J": str(job_id), "x": name, "u": user, "%": "%",
            "A": str(array_job_id if array_job_id is not None else job_id),
            "a": str(array_task_id if array_task_id is not None else 4294967294),
        }
        if code == "N":
            out.append(node if node is not None else "%N")
        elif code in values:
            out.append(values[code])
        else:
            out.append("%" + code)
        i += 2
    return "".join(out)


def output_path(pattern: str | None, work_dir: str, **fields: object) -> str:
    """The absolute path of an output file; None means Slurm's default slurm-%j.out."""
    expanded = expand_pattern(pattern or "slurm-%j.out", **fields)  # type: ignore[arg-type]
    return expanded if posixpath.isabs(expanded) else posixpath.join(work_dir, expanded)
