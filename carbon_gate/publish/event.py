"""What GitHub event are we running for? Parsed from `$GITHUB_EVENT_PATH` (DESIGN §9)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class EventContext:
    """The parts of the event carbon-gate acts on."""

    event: str  # pull_request | pull_request_target | push | workflow_run | other names | "" outside Actions
    repo: str | None = None  # owner/name
    pr_number: int | None = None
    base_sha: str | None = None
    head_sha: str | None = None
    base_ref: str | None = None
    head_ref: str | None = None
    fork: bool = False
    labels: tuple[str, ...] = ()
    before: str | None = None
    after: str | None = None
    new_branch: bool = False
    note: str | None = None  # said in the report when the event limits what we do

    @property
    def is_pull_request(self) -> bool:
        return self.pr_number is not None and self.event in ("pull_request", "pull_request_target")


def read_event(env: dict[str, str] | None = None) -> EventContext:
    """Parse the event payload named by GITHUB_EVENT_PATH; outside GitHub Actions, an empty context."""
    env = dict(os.environ) if env is None else env
    name = env.get("GITHUB_EVENT_NAME", "")
    repo = env.get("GITHUB_REPOSITORY")
    path = env.get("GITHUB_EVENT_PATH")
    if not name or not path:
        return EventContext("", repo)
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return EventContext(name, repo, note=f"could not read the event payload ({exc}); measured and reported only")
    return parse_event(name, payload, repo)


def parse_event(name: str, payload: dict[str, Any], repo: str | None = None) -> EventContext:
    """Pure: an event name and payload into the context."""
    repo = repo or (payload.get("repository") or {}).get("full_name")
    if name in ("pull_request", "pull_request_target"):
        pr = payload.get("pull_request") or {}
        base, head = pr.get("base") or {}, pr.get("head") or {}
        head_repo = (head.get("repo") or {}).get("full_name")
        base_repo = (base.get("repo") or {}).get("full_name")
        return EventContext(
            name, repo, pr.get("number") or payload.get("number"), base.get("sha"), head.get("sha"), base.get("ref"),
            head.get("ref"), fork=bool(head_repo and base_repo and head_repo != base_repo),
            labels=tuple(lbl.get("name", "") for lbl in pr.get("labels") or []),
        )
    if name == "push":
        before, after = payload.get("before"), payload.get("after")
        new = before in (None, ZERO_SHA)
        return EventContext(name, repo, before=before, after=after, head_sha=after, base_sha=None if new else before,
                            head_ref=payload.get("ref"), new_branch=new,
                            note="new branch: nothing to compare with, measured and reported only" if new else None)
    if name == "workflow_run":
        run = payload.get("workflow_run") or {}
        prs = run.get("pull_requests") or []
        return EventContext(name, repo, prs[0].get("number") if prs else None, head_sha=run.get("head_sha"),
                            head_ref=run.get("head_branch"),
                            fork=(run.get("head_repository") or {}).get("full_name") not in (None, repo))
    return EventContext(name, repo, note=f"event {name!r}: measured and reported, no comparison")
