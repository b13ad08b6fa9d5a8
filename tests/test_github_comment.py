"""GitHub integration, part 2 (docs/github.md): the sticky pull-request comment.

The real client (PyGithub, through `carbon_gate.publish.comment.publish` and the `carbon-gate comment`
CLI) talks to a stand-in for GitHub's REST API served by pytest-httpserver on 127.0.0.1 (fake_github.py, served
by the `github` fixture in conftest.py).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_github import FORBIDDEN, HEAD_SHA, PR, REPO, FakeGitHub
from pytest_httpserver import HTTPServer

from carbon_gate.publish.comment import FALLBACK_AUTHOR, publish, should_comment
from carbon_gate.render.markdown import COMMENT_LIMIT, MARKER, render_markdown

OTHER_SHA = "1" * 40
TOKEN = "ghs_test_installation_token"


def report(text: str = "## ✅ carbon-gate: passed\n\nall good\n") -> str:
    return f"{MARKER}\n{text}"


def post(github: FakeGitHub, body: str, **kw):
    kw.setdefault("policy", "always")
    return publish(body, token=TOKEN, repo=REPO, pr_number=PR, api_url=github.base, backoff=0.01, **kw)


# --------------------------------------------------------------------------------------------------
# publish()


def test_creates_the_comment_when_none_exists(github):
    res = post(github, report())
    assert res.status == "created" and not res.warning
    assert res.url == github.comments[0]["html_url"]
    [create] = github.calls("POST")
    assert create["path"] == github.comments_path
    assert create["json"]["body"].startswith(MARKER)
    assert create["auth"].endswith(TOKEN)  # the token is sent, to our own host only
    assert github.calls("GET", "/user")  # asked who it is; the 403 fell back to the Actions bot
    assert not github.calls("PATCH")
    # what PyGithub asks for with a lazy repository: no GET of the repo or the issue, straight to the comments
    assert not github.calls("GET", f"/repos/{REPO}")
    assert not github.calls("GET", github.issue_path)


def test_marker_is_added_when_missing(github):
    post(github, "plain report")
    assert github.comments[0]["body"].startswith(MARKER)


def test_updates_our_comment_found_on_page_two(github):
    for i in range(30):
        github.add_comment(f"review chatter {i}", login="octocat")
    ours = github.add_comment(report("old numbers"))
    github.add_comment("a later human comment", login="octocat")
    res = post(github, report("new numbers"))
    assert res.status == "updated", res
    assert not github.calls("POST")
    [patch] = github.calls("PATCH")
    assert patch["path"] == f"/repos/{REPO}/issues/comments/{ours['id']}"
    assert "new numbers" in patch["json"]["body"]
    assert ours["body"].endswith("new numbers")
    pages = [r["args"].get("page", "1") for r in github.calls("GET", github.comments_path)]
    assert pages == ["1", "2"]  # followed Link rel="next"
    assert res.url == ours["html_url"]


def test_look_alike_comment_by_someone_else_is_not_edited(github):
    fake = github.add_comment(report("forged by a contributor"), login="mallory")
    res = post(github, report("real numbers"))
    assert res.status == "created"
    assert not github.calls("PATCH")
    assert fake["body"].endswith("forged by a contributor")
    assert github.comments[-1]["user"]["login"] == FALLBACK_AUTHOR


def test_user_token_finds_its_own_login(github):
    github.login = "carbon-bot"
    theirs = github.add_comment(report("bot's old"), login=FALLBACK_AUTHOR)
    mine = github.add_comment(report("mine old"), login="carbon-bot")
    res = post(github, report("fresh"))
    assert res.status == "updated"
    [patch] = github.calls("PATCH")
    assert patch["path"].endswith(f"/{mine['id']}")
    assert theirs["body"].endswith("bot's old")


def test_forbidden_on_create_is_a_warning_not_an_exception(github):
    github.fail("POST", github.comments_path, 403, body=FORBIDDEN)
    res = post(github, report())
    assert res.status == "refused" and res.warning
    assert "403" in res.message and "Resource not accessible by integration" in res.message
    assert "job summary" in res.message
    assert len(github.calls("POST")) == 1  # a plain 403 (no rate limit) is not retried
    assert github.comments == []


def test_retries_a_502_on_reading_comments(github):
    github.fail("GET", github.comments_path, 502)
    res = post(github, report())
    assert res.status == "created"
    assert len(github.calls("GET", github.comments_path)) == 2


def test_retries_a_502_on_create(github):
    github.fail("POST", github.comments_path, 502, 503)
    res = post(github, report())
    assert res.status == "created"
    assert len(github.calls("POST")) == 3
    assert len(github.comments) == 1


def test_gives_up_after_the_retries_with_a_warning(github):
    github.fail("GET", github.comments_path, *[502] * 10)
    res = publish(report(), token=TOKEN, repo=REPO, pr_number=PR, api_url=github.base, retries=2, backoff=0.01)
    assert res.status == "failed" and res.warning
    assert len(github.calls("GET", github.comments_path)) == 3  # 1 + 2 retries
    assert not github.writes


def test_unreachable_api_is_a_warning():
    with HTTPServer(host="127.0.0.1", port=0) as s:  # take a free port, then close it
        base = s.url_for("/").rstrip("/")
    res = publish(report(), token=TOKEN, repo=REPO, pr_number=PR, api_url=base, retries=1, backoff=0.01)
    assert res.status == "failed" and res.warning and "could not reach GitHub" in res.message


def test_oversized_report_is_truncated_before_posting(github):
    body = report("| row |\n" * 20_000)  # ~160 k characters: over GitHub's 65,536
    assert len(body) > COMMENT_LIMIT
    res = post(github, body)
    assert res.status == "created"
    [create] = github.calls("POST")
    sent = create["json"]["body"]
    assert len(sent) <= COMMENT_LIMIT
    assert sent.startswith(MARKER)  # still findable as our sticky comment next time
    assert "Truncated" in sent


def test_oversized_multibyte_report_stays_within_the_limit(github):
    body = report("🌍 " * 50_000)
    post(github, body)
    assert len(github.calls("POST")[0]["json"]["body"]) <= COMMENT_LIMIT


@pytest.fixture(scope="module")
def real_results(tmp_path_factory) -> dict:
    """A results document from the real CLI (two tiny workloads, one failing with hostile stderr)."""
    d = tmp_path_factory.mktemp("results")
    (d / "carbon-gate.yml").write_text(
        "version: 1\ngrid: {intensity: 400 g/kWh, source: test}\ndefaults: {repeats: 2, warmup: 0, timeout: 30s}\n"
        "workloads:\n"
        f"  - name: ok\n    command: [{json.dumps(sys.executable)}, -c, pass]\n    budget: {{energy: 1 Wh}}\n"
        f"  - name: broken\n    command: [{json.dumps(sys.executable)}, -c, "
        "\"import sys; sys.stderr.write('@octocat <b>x</b> ::error::forged\\\\n' * 50); sys.exit(1)\"]\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "carbon_gate", "run", "--mode", "none", "-q"],
        cwd=d,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    return json.loads((d / "carbon-gate-results.json").read_text(encoding="utf-8"))


def test_render_markdown_never_exceeds_the_comment_limit(real_results):
    doc = copy.deepcopy(real_results)
    template = doc["workloads"]
    doc["workloads"] = []
    for i in range(600):
        w = copy.deepcopy(template[i % 2])
        w["name"] = f"workload-{i}-" + "x" * 80
        doc["workloads"].append(w)
    text = render_markdown(doc)
    assert len(text) <= COMMENT_LIMIT
    assert text.startswith(MARKER)
    small = render_markdown(real_results)
    assert len(small) < COMMENT_LIMIT and small.startswith(MARKER)


def test_policy_on_change_with_nothing_to_say_is_skipped(github):
    res = post(github, report(), policy="on-change", changed=False, failing=False)
    assert res.status == "skipped" and not res.warning
    assert not github.writes


def test_policy_on_failure_updates_an_existing_comment_to_all_clear(github):
    old = github.add_comment(report("## ❌ carbon-gate: failed"))
    res = post(github, report("## ✅ carbon-gate: passed"), policy="on-failure", changed=True, failing=False)
    assert res.status == "updated"
    assert "passed" in old["body"] and "failed" not in old["body"]


def test_policy_on_failure_without_failure_or_comment_is_skipped(github):
    res = post(github, report(), policy="on-failure", changed=True, failing=False)
    assert res.status == "skipped"
    assert not github.writes


def test_policy_off_touches_nothing(github):
    res = post(github, report(), policy="off")
    assert res.status == "skipped"
    assert github.requests == []


def test_unknown_policy_is_a_warning_without_a_request(github):
    res = post(github, report(), policy="sometimes")
    assert res.status == "failed" and res.warning and "sometimes" in res.message
    assert github.requests == []


@pytest.mark.parametrize(
    "policy, changed, failing, existing, expected",
    [
        ("always", False, False, False, True),
        ("on-change", True, False, False, True),
        ("on-change", False, True, False, True),
        ("on-change", False, False, False, False),
        ("on-change", False, False, True, True),
        ("on-failure", True, False, False, False),
        ("on-failure", False, True, False, True),
        ("on-failure", False, False, True, True),
        ("off", True, True, True, False),
    ],
)
def test_should_comment(policy, changed, failing, existing, expected):
    assert should_comment(policy, changed, failing, existing) is expected


def test_head_sha_mismatch_refuses_before_touching_comments(github):
    github.add_comment(report("old"))
    res = post(github, report("from a stale artifact"), expected_head_sha=OTHER_SHA)
    assert res.status == "stale" and res.warning
    assert "stale or forged" in res.message
    assert [r["path"] for r in github.requests] == [f"/repos/{REPO}/pulls/{PR}"]


def test_head_sha_match_proceeds(github):
    res = post(github, report(), expected_head_sha=HEAD_SHA)
    assert res.status == "created"
    assert github.requests[0]["path"] == f"/repos/{REPO}/pulls/{PR}"


# --------------------------------------------------------------------------------------------------
# `carbon-gate comment` (the fork-safe workflow_run job), as a subprocess


def comment_cli(github: FakeGitHub, cwd: Path, *args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CARBON_GATE_"))}
    env.update(GITHUB_API_URL=github.base, GITHUB_REPOSITORY=REPO)
    if token:
        env["GITHUB_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "carbon_gate", "comment", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def artifact(tmp_path) -> Path:
    (tmp_path / "carbon-gate-report.md").write_text(report("## ❌ carbon-gate: failed\n"), encoding="utf-8")
    (tmp_path / "carbon-gate-pr.json").write_text(json.dumps({"pr": PR, "head_sha": HEAD_SHA}) + "\n")
    return tmp_path


def test_comment_cli_with_meta(github, artifact):
    proc = comment_cli(github, artifact, "--report", "carbon-gate-report.md", "--meta", "carbon-gate-pr.json")
    assert proc.returncode == 0, proc.stderr
    assert "created comment" in proc.stdout
    assert len(github.calls("POST")) == 1
    assert github.comments[0]["body"].startswith(MARKER) and "failed" in github.comments[0]["body"]
    # again: the sticky comment is edited, not duplicated
    proc = comment_cli(github, artifact, "--report", "carbon-gate-report.md", "--meta", "carbon-gate-pr.json")
    assert proc.returncode == 0 and "updated comment" in proc.stdout
    assert len(github.calls("POST")) == 1 and len(github.calls("PATCH")) == 1


def test_comment_cli_refuses_a_stale_head(github, artifact):
    github.head_sha = OTHER_SHA  # the PR moved on after the artifact was made
    github.add_comment(report("current"))
    proc = comment_cli(github, artifact, "--report", "carbon-gate-report.md", "--meta", "carbon-gate-pr.json")
    assert proc.returncode == 2
    assert "stale or forged" in proc.stderr
    assert not github.writes
    assert not github.calls("GET", github.comments_path)


def test_comment_cli_trusted_head_sha_beats_the_artifact(github, artifact):
    """The artifact says the PR's current head (forged to match); the workflow_run's own head_sha differs."""
    github.head_sha = OTHER_SHA
    (artifact / "carbon-gate-pr.json").write_text(json.dumps({"pr": PR, "head_sha": OTHER_SHA}))
    proc = comment_cli(
        github, artifact, "--report", "carbon-gate-report.md", "--meta", "carbon-gate-pr.json", "--head-sha", HEAD_SHA
    )
    assert proc.returncode == 2
    assert not github.writes


@pytest.mark.parametrize(
    "case",
    [
        "no-marker",
        "marker-later",
        "oversized",
        "not-utf8",
        "bad-sha",
        "short-sha",
        "no-token",
        "bad-meta",
        "missing-report",
        "bad-repo",
    ],
)
def test_comment_cli_refuses_bad_artifacts(github, artifact, case):
    args = ["--report", "carbon-gate-report.md", "--meta", "carbon-gate-pr.json"]
    token = TOKEN
    rpt = artifact / "carbon-gate-report.md"
    if case == "no-marker":
        rpt.write_text("## ✅ looks like a report\n", encoding="utf-8")
    elif case == "marker-later":
        rpt.write_text("@everyone click here\n" + MARKER + "\n", encoding="utf-8")
    elif case == "oversized":
        rpt.write_text(MARKER + "\n" + "x" * (COMMENT_LIMIT * 4 + 10), encoding="utf-8")
    elif case == "not-utf8":
        rpt.write_bytes(MARKER.encode() + b"\n\xff\xfe\xfa bad bytes\n")
    elif case == "bad-sha":
        args = ["--report", "carbon-gate-report.md", "--pr", str(PR), "--head-sha", "$(touch pwned)"]
    elif case == "short-sha":
        (artifact / "carbon-gate-pr.json").write_text(json.dumps({"pr": PR, "head_sha": HEAD_SHA[:12]}))
    elif case == "no-token":
        token = None
    elif case == "bad-meta":
        (artifact / "carbon-gate-pr.json").write_text('{"pr": "two"}')
    elif case == "missing-report":
        rpt.unlink()
    elif case == "bad-repo":
        args += ["--repo", "../../etc"]
    proc = comment_cli(github, artifact, *args, token=token)
    assert proc.returncode == 2, (case, proc.stdout, proc.stderr)
    assert "carbon-gate: error:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert github.requests == []  # refused before any network call
    assert not (artifact / "pwned").exists()


def test_comment_cli_posts_a_large_but_valid_report_truncated(github, artifact):
    (artifact / "carbon-gate-report.md").write_text(report("y" * (COMMENT_LIMIT * 2)), encoding="utf-8")
    proc = comment_cli(github, artifact, "--report", "carbon-gate-report.md", "--meta", "carbon-gate-pr.json")
    assert proc.returncode == 0, proc.stderr
    assert len(github.calls("POST")[0]["json"]["body"]) <= COMMENT_LIMIT


def test_comment_cli_forbidden_is_a_warning(github, artifact):
    github.fail("POST", github.comments_path, 403, body=FORBIDDEN)
    proc = comment_cli(github, artifact, "--report", "carbon-gate-report.md", "--meta", "carbon-gate-pr.json")
    assert proc.returncode == 0
    assert proc.stdout.startswith("::warning::") and "403" in proc.stdout


@pytest.mark.parametrize(
    "policy, conclusion, existing, posted",
    [
        ("on-failure", "failure", False, "created"),  # the measuring run failed: post
        ("on-failure", "success", False, None),  # nothing failed and nothing to update
        ("on-failure", "success", True, "updated"),  # an existing comment becomes "all clear"
        ("on-change", "success", False, "created"),  # a finished report does not say what changed: post
        ("off", "failure", True, None),
    ],
)
def test_comment_cli_policy_with_the_run_conclusion(github, artifact, policy, conclusion, existing, posted):
    if existing:
        github.add_comment(report("earlier"))
    proc = comment_cli(
        github,
        artifact,
        "--report",
        "carbon-gate-report.md",
        "--meta",
        "carbon-gate-pr.json",
        "--policy",
        policy,
        "--run-conclusion",
        conclusion,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(github.calls("POST")) == (posted == "created")
    assert len(github.calls("PATCH")) == (posted == "updated")
    if posted is None:
        assert not github.writes


def test_no_fork_hint_on_a_rate_limit():
    from carbon_gate.publish.comment import fork_hint

    assert "read-only token" in fork_hint(403, "Resource not accessible by integration", {})
    assert fork_hint(403, "You have exceeded a secondary rate limit.", {}) == ""
    assert fork_hint(403, "API rate limit exceeded for installation ID 1.", {"X-RateLimit-Remaining": "0"}) == ""
    assert fork_hint(403, "Forbidden", {"x-ratelimit-remaining": "0"}) == ""
    assert fork_hint(404, "Not Found", {}) == ""
