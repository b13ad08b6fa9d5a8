"""One rank of a distributed job (torchrun, Slurm, MPI): who it is, and its single-run results document.

Every rank measures itself and writes its own results file; `carbon-gate merge` sums them into one
job (carbon_gate.merge). The node id tells ranks on one host apart from ranks on another, so a GPU
that several ranks of a node can see is counted once.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .account import Footprint
    from .domain import Sample
    from .grid import GridFactor
    from .meters.meter import MeterPlan


def _int(environ: Mapping[str, str], *keys: str) -> int | None:
    for k in keys:
        v = environ.get(k, "").strip()
        if v.isdigit():
            return int(v)
    return None


def rank_info(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The rank block from torchrun's RANK/WORLD_SIZE/LOCAL_RANK (or Slurm's SLURM_PROCID/SLURM_NTASKS/
    SLURM_LOCALID), or None outside a distributed job. The node is CARBON_GATE_NODE, else SLURM_NODEID,
    else torchrun's GROUP_RANK, else the host name; the job is CARBON_GATE_JOB, else SLURM_JOB_ID,
    else TORCHELASTIC_RUN_ID."""
    env = os.environ if environ is None else environ
    rank = _int(env, "RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK")
    world = _int(env, "WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")
    if rank is None or world is None:
        return None
    node = env.get("CARBON_GATE_NODE") or env.get("SLURM_NODEID") or env.get("GROUP_RANK") or socket.gethostname()
    job = env.get("CARBON_GATE_JOB") or env.get("SLURM_JOB_ID") or env.get("TORCHELASTIC_RUN_ID") or None
    return {
        "rank": rank,
        "world_size": world,
        "local_rank": _int(env, "LOCAL_RANK", "SLURM_LOCALID"),
        "node": str(node),
        "job": job,
    }


def rank_path(path: str, info: dict[str, Any] | None) -> str:
    """`{rank}`, `{node}` and `{local_rank}` in a results path filled in, so ranks never share a file."""
    if info is None:
        return path.replace("{rank}", "0").replace("{node}", "0").replace("{local_rank}", "0")
    return path.format(rank=info["rank"], node=info["node"], local_rank=info.get("local_rank") or 0)


def single_run_results(
    name: str,
    command: str,
    sample: Sample,
    fp: Footprint,
    plan: MeterPlan,
    grid: GridFactor,
    rank: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The results document of one measured run (`measure`, a `measure` block), with its rank if any."""
    from .assess.summary import summarise
    from .pipeline import machine_section
    from .results import Results, WorkloadResult

    summary = summarise([sample.energy_wh], [sample.wall_s], [sample.cpu_s]) if sample.ok else None
    w = WorkloadResult(
        name=name,
        command=command,
        verdict="new" if sample.ok else "error",
        reasons=[sample.error] if sample.error else [],
        samples=[sample],
        summary=summary,
        footprint=fp,
    )
    results = Results(machine=machine_section(plan), grid=grid, workloads=[w], verdict="pass" if sample.ok else "error")
    results.rank = rank
    return results.to_dict()
