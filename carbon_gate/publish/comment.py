"""The sticky pull-request comment, through PyGithub (docs/github.md, "The sticky comment").

One comment per PR, found by the report's hidden marker *and* the token's own author, edited in
place. Issue comments, never review comments. Retries with backoff on 5xx, timeouts and secondary
rate limits (PyGithub's GithubRetry). Publishing never changes the gate's verdict: every failure
comes back as a `Published` with a warning for the log, never as an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..render.markdown import COMMENT_LIMIT, MARKER

if TYPE_CHECKING:
    from github import Github

DEFAULT_API_URL = "https://api.github.com"
FALLBACK_AUTHOR = "github-actions[bot]"
POLICIES = ("always", "on-change", "on-failure", "off")


@dataclass(frozen=True)
class Published:
    # stale: the head moved on, nothing touched
    status: Literal["created", "updated", "skipped", "stale", "refused", "failed"]
    message: str
    url: str | None = None

    @property
    def warning(self) -> bool:
        return self.status in ("stale", "refused", "failed")


def should_comment(policy: str, changed: bool, failing: bool, has_existing: bool) -> bool:
    """`always`; `on-change` when something changed or failed; `on-failure` when failing; `off` never.
    An existing comment is always updated, so a stale failure becomes "all clear"."""
    if policy == "off":
        return False
    if has_existing or policy == "always":
        return True
    if policy == "on-failure":
        return failing
    return changed or failing


def client(token: str, api_url: str | None = None, retries: int = 4, backoff: float = 0.5) -> Github:
    """A PyGithub client for github.com or GitHub Enterprise (`api_url` = $GITHUB_API_URL)."""
    from github import Auth, Github, GithubRetry

    retry = GithubRetry(total=retries, backoff_factor=backoff, secondary_rate_wait=30, max_rate_limit_wait=120)
    # lazy: objects are not fetched until an attribute is needed, so the sticky comment goes straight to
    # GET .../issues/N/comments (no GET of the repository or the issue first).
    return Github(
        auth=Auth.Token(token),
        base_url=(api_url or DEFAULT_API_URL).rstrip("/"),
        timeout=20,
        retry=retry,
        seconds_between_requests=None,
        seconds_between_writes=0.2,
        lazy=True,
    )


def label_approval(
    token: str, repo: str, pr_number: int, label: str, api_url: str | None = None, retries: int = 2
) -> tuple[bool, str]:
    """Is `label` on the PR now, added by someone who may approve? Read live: the PR's current labels, then
    its timeline's last `labeled` event for that label (after any `unlabeled`). The PR's author, the token's
    own identity and `github-actions[bot]` (any workflow token, even one a PR's workflow edit obtains) do not
    approve. Returns (approved, how it was decided). Raises on any API failure: the caller fails closed."""
    gh = client(token, api_url, retries=retries)
    issue = gh.get_repo(repo).get_issue(pr_number)
    if label not in [lbl.name for lbl in issue.get_labels()]:
        return False, "labels read through the API: not on the pull request"
    actor = None
    for event in issue.get_timeline():  # oldest first, every page
        raw = event.raw_data or {}
        if raw.get("event") in ("labeled", "unlabeled") and (raw.get("label") or {}).get("name") == label:
            actor = ((raw.get("actor") or {}).get("login")) if raw.get("event") == "labeled" else None
    author = issue.user.login if issue.user is not None else None
    refused = {author, own_login(gh), FALLBACK_AUTHOR} - {None}
    if actor is None:
        return (
            False,
            "labels read through the API: the timeline does not say who added the label, so it does not approve",
        )
    if actor in refused:
        who = "the pull request's author" if actor == author else "the token's own identity"
        return False, f"labels read through the API: added by {actor} ({who}), who cannot approve their own loosening"
    return True, f"labels read through the API: added by {actor}"


def fork_hint(status: int, detail: object, headers: Mapping[str, Any] | None) -> str:
    """The hint for a refused write: a 403 is a read-only token, unless it is GitHub's (secondary) rate limit."""
    limited = (
        "rate limit" in str(detail).lower()
        or {k.lower(): v for k, v in (headers or {}).items()}.get("x-ratelimit-remaining") == "0"
    )
    return (
        " (a fork's read-only token cannot comment: use the workflow_run recipe)"
        if status == 403 and not limited
        else ""
    )


def own_login(gh: Github) -> str:
    """The token's own login; installation tokens (GITHUB_TOKEN) cannot read /user, so fall back to the bot."""
    from github import GithubException

    try:
        return gh.get_user().login
    except GithubException:
        return FALLBACK_AUTHOR


def publish(
    report: str,
    *,
    token: str,
    repo: str,
    pr_number: int,
    api_url: str | None = None,
    policy: str = "always",
    changed: bool = True,
    failing: bool = False,
    expected_head_sha: str | None = None,
    retries: int = 4,
    backoff: float = 0.5,
) -> Published:
    """Create or update the sticky comment on PR `pr_number` of `repo`.

    With `expected_head_sha`, the PR's current head must equal it before anything is touched
    (the fork-safe `workflow_run` flow: a stale or forged artifact must not comment).
    """
    if policy == "off":  # decided before any client exists: `comment: off` never touches the API
        return Published("skipped", "comment policy 'off': no comment posted or updated")
    if policy not in POLICIES:
        return Published(
            "failed",
            f"unknown comment policy {policy!r} (expected {', '.join(POLICIES)}); the report is in the job summary",
        )
    from github import GithubException

    if MARKER not in report:
        report = f"{MARKER}\n{report}"
    if len(report) > COMMENT_LIMIT:  # render_markdown keeps within the limit; a user template might not
        note = "\n\n> ⚠️ Truncated to fit GitHub's comment limit; the full report is in the job summary.\n"
        report = report[: COMMENT_LIMIT - len(note)] + note
    try:
        gh = client(token, api_url, retries, backoff)
        repository = gh.get_repo(repo)
        if expected_head_sha is not None:
            actual = repository.get_pull(pr_number).head.sha
            if actual != expected_head_sha:
                return Published(
                    "stale",
                    f"PR #{pr_number} head is {actual[:12]}, not {expected_head_sha[:12]}, the commit "
                    "the report was made for: the report is stale or forged, so no comment was touched",
                )
        me = own_login(gh)
        issue = repository.get_issue(pr_number)
        existing = None
        for c in issue.get_comments():  # PaginatedList: walks every page
            if MARKER in (c.body or "") and c.user is not None and c.user.login == me:
                existing = c
        if not should_comment(policy, changed, failing, existing is not None):
            return Published("skipped", f"comment policy {policy!r}: nothing to say")
        if existing is not None:
            existing.edit(report)
            return Published("updated", f"updated comment {existing.html_url}", existing.html_url)
        created = issue.create_comment(report)
        return Published("created", f"created comment {created.html_url}", created.html_url)
    except GithubException as exc:
        detail = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
        hint = fork_hint(exc.status, detail, exc.headers)
        return Published(
            "failed" if exc.status != 403 else "refused",
            f"GitHub API answered {exc.status}: {detail}{hint}; the report is in the job summary",
        )
    except Exception as exc:  # noqa: BLE001 - network errors of every kind: publishing never fails the gate
        return Published(
            "failed", f"could not reach GitHub ({type(exc).__name__}: {exc}); the report is in the job summary"
        )
