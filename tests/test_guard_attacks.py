"""The ways a pull request tried to loosen its own gate (issue 12), each run for real.

Every case is a real git repository whose PR commit makes one loosening edit, gated by `carbon-gate
action` as a subprocess: without the approval label it is blocked (exit 1, `guard.blocked`, the change
listed as loosened, and the base's setting is what was measured with); with the label, added by a
maintainer (a `labeled` payload, no token), the PR's setting applies. Plus the fail-open case: a
shallow clone whose base commit cannot be fetched now blocks, and says how to fix the checkout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
from test_action import PY, clean_env, make_repo, run_action
from test_tamper import labeled_event

BUSY = "import time\nt = time.process_time() + 0.05\nwhile time.process_time() < t: pass\n"
PROFILE = textwrap.dedent("""\
    name: test-box
    match: {{cpu: none, vcpus: 2}}
    curve: {{0: {w}, 100: {w}}}
    embodied: {{total_kg: 1000, lifetime_years: 4, share: 0.5}}
    source: test
    """)


def budget_file(
    *,
    machine: str = "{rapl: off, gpu: off, profile: box.yml}",
    mode: str = "none",
    workload: str = "",
    setup: str = "",
    budget: str = "{energy: 1 Wh}",
    fail_on: str = "",
) -> str:
    text = f"""\
        version: 1
        grid: {{intensity: 400 g/kWh, source: test}}
        machine: {machine}
        defaults: {{repeats: 2, warmup: 0, timeout: 1m, tolerance: 5%}}
        baseline: {{mode: {mode}{", setup: " + setup if setup else ""}}}
        {"gate: {fail_on: " + fail_on + "}" if fail_on else ""}
        workloads:
          - name: work
            command: [{json.dumps(PY)}, work.py]
            budget: {budget}
        """
    return textwrap.dedent(text) + "".join(f"    {line}\n" for line in workload.splitlines())


FILES = {"work.py": BUSY, "box.yml": PROFILE.format(w=50)}


def both(repo, tmp_path: Path):
    """Two runs of the action on the same PR: without the label, then with it (added by a maintainer)."""
    blocked = run_action(repo, tmp_path, api_url=None, token=None)
    blocked_doc = blocked.results()  # the next run writes the same file
    approved = run_action(repo, tmp_path, api_url=None, token=None, event=labeled_event(tmp_path, repo))
    return (blocked, blocked_doc), (approved, approved.results())


def attempt(tmp_path: Path, base: str, head: str, *, head_files: dict[str, str] | None = None, base_files=None):
    repo = make_repo(tmp_path / "repo", base, head, base_files={**FILES, **(base_files or {})}, head_files=head_files)
    return (repo, *both(repo, tmp_path))


def check(blocked_run, approved_run, what: str) -> tuple[dict, dict]:
    """Blocked without the label, with `what` listed as loosened; applied (not blocked) with it."""
    (blocked, b), (approved, a) = blocked_run, approved_run
    assert blocked.code == 1, blocked.log
    assert b["guard"]["blocked"] is True and b["verdict"] == "fail"
    loosened = {c["what"] for c in b["guard"]["changes"] if c["loosened"]}
    assert what in loosened, b["guard"]["changes"]
    assert a["guard"]["approved"] is True and a["guard"]["blocked"] is False, (a["guard"], approved.log)
    return b, a


def energy(doc: dict) -> float:
    return doc["workloads"][0]["median_wh"] if "median_wh" in doc["workloads"][0] else doc["totals"]["energy_wh"]


def test_budget_file_replaced_by_a_symlink(tmp_path):
    """The link's target is new at the base: it once read as "this PR introduces the gate"."""
    base = budget_file(budget="{energy: 0.001 mWh}")
    loose = budget_file(budget="{energy: 1 Wh}", fail_on="[error]")
    repo = make_repo(tmp_path / "repo", base, None, base_files=FILES, head_files={"loose.yml": loose})
    (repo.root / "carbon-gate.yml").unlink()
    (repo.root / "carbon-gate.yml").symlink_to("loose.yml")
    env = clean_env()
    subprocess.run(["git", "commit", "-qam", "symlink"], cwd=repo.root, env=env, check=True)
    repo.head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo.root, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    blocked, approved = both(repo, tmp_path)
    b, a = check(blocked, approved, "budget file")
    assert not any("introduces the gate" in n for n in b["notes"])
    assert b["workloads"][0]["budget"]["limits"]["energy"] == pytest.approx(1e-6)  # the base's, read by path
    assert b["gate"]["fail_on"] == ["regression", "over-budget"]
    assert a["workloads"][0]["budget"]["limits"]["energy"] == pytest.approx(1.0) and approved[0].code == 0


