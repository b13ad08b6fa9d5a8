"""GitHub integration, part 1 (docs/github.md): the event payload and the workflow-command layer.

`parse_event` / `read_event` are fed GitHub's own webhook payloads (tests/fixtures/github-events/),
edited where a variant is needed (a fork, a new branch, a workflow_run for a PR). The workflow
commands, outputs and step summary written by `carbon_gate.publish.actions` are read back with a
parser that follows the GitHub runner's rules, so a value that could end a heredoc early or forge a
command shows up as a wrong parse, not as a string comparison that happens to hold.
"""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import pytest

from carbon_gate.publish import actions
from carbon_gate.publish.event import ZERO_SHA, EventContext, parse_event, read_event

EVENTS = Path(__file__).resolve().parent / "fixtures" / "github-events"  # real payloads, see its README


def payload(name: str) -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture
def pr_payload() -> dict:
    return payload("pull_request-opened.payload.json")


# --------------------------------------------------------------------------------------------------
# A parser for what the runner reads: workflow commands (ActionCommand.TryParseV2) and $GITHUB_OUTPUT.

_DATA_UNESCAPE = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROP_UNESCAPE = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))


def _unescape(text: str, table) -> str:
    for k, v in table:
        text = text.replace(k, v)
    return text


def parse_command(line: str) -> tuple[str, dict[str, str], str] | None:
    """`::name k=v,k=v::message` as the runner parses it (leading whitespace trimmed); None if not one."""
    line = line.lstrip()
    if not line.startswith("::"):
        return None
    end = line.find("::", 2)
    if end < 0:
        return None
    head, message = line[2:end], line[end + 2 :]
    name, _, props_text = head.partition(" ")
    props = {}
    for item in filter(None, props_text.split(",")):
        key, _, value = item.partition("=")
        props[key] = _unescape(value, _PROP_UNESCAPE)
    return name, props, _unescape(message, _DATA_UNESCAPE)


