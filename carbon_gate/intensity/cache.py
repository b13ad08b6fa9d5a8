"""One cached answer per job: a provider is asked once per (provider, zone, kind) and job, and the
answer, with the time it was fetched, is kept on disk so `run`, the report and `forecast` agree.

Where: $CARBON_GATE_CACHE_DIR, else $RUNNER_TEMP/carbon-gate-grid on a GitHub runner (gone with the
job), else ~/.cache/carbon-gate/grid. On a runner an entry belongs to its job (GITHUB_RUN_ID, attempt
and job id); elsewhere it is reused for LOCAL_TTL. Failures are cached too, so a dead provider costs
one timeout per job, not one per command. A file that cannot be read or written is no cache, never an
error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from . import Reading

LOCAL_TTL = dt.timedelta(minutes=15)
FAILURE_TTL = dt.timedelta(minutes=5)


def cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("CARBON_GATE_CACHE_DIR"):
        return Path(env["CARBON_GATE_CACHE_DIR"])
    if env.get("RUNNER_TEMP"):
        return Path(env["RUNNER_TEMP"]) / "carbon-gate-grid"
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "carbon-gate" / "grid"


def job_id(env: Mapping[str, str]) -> str | None:
    if not env.get("GITHUB_RUN_ID"):
        return None
    return f"{env['GITHUB_RUN_ID']}.{env.get('GITHUB_RUN_ATTEMPT', '1')}.{env.get('GITHUB_JOB', '')}"


def _path(key: tuple[str, str, str, str], env: Mapping[str, str]) -> Path:
    digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:16]
    return cache_dir(env) / f"{key[0]}-{key[2]}-{digest}.json"


def load(key: tuple[str, str, str, str], env: Mapping[str, str], now: dt.datetime) -> Reading | None:
    """The cached reading for this job, or None."""
    try:
        doc = json.loads(_path(key, env).read_text(encoding="utf-8"))
        reading = Reading.from_dict(doc["reading"])
        stored = dt.datetime.fromisoformat(doc["stored_at"])
    except Exception:  # noqa: BLE001 - a missing, foreign or corrupt cache file is simply no cache
        return None
    if (reading.provider, reading.zone, reading.kind) != key[:3]:
        return None
    job = job_id(env)
    if job is not None:
        fresh = doc.get("job") == job
    else:
        fresh = dt.timedelta(0) <= now - stored <= (LOCAL_TTL if reading.error is None else FAILURE_TTL)
    if not fresh:
        return None
    from dataclasses import replace

    return replace(reading, cached=True)


def store(key: tuple[str, str, str, str], reading: Reading, env: Mapping[str, str], now: dt.datetime) -> None:
    from ..fsutil import atomic_write_text

    doc = {"stored_at": now.astimezone(dt.timezone.utc).isoformat(), "job": job_id(env), "reading": reading.to_dict()}
    with contextlib.suppress(OSError):  # a read-only home or full disk only costs another fetch
        atomic_write_text(_path(key, env), json.dumps(doc) + "\n")
