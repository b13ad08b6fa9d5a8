"""What GitHub event are we running for? Parsed from `$GITHUB_EVENT_PATH` (docs/github.md)."""

from __future__ import annotations

import json
import os
import re
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
    author: str | None = None  # the PR's author (pull_request.user.login)
    labeled: tuple[str, str] | None = None  # a `labeled` event: (the label added, who added it)
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
    if not isinstance(payload, dict):
        return EventContext(
            name,
            repo,
            note=f"could not read the event payload (JSON {type(payload).__name__}, "
            "not an object); measured and reported only",
        )
    return parse_event(name, payload, repo)


def _obj(value: Any) -> dict[str, Any]:
    """A payload member that should be an object; anything else (null, a list, a string) reads as empty."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def is_commit_sha(value: Any) -> bool:
    """A full commit id (SHA-1, or SHA-256 for repositories that use it); anything else must not reach git."""
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", value) is not None


def _sha(value: Any) -> str | None:
    """A commit id (SHA-1 or SHA-256 hex), else None: it goes to git as an argument, never as an option."""
    return value if is_commit_sha(value) else None


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _is_fork(side: dict[str, Any], key: str, upstream: str | None) -> bool:
    """Does the head come from another repository? A head repository that is null in the payload is a
    fork that was deleted: its token is just as read-only, so it counts as a fork."""
    if key in side and side[key] is None:
        return True
    head_repo = _obj(side.get(key)).get("full_name")
    return bool(head_repo and upstream and head_repo != upstream)


def _labeled(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(label, sender) of a `labeled` action: the one label whose adder the payload names."""
    label, sender = _obj(payload.get("label")).get("name"), _obj(payload.get("sender")).get("login")
    if payload.get("action") != "labeled" or not isinstance(label, str) or not isinstance(sender, str):
        return None
    return label, sender


def parse_event(name: str, payload: dict[str, Any], repo: str | None = None) -> EventContext:
    """Pure: an event name and payload into the context."""
    payload = _obj(payload)
    repo = repo or _obj(payload.get("repository")).get("full_name")
    if name in ("pull_request", "pull_request_target"):
        pr = _obj(payload.get("pull_request"))
        base, head = _obj(pr.get("base")), _obj(pr.get("head"))
        base_repo = _obj(base.get("repo")).get("full_name") or repo
        return EventContext(
            name,
            repo,
            _number(pr.get("number")) or _number(payload.get("number")),
            _sha(base.get("sha")),
            _sha(head.get("sha")),
            base.get("ref"),
            head.get("ref"),
            fork=_is_fork(head, "repo", base_repo),
            labels=tuple(str(lbl.get("name", "")) for lbl in _list(pr.get("labels")) if isinstance(lbl, dict)),
            author=_obj(pr.get("user")).get("login"),
            labeled=_labeled(payload),
        )
    if name == "push":
        before, after = _sha(payload.get("before")), _sha(payload.get("after"))
        if after == ZERO_SHA or payload.get("deleted") is True:
            gone = f"{payload.get('ref') or 'the ref'} was deleted: no commit to measure, nothing compared"
            return EventContext(name, repo, before=before, after=after, head_ref=payload.get("ref"), note=gone)
        new = before in (None, ZERO_SHA)
        return EventContext(
            name,
            repo,
            before=before,
            after=after,
            head_sha=after,
            base_sha=None if new else before,
            head_ref=payload.get("ref"),
            new_branch=new,
            note="new branch: nothing to compare with, measured and reported only" if new else None,
        )
    if name == "merge_group":  # gated like a push of the queued commit against its base
        group = _obj(payload.get("merge_group"))
        base_sha, head_sha = _sha(group.get("base_sha")), _sha(group.get("head_sha"))
        return EventContext(
            name,
            repo,
            base_sha=base_sha,
            head_sha=head_sha,
            base_ref=group.get("base_ref"),
            head_ref=group.get("head_ref"),
            before=base_sha,
            after=head_sha,
            note=None
            if base_sha and head_sha
            else "merge group without base and head commits: measured and reported only",
        )
    if name == "workflow_run":
        run = _obj(payload.get("workflow_run"))
        prs = [p for p in _list(run.get("pull_requests")) if isinstance(p, dict)]
        upstream = repo or _obj(run.get("repository")).get("full_name")
        return EventContext(
            name,
            repo,
            _number(prs[0].get("number")) if prs else None,
            head_sha=_sha(run.get("head_sha")),
            head_ref=run.get("head_branch"),
            fork=_is_fork(run, "head_repository", upstream),
        )
    return EventContext(name, repo, note=f"event {name!r}: measured and reported, no comparison")