def parse_output_file(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT as the runner reads it: `name=value` lines and `name<<DELIM` heredocs."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        eq, hd = line.find("="), line.find("<<")
        if hd >= 0 and (eq < 0 or hd < eq):
            name, delim = line[:hd], line[hd + 2 :]
            assert name and delim, f"malformed heredoc start: {line!r}"
            body = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"heredoc for {name!r} never ends (delimiter {delim!r})"
            out[name] = "\n".join(body)
        else:
            assert eq > 0, f"not an output line: {line!r}"
            out[line[:eq]] = line[eq + 1 :]
        i += 1
    return out


# --------------------------------------------------------------------------------------------------
# Events


def test_pull_request_opened(pr_payload):
    ctx = parse_event("pull_request", pr_payload)
    assert ctx.event == "pull_request"
    assert ctx.repo == "Codertocat/Hello-World"  # from the payload when GITHUB_REPOSITORY is absent
    assert ctx.pr_number == 2
    assert ctx.base_sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert ctx.head_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert (ctx.base_ref, ctx.head_ref) == ("master", "changes")
    assert ctx.fork is False
    assert ctx.labels == ("bug",)
    assert ctx.is_pull_request
    assert ctx.note is None


def test_pull_request_repository_env_wins(pr_payload):
    ctx = parse_event("pull_request", pr_payload, repo="octo/other")
    assert ctx.repo == "octo/other"


def test_pull_request_from_a_fork(pr_payload):
    fork = copy.deepcopy(pr_payload)
    fork["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    ctx = parse_event("pull_request", fork)
    assert ctx.fork is True
    assert ctx.is_pull_request and ctx.pr_number == 2
    # the base side is still the upstream repository's
    assert ctx.repo == "Codertocat/Hello-World"
    assert ctx.base_sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"


def test_pull_request_from_a_deleted_fork(pr_payload):
    gone = copy.deepcopy(pr_payload)
    gone["pull_request"]["head"]["repo"] = None
    assert parse_event("pull_request", gone).fork is True


def test_workflow_run_from_a_deleted_fork():
    data = payload("workflow_run-completed.payload.json")
    data["workflow_run"]["head_repository"] = None
    assert parse_event("workflow_run", data).fork is True


@pytest.mark.parametrize("sha", ["--upload-pack=touch pwned", "HEAD", "abc", 40, None, "F" * 40])
def test_shas_that_are_not_commit_ids_are_dropped(pr_payload, sha):
    """The shas go to git as arguments: only a full lower-case hex id is taken."""
    data = copy.deepcopy(pr_payload)
    data["pull_request"]["base"]["sha"] = sha
    ctx = parse_event("pull_request", data)
    assert ctx.base_sha is None and ctx.head_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


@pytest.mark.parametrize("member", ["pull_request", "repository", "labels", "head", "number"])
@pytest.mark.parametrize("value", [None, [], "x", 7, True])
def test_malformed_members_never_raise(pr_payload, member, value):
    data = copy.deepcopy(pr_payload)
    if member in ("labels", "head", "number"):
        data["pull_request"][member] = value
    else:
        data[member] = value
    ctx = parse_event("pull_request", data)
    assert isinstance(ctx, EventContext)
    assert ctx.pr_number is None or isinstance(ctx.pr_number, int)


def test_pull_request_target_is_a_pull_request(pr_payload):
    ctx = parse_event("pull_request_target", pr_payload)
    assert ctx.is_pull_request and ctx.pr_number == 2


def test_push_real_payload():
    data = payload("push-payload.json")
    ctx = parse_event("push", data)
    assert ctx.event == "push"
    assert ctx.before == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert ctx.after == data["after"]
    assert ctx.head_ref == "refs/tags/simple-tag"
    assert ctx.new_branch is False
    # this real payload deletes the tag (after is all zeros): nothing to measure, and the note says so
    assert ctx.head_sha is None and ctx.base_sha is None
    assert ctx.note == "refs/tags/simple-tag was deleted: no commit to measure, nothing compared"
    assert not ctx.is_pull_request and ctx.pr_number is None


def test_push_new_branch_has_nothing_to_compare():
    data = payload("push-payload.json")
    data.update(
        before=ZERO_SHA,
        after="6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        created=True,
        deleted=False,
        ref="refs/heads/feature",
    )
    ctx = parse_event("push", data)
    assert ctx.new_branch is True
    assert ctx.base_sha is None
    assert ctx.head_sha == ctx.after == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert ctx.note and "new branch" in ctx.note


def test_workflow_run_real_payload():
    data = payload("workflow_run-completed.payload.json")
    ctx = parse_event("workflow_run", data)
    assert ctx.head_sha == "3484a3fb816e0859fd6e1cea078d76385ff50625"
    assert ctx.head_ref == "master"
    assert ctx.pr_number is None  # this run was not for a PR
    assert ctx.fork is False
    assert not ctx.is_pull_request  # a workflow_run job never gates; it only comments


def test_workflow_run_for_a_pull_request():
    data = payload("workflow_run-completed.payload.json")
    run = data["workflow_run"]
    run["event"] = "pull_request"
    run["pull_requests"] = [
        {"number": 7, "head": {"sha": run["head_sha"], "ref": "topic"}, "base": {"sha": "a" * 40, "ref": "master"}}
    ]
    ctx = parse_event("workflow_run", data)
    assert ctx.pr_number == 7
    assert ctx.head_sha == "3484a3fb816e0859fd6e1cea078d76385ff50625"
    assert ctx.fork is False
    run["head_repository"]["full_name"] = "mallory/octo-repo"
    assert parse_event("workflow_run", data).fork is True


@pytest.mark.parametrize("name", ["schedule", "workflow_dispatch", "issue_comment", "release"])
def test_other_events_measure_only_with_a_note(name, pr_payload):
    ctx = parse_event(name, pr_payload)
    assert ctx.event == name
    assert not ctx.is_pull_request
    assert ctx.base_sha is None
    assert ctx.note and name in ctx.note and "no comparison" in ctx.note


def test_read_event_from_file(tmp_path, pr_payload):
    path = tmp_path / "event.json"
    path.write_text(json.dumps(pr_payload), encoding="utf-8")
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": "o/r"}
    ctx = read_event(env)
    assert ctx.pr_number == 2 and ctx.repo == "o/r" and ctx.note is None


def test_read_event_outside_actions():
    assert read_event({}) == EventContext("")
    assert read_event({"GITHUB_EVENT_NAME": "push"}).event == ""  # no payload path: nothing to act on


@pytest.mark.parametrize("content", [None, b"", b"{not json", b"\xff\xfe\x00garbage"])
def test_read_event_missing_or_corrupt_payload_is_a_note(tmp_path, content):
    path = tmp_path / "event.json"
    if content is not None:
        path.write_bytes(content)
    ctx = read_event({"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": "o/r"})
    assert ctx.event == "pull_request"
    assert not ctx.is_pull_request
    assert ctx.note and "could not read the event payload" in ctx.note


@pytest.mark.parametrize("content", ["null", "[]", '"pull_request"', "42"])
def test_read_event_non_object_payload_is_a_note(tmp_path, content):
    path = tmp_path / "event.json"
    path.write_text(content, encoding="utf-8")
    ctx = read_event({"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": "o/r"})
    assert ctx.note and not ctx.is_pull_request


# --------------------------------------------------------------------------------------------------
# Workflow commands


def test_escape_data_and_property():
    assert actions.escape_data("100%\r\nnext") == "100%25%0D%0Anext"
    assert actions.escape_data("%0A") == "%250A"  # an already-escaped sequence stays literal
    assert actions.escape_data("a::b,c:d") == "a::b,c:d"  # the message may hold colons and commas
    assert actions.escape_property("a::b,c%\n") == "a%3A%3Ab%2Cc%25%0A"


@pytest.mark.parametrize("text", ["plain", "50%\nof::error::forged", "x,y:z\r\n%0A%25", "::stop-commands::abc"])
def test_annotation_round_trips_through_the_runner_parser(text):
    line = actions.annotation("error", text, file=f"dir/{text}.yml", line=12, title=f"t:{text}")
    assert "\n" not in line and "\r" not in line
    name, props, message = parse_command(line)
    assert name == "error"
    assert props == {"file": f"dir/{text}.yml", "line": "12", "title": f"t:{text}"}
    assert message == text


def test_annotation_format():
    assert actions.annotation("warning", "hello") == "::warning::hello"
    assert (
        actions.annotation("error", "w: over-budget", "carbon-gate.yml", 7, "carbon-gate: over-budget")
        == "::error file=carbon-gate.yml,line=7,title=carbon-gate%3A over-budget::w: over-budget"
    )


def _results(verdicts: list[str]) -> dict:
    return {
        "workloads": [
            {"name": f"w{i}", "verdict": v, "line": 10 + i, "reasons": [f"reason {i}", "two", "three"]}
            for i, v in enumerate(verdicts)
        ]
    }


def test_annotations_for_failing_workloads_only():
    lines = actions.annotations_for(
        _results(["pass", "over-budget", "unchanged", "regression", "error", "new", "inconclusive", "improvement"]),
        "ci/carbon-gate.yml",
    )
    parsed = [parse_command(x) for x in lines]
    assert [p[2].split(":")[0] for p in parsed] == ["w1", "w3", "w4"]
    assert all(p[0] == "error" and p[1]["file"] == "ci/carbon-gate.yml" for p in parsed)
    assert [p[1]["line"] for p in parsed] == ["11", "13", "14"]
    assert parsed[0][1]["title"] == "carbon-gate: over-budget"
    assert parsed[0][2] == "w1: over-budget: reason 1; two"  # at most two reasons


@pytest.mark.parametrize("n, shown, more", [(9, 9, None), (10, 10, None), (11, 9, 2), (25, 9, 16)])
def test_annotations_capped_at_ten(n, shown, more):
    lines = actions.annotations_for(_results(["over-budget"] * n + ["unchanged"] * 3), "carbon-gate.yml")
    assert len(lines) == min(n, 10)
    parsed = [parse_command(x) for x in lines]
    assert [p[2].split(":")[0] for p in parsed[:shown]] == [f"w{i}" for i in range(shown)]
    if more is None:
        assert not any("more failing" in p[2] for p in parsed)
    else:
        assert parsed[-1][2] == f"{more} more failing workloads: see the job summary"
        assert parsed[-1][1]["file"] == "carbon-gate.yml"
        assert shown + more == n


def test_write_outputs_survives_hostile_values(tmp_path):
    out = tmp_path / "output"
    out.write_text("earlier=1\n", encoding="utf-8")  # the runner's file may already hold other steps' lines
    values = {
        "verdict": "pass",
        "tricky": "line one\nghadelimiter_x\nverdict=fail\nEOF\n",
        "delim": "ghadelimiter_00000000000000000000000000000000",
        "empty": "",
        "unicode": "0.5 µWh ✅",
    }
    actions.write_outputs(values, str(out))
    parsed = parse_output_file(out.read_text(encoding="utf-8"))
    assert parsed == {"earlier": "1", **values}
    # every heredoc uses a fresh random delimiter
    delims = re.findall(r"^\w[\w-]*<<(\S+)$", out.read_text(encoding="utf-8"), re.M)
    assert len(delims) == len(values) == len(set(delims))
    assert all(re.fullmatch(r"ghadelimiter_[0-9a-f]{32}", d) for d in delims)


def test_write_outputs_uses_env_and_is_silent_without(tmp_path, monkeypatch):
    out = tmp_path / "o"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    actions.write_outputs({"a": "b"})
    assert parse_output_file(out.read_text()) == {"a": "b"}
    monkeypatch.delenv("GITHUB_OUTPUT")
    actions.write_outputs({"a": "b"})  # outside Actions: no file, no error


def test_write_summary_appends_and_caps_at_one_mib(tmp_path):
    path = tmp_path / "summary.md"
    assert actions.write_summary("# small\n", str(path)) is True
    assert path.read_text(encoding="utf-8") == "# small\n"
    path.unlink()
    big = "é" * 700_000  # 1.4 MB of UTF-8: two bytes per character
    assert actions.write_summary(big, str(path))
    data = path.read_bytes()
    assert len(data) <= actions.SUMMARY_LIMIT == 1_048_576
    text = data.decode("utf-8")  # never cut inside a character
    assert text.startswith("éé") and "truncated" in text.splitlines()[-1]


def test_write_summary_appends(tmp_path):
    path = tmp_path / "summary.md"
    path.write_text("earlier step\n", encoding="utf-8")
    actions.write_summary("# ours\n", str(path))
    assert path.read_text(encoding="utf-8") == "earlier step\n# ours\n"


def test_write_summary_without_env(monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert actions.write_summary("x") is False


def test_stop_commands_wraps_with_a_random_token():
    buf = io.StringIO()
    with actions.stop_commands(buf):
        buf.write("::error::forged\n")
    first, forged, last = buf.getvalue().splitlines()
    m = re.fullmatch(r"::stop-commands::([0-9a-f]{32})", first)
    assert m, first
    assert forged == "::error::forged"
    assert last == f"::{m.group(1)}::"
    buf2 = io.StringIO()
    with actions.stop_commands(buf2):
        pass
    assert buf2.getvalue().splitlines()[0] != first  # a new token each time: a workload cannot guess it


def test_stop_commands_closes_on_error_and_can_be_disabled():
    buf = io.StringIO()
    with pytest.raises(RuntimeError), actions.stop_commands(buf):
        raise RuntimeError("boom")
    first, last = buf.getvalue().splitlines()
    assert last == f"::{first.split('::')[2]}::"
    off = io.StringIO()
    with actions.stop_commands(off, enabled=False):
        off.write("x\n")
    assert off.getvalue() == "x\n"


def test_in_actions():
    assert actions.in_actions({"GITHUB_ACTIONS": "true"})
    assert not actions.in_actions({"GITHUB_ACTIONS": "false"})
    assert not actions.in_actions({})


def test_push_that_deletes_a_branch_measures_nothing():
    data = payload("push-payload.json")
    data.update(
        before="6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        after=ZERO_SHA,
        created=False,
        deleted=True,
        ref="refs/heads/feature",
    )
    ctx = parse_event("push", data)
    assert ctx.head_sha is None and ctx.after == ZERO_SHA and ctx.base_sha is None
    assert ctx.note and "refs/heads/feature was deleted" in ctx.note


def test_merge_group_is_a_push_of_its_head_against_its_base():
    """The shape of octokit/webhooks' merge_group checks_requested example, with the base_sha GitHub sends."""
    data = {
        "action": "checks_requested",
        "merge_group": {
            "head_sha": "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d",
            "base_sha": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "head_ref": "refs/heads/gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64",
            "base_ref": "refs/heads/main",
        },
        "repository": {"full_name": "octo-org/octo-repo"},
    }
    ctx = parse_event("merge_group", data)
    assert (ctx.base_sha, ctx.head_sha) == (
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d",
    )
    assert (ctx.before, ctx.after) == (ctx.base_sha, ctx.head_sha) and ctx.base_ref == "refs/heads/main"
    assert ctx.repo == "octo-org/octo-repo" and not ctx.is_pull_request and ctx.note is None
    del data["merge_group"]["base_sha"]
    assert "measured and reported only" in parse_event("merge_group", data).note