def test_profile_file_edited_in_place(tmp_path):
    base = budget_file()
    _, blocked, approved = attempt(tmp_path, base, base, head_files={"box.yml": PROFILE.format(w=0.05)})
    b, a = check(blocked, approved, "machine.profile file box.yml")
    assert energy(a) < energy(b) / 50  # measured with the base's 50 W curve unless approved


def test_packaged_profile_chosen(tmp_path):
    _, blocked, approved = attempt(
        tmp_path, budget_file(), budget_file(machine="{rapl: off, gpu: off, profile: github-linux-x64-2vcpu}")
    )
    b, a = check(blocked, approved, "machine.profile")
    assert energy(a) < energy(b) / 5


def test_extrapolate_lowered(tmp_path):
    base = budget_file(workload="extrapolate: {to: 100000}", budget="{projected: {energy: 1 Wh}}")
    head = budget_file(workload="extrapolate: {to: 1}", budget="{projected: {energy: 1 Wh}}")
    _, blocked, approved = attempt(tmp_path, base, head)
    b, a = check(blocked, approved, "work: extrapolate.to")
    assert b["workloads"][0]["verdict"] == "over-budget"  # the projected full run, at the base's 100000 units
    assert approved[0].code == 0 and a["workloads"][0]["verdict"] != "over-budget"


def test_cwd_pointed_at_a_new_folder(tmp_path):
    """The base cannot run in a folder it lacks, so the workload read as `new`: no regression check."""
    inline = f"-c, {json.dumps('import time; time.sleep(0.02)')}]"
    base = budget_file(mode="paired").replace("work.py]", inline)
    head = budget_file(mode="paired", workload="cwd: moved").replace("work.py]", inline)
    (tmp_path / "repo" / "moved").mkdir(parents=True)
    _, blocked, approved = attempt(tmp_path, base, head, head_files={"moved/.keep": ""})
    b, a = check(blocked, approved, "work: cwd")
    assert b["workloads"][0]["verdict"] != "new"  # both sides ran in the base's folder
    assert a["workloads"][0]["verdict"] == "new"


def test_setup_sabotaging_the_base_tree(tmp_path):
    """The PR's setup deletes the base tree's work.py (the base runs in a `carbon-gate-base-` worktree): a
    real regression became inconclusive. Without the label the base's own setup (none) runs."""
    sabotage = "import os, sys\nif 'carbon-gate-base-' in os.getcwd():\n    os.remove('work.py')\n"
    setup = f"[{json.dumps(PY)}, sabotage.py]"
    base = budget_file(mode="paired")
    head = budget_file(mode="paired", setup=setup)
    slower = BUSY.replace("0.05", "0.15")
    _, blocked, approved = attempt(tmp_path, base, head, head_files={"sabotage.py": sabotage, "work.py": slower})
    b, a = check(blocked, approved, "baseline.setup")
    assert b["workloads"][0]["verdict"] == "regression", b["workloads"][0].get("reasons")
    assert a["workloads"][0]["verdict"] != "regression"  # applied: the base side could not run


def test_embodied_off_and_pue(tmp_path):
    base = budget_file()
    head = budget_file(machine="{rapl: off, gpu: off, profile: box.yml, embodied: off}")
    _, blocked, approved = attempt(tmp_path, base, head)
    b, a = check(blocked, approved, "machine.embodied")
    assert b["machine"]["embodied"] is not None and a["machine"]["embodied"] is None


