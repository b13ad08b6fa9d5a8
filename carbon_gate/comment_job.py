"""`carbon-gate comment`: the fork-safe `workflow_run` job that posts a report made elsewhere.

The report and its metadata come from an artifact a pull request's run produced, so both are
untrusted: size-capped, checked for the report marker, and the PR's current head must equal the
head the report was made for before any comment is touched (docs/github.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .publish.comment import Published, publish
from .publish.event import is_commit_sha
from .render.markdown import COMMENT_LIMIT, MARKER

META_LIMIT = 4096  # carbon-gate-pr.json holds two values


@dataclass(frozen=True, kw_only=True)
class CommentJob:
    """What `carbon-gate comment` was asked to do (the token comes from the environment)."""

    report_file: str
    pr_number: int | None
    head_sha: str | None
    meta: str | None
    repo: str
    policy: str
    run_conclusion: str
    token: str | None
    api_url: str | None


def post_comment(job: CommentJob) -> Published:
    """Check the artifact and post or update the sticky comment; a refused artifact is a UsageError."""
    if not job.token:
        raise UsageError("GITHUB_TOKEN is not set: the comment job needs a token with pull-requests: write")
    pr_number, head_sha = _target(job)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", job.repo or ""):
        raise UsageError("--repo owner/name is required (or $GITHUB_REPOSITORY)")
    text = read_report(job.report_file)
    return publish(
        text,
        token=job.token,
        repo=job.repo,
        pr_number=pr_number,
        api_url=job.api_url,
        policy=job.policy,
        failing=job.run_conclusion == "failure",
        expected_head_sha=head_sha,
    )


def _target(job: CommentJob) -> tuple[int, str]:
    """The pull request and head commit: from the options, else from the artifact's metadata."""
    pr_number, head_sha = job.pr_number, job.head_sha
    if job.meta:
        try:
            data = json.loads(Path(job.meta).read_bytes()[:META_LIMIT])
            pr_number = pr_number or int(data["pr"])
            head_sha = head_sha or str(data["head_sha"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{job.meta}: not a carbon-gate artifact ({exc})") from None
    if not pr_number or not head_sha:
        raise UsageError("need --pr and --head-sha (or --meta carbon-gate-pr.json)")
    if not is_commit_sha(head_sha):
        raise UsageError(f"--head-sha {head_sha[:60]!r} is not a commit sha")
    return pr_number, head_sha


def read_report(report_file: str) -> str:
    """An untrusted report: bounded, UTF-8, and starting with carbon-gate's marker."""
    try:
        with open(report_file, "rb") as f:
            raw = f.read(COMMENT_LIMIT * 4 + 1)
    except OSError as exc:
        raise UsageError(f"{report_file}: {exc.strerror or exc}") from None
    if len(raw) > COMMENT_LIMIT * 4:
        raise UsageError(f"{report_file}: larger than any carbon-gate report; refusing an untrusted artifact")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{report_file}: not UTF-8 text; refusing an untrusted artifact") from None
    if not text.startswith(MARKER):
        raise UsageError(f"{report_file}: does not start with the carbon-gate report marker; refusing it")
    return text
