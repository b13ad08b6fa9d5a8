"""A stand-in for GitHub's REST API on pytest-httpserver (127.0.0.1), shared by the tests that talk to GitHub.

It keeps state (comments, labels, the PR's head), paginates with `Link: rel="next"` like GitHub, answers
`/user` with the 403 an installation token gets, and can be told to fail a given request with a status. Every
JSON `url` it returns points back at itself, as GitHub Enterprise's do at its own host. The `server` and
`github` fixtures in conftest.py serve it.
"""

from __future__ import annotations

import json
import re

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from carbon_gate.publish.comment import FALLBACK_AUTHOR

REPO = "Codertocat/Hello-World"
PR = 2
HEAD_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
FORBIDDEN = {
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com/rest",
    "status": "403",
}


class FakeGitHub:
    """The REST endpoints carbon-gate uses, with state, on a pytest-httpserver."""

    def __init__(self, server: HTTPServer, repo: str = REPO, pr: int = PR, head_sha: str = HEAD_SHA):
        self.server = server
        self.base = server.url_for("/").rstrip("/")
        self.repo, self.pr, self.head_sha = repo, pr, head_sha
        self.login: str | None = None  # None: /user answers 403 like an installation token
        self.comments: list[dict] = []
        self.labels: list[str] = ["bug"]
        self.author = "Codertocat"  # the PR's author (issue.user)
        self.labeled_by: dict[str, str] = {}  # label -> who added it, in the timeline (default: a maintainer)
        self.failures: dict[tuple[str, str], list[tuple[int, dict]]] = {}
        self.requests: list[dict] = []
        self._next_id = 1000
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    # ---- state helpers
    def add_comment(self, body: str, login: str = FALLBACK_AUTHOR) -> dict:
        self._next_id += 1
        cid = self._next_id
        c = {
            "id": cid,
            "node_id": f"IC_{cid}",
            "url": f"{self.base}/repos/{self.repo}/issues/comments/{cid}",
            "html_url": f"{self.base}/{self.repo}/pull/{self.pr}#issuecomment-{cid}",
            "issue_url": f"{self.base}/repos/{self.repo}/issues/{self.pr}",
            "body": body,
            "user": {
                "login": login,
                "id": hash(login) % 10**8,
                "type": "Bot" if "[bot]" in login else "User",
                "url": f"{self.base}/users/{login}",
                "html_url": f"{self.base}/{login}",
            },
            "created_at": "2024-05-01T10:00:00Z",
            "updated_at": "2024-05-01T10:00:00Z",
            "author_association": "NONE",
        }
        self.comments.append(c)
        return c

    def fail(self, method: str, path: str, *statuses: int, body: dict | None = None) -> None:
        """Answer the next len(statuses) `method path` requests with these statuses."""
        self.failures.setdefault((method, path), []).extend((s, body or {"message": f"HTTP {s}"}) for s in statuses)

    def calls(self, method: str | None = None, path: str | None = None) -> list[dict]:
        return [
            r
            for r in self.requests
            if (method is None or r["method"] == method) and (path is None or r["path"] == path)
        ]

    @property
    def writes(self) -> list[dict]:
        return [r for r in self.requests if r["method"] in ("POST", "PATCH", "PUT", "DELETE")]

    # ---- paths
    @property
    def issue_path(self) -> str:
        return f"/repos/{self.repo}/issues/{self.pr}"

    @property
    def comments_path(self) -> str:
        return f"{self.issue_path}/comments"

    # ---- the server side
    def handle(self, request: Request) -> Response:
        body = request.get_data(as_text=True)
        record = {
            "method": request.method,
            "path": request.path,
            "args": dict(request.args),
            "auth": request.headers.get("Authorization", ""),
            "json": json.loads(body) if body else None,
        }
        self.requests.append(record)
        queued = self.failures.get((request.method, request.path))
        if queued:
            status, payload = queued.pop(0)
            return self._json(payload, status)
        m, path = request.method, request.path
        if (m, path) == ("GET", "/user"):
            if self.login is None:
                return self._json(FORBIDDEN, 403)
            return self._json({"login": self.login, "id": 1, "type": "User", "url": f"{self.base}/users/{self.login}"})
        if (m, path) == ("GET", self.issue_path):
            return self._json(self._issue())
        if (m, path) == ("GET", f"/repos/{self.repo}/pulls/{self.pr}"):
            return self._json(
                {
                    "number": self.pr,
                    "url": f"{self.base}/repos/{self.repo}/pulls/{self.pr}",
                    "html_url": f"{self.base}/{self.repo}/pull/{self.pr}",
                    "state": "open",
                    "head": {"sha": self.head_sha, "ref": "changes", "label": "Codertocat:changes"},
                    "base": {"sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "ref": "master"},
                }
            )
        if (m, path) == ("GET", f"{self.issue_path}/labels"):
            return self._json([self._label(n) for n in self.labels])
        if (m, path) == ("GET", f"{self.issue_path}/timeline"):
            return self._json([self._labeled(i, n) for i, n in enumerate(self.labels)])
        if (m, path) == ("GET", self.comments_path):
            return self._page(request)
        if (m, path) == ("POST", self.comments_path):
            c = self.add_comment(record["json"]["body"], self.login or FALLBACK_AUTHOR)
            return self._json(c, 201)
        hit = re.fullmatch(rf"/repos/{re.escape(self.repo)}/issues/comments/(\d+)", path)
        if m == "PATCH" and hit:
            for c in self.comments:
                if c["id"] == int(hit.group(1)):
                    c["body"] = record["json"]["body"]
                    c["updated_at"] = "2024-05-02T10:00:00Z"
                    return self._json(c)
        return self._json({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)

    def _page(self, request: Request) -> Response:
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = int(request.args.get("page", 1))
        items = self.comments[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(self.comments) // per_page))
        links = []
        url = f"{self.base}{request.path}?per_page={per_page}"
        if page < last:
            links += [f'<{url}&page={page + 1}>; rel="next"', f'<{url}&page={last}>; rel="last"']
        if page > 1:
            links += [f'<{url}&page={page - 1}>; rel="prev"', f'<{url}&page=1>; rel="first"']
        resp = self._json(items)
        if links:
            resp.headers["Link"] = ", ".join(links)
        return resp

    def _issue(self) -> dict:
        return {
            "number": self.pr,
            "title": "Update the README with new information.",
            "state": "open",
            "url": f"{self.base}{self.issue_path}",
            "html_url": f"{self.base}/{self.repo}/pull/{self.pr}",
            "comments_url": f"{self.base}{self.comments_path}",
            "labels_url": f"{self.base}{self.issue_path}/labels{{/name}}",
            "labels": [self._label(n) for n in self.labels],
            "comments": len(self.comments),
            "user": {"login": self.author, "id": 21031067, "type": "User", "url": f"{self.base}/users/{self.author}"},
            "pull_request": {"url": f"{self.base}/repos/{self.repo}/pulls/{self.pr}"},
        }

    def _labeled(self, i: int, name: str) -> dict:
        """A timeline `labeled` event, as GitHub sends it."""
        login = self.labeled_by.get(name, "octo-maintainer")
        return {
            "id": 5000 + i,
            "node_id": f"LE_{i}",
            "url": f"{self.base}/repos/{self.repo}/issues/events/{5000 + i}",
            "actor": {"login": login, "id": abs(hash(login)) % 10**8, "type": "Bot" if "[bot]" in login else "User"},
            "event": "labeled",
            "commit_id": None,
            "commit_url": None,
            "created_at": "2024-05-01T10:00:00Z",
            "label": {"name": name, "color": "ededed"},
            "performed_via_github_app": None,
        }

    def _label(self, name: str) -> dict:
        return {
            "id": abs(hash(name)) % 10**8,
            "name": name,
            "color": "ededed",
            "default": False,
            "url": f"{self.base}/repos/{self.repo}/labels/{name}",
        }

    @staticmethod
    def _json(data, status: int = 200) -> Response:
        return Response(
            json.dumps(data),
            status=status,
            content_type="application/json; charset=utf-8",
            headers={"X-GitHub-Media-Type": "github.v3", "X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999"},
        )