@pytest.mark.parametrize(
    "edit, what",
    [
        (
            ("{rapl: off, gpu: off, profile: box.yml}", "{rapl: off, gpu: off, profile: box.yml, host_threads: 64}"),
            "machine.host_threads",
        ),
        (("{rapl: off, gpu: off, profile: box.yml}", "{rapl: auto, gpu: off, profile: box.yml}"), "machine.rapl"),
        (("{rapl: off, gpu: off, profile: box.yml}", "{rapl: off, gpu: auto, profile: box.yml}"), "machine.gpu"),
        (
            (
                "{rapl: off, gpu: off, profile: box.yml}",
                "{rapl: off, gpu: off, profile: box.yml, attribution: machine}",
            ),
            "machine.attribution",
        ),
        (("extrapolate: {to: 10}", ""), "work: extrapolate.to"),
    ],
)
def test_other_settings_are_blocked_and_applied(tmp_path, edit, what):
    before, after = edit
    if before.startswith("{"):
        base, head = budget_file(machine=before), budget_file(machine=after)
    else:
        base, head = budget_file(workload=before), budget_file(workload=after)
    _, blocked, approved = attempt(tmp_path, base, head)
    check(blocked, approved, what)
    assert approved[0].code == 0, approved[0].log


def test_workload_env_is_the_bases_unless_approved(tmp_path):
    scaled = (
        "import os, time\nt = time.process_time() + 0.05 * float(os.environ['WORK_SCALE'])\n"
        "while time.process_time() < t: pass\n"
    )
    base = budget_file(workload="env: {WORK_SCALE: '4'}")
    head = budget_file(workload="env: {WORK_SCALE: '0'}")
    _, blocked, approved = attempt(tmp_path, base, head, base_files={"work.py": scaled})
    b, a = check(blocked, approved, "work: env")
    assert energy(a) < energy(b) / 3


def test_shallow_clone_without_the_base_fails_closed(tmp_path):
    """Stored mode with a 10^6x budget in a clone whose base commit cannot be fetched: it used to pass with
    a note. Now the PR's limits count as loosened, and the note says to check out with fetch-depth: 0."""
    base = budget_file(mode="stored", budget="{energy: 0.001 mWh}")
    head = budget_file(mode="stored", budget="{energy: 1000 Wh}")
    origin = make_repo(tmp_path / "origin", base, head, base_files=FILES)
    env = clean_env()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth=1", f"file://{origin.root}", str(clone)], env=env, check=True)
    # Like a private repository checked out with persist-credentials: false and no token: unreachable.
    subprocess.run(
        ["git", "remote", "set-url", "origin", "http://127.0.0.1:9/private.git"], cwd=clone, env=env, check=True
    )
    repo = type(origin)(clone, origin.base, origin.head)
    blocked, approved = both(repo, tmp_path)
    b, _ = check(blocked, approved, "base commit")
    assert any("`fetch-depth: 0`" in n for n in b["notes"]), b["notes"]
    assert approved[0].code == 0, approved[0].log
    assert os.path.isfile(clone / ".git" / "shallow")


def test_the_base_is_fetched_with_the_token_scoped_to_the_github_server(tmp_path):
    """A real git fetch over HTTP against a local stand-in: the first attempt carries no credentials, the
    second the token as actions/checkout sends it, and only to the GitHub server's URL."""
    import base64

    from pytest_httpserver import HTTPServer
    from werkzeug import Response

    from carbon_gate import gitctx

    origin = make_repo(tmp_path / "origin", budget_file(), budget_file(), base_files=FILES)
    env = clean_env()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth=1", f"file://{origin.root}", str(clone)], env=env, check=True)
    seen: list[str] = []

    def handler(request):
        seen.append(request.headers.get("Authorization", ""))
        return Response("not found", status=404)

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        server.expect_request(re.compile(".*")).respond_with_handler(handler)
        github = server.url_for("/").rstrip("/")
        subprocess.run(["git", "remote", "set-url", "origin", f"{github}/o/r.git"], cwd=clone, env=env, check=True)
        assert gitctx.ensure_commit(clone, origin.base, token="ghs_fetch_me", server_url=github) is False
        basic = base64.b64encode(b"x-access-token:ghs_fetch_me").decode()
        assert seen[0] == "" and f"basic {basic}" in seen[1:], seen
        seen.clear()
        assert gitctx.ensure_commit(clone, origin.base, token="ghs_fetch_me", server_url="https://github.com") is False
        assert seen and not any(seen), seen  # another server: the header is never sent here
    finally:
        server.clear()
        server.stop()
