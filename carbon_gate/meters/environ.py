"""The environment workloads and `baseline.setup` run with: an allow-list, never the runner's secrets.

Under GitHub Actions the gate's own process may hold a token and the runner's command files
(GITHUB_OUTPUT, GITHUB_ENV, ...). Code from a pull request must see neither, so a workload gets only
the variables a build or a benchmark needs (the names below, in the spirit of tox's `pass_env`),
plus what the config's `environment.pass` adds and each workload's own `env:`. Some names are never
passed, whatever the config says: the token, the runner's files and every `INPUT_*`/`ACTIONS_*`
variable, and every name the config lists under `environment.secrets` (which wins over `pass`, so
`pass: [AWS_*]` with `secrets: [AWS_SECRET_ACCESS_KEY]` keeps the key out).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping

from ..domain import EnvironmentSettings

# What a compiler, an interpreter, a package manager or a GPU library commonly needs; no credentials.
DEFAULT_PASS = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TERM",
    "TMPDIR",
    "TEMP",
    "TMP",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "CONDA_EXE",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONHASHSEED",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "pythonLocation",
    "Python_ROOT_DIR",
    "Python2_ROOT_DIR",
    "Python3_ROOT_DIR",
    "PKG_CONFIG_PATH",
    "LD_LIBRARY_PATH",
    "CC",
    "CXX",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "JAVA_HOME",
    "GOPATH",
    "GOROOT",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_HOME",
    "NVIDIA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NO_COLOR",
    "FORCE_COLOR",
    "CI",
    "GITHUB_ACTIONS",
    "RUNNER_OS",
    "RUNNER_ARCH",
    "ImageOS",
    "ImageVersion",
    "CARBON_GATE_*",  # our own namespace (e.g. the examples' CARBON_GATE_FAST)
)

# Never passed, whatever `environment.pass` says: tokens, and the files through which a step talks to the
# runner (a workload writing GITHUB_STEP_SUMMARY could forge the verdict, GITHUB_ENV the next step's code).
NEVER_PASS = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "INPUT_*",
    "ACTIONS_*",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_OUTPUT",
    "GITHUB_ENV",
    "GITHUB_PATH",
    "GITHUB_STATE",
    "GITHUB_EVENT_PATH",  # ACTIONS_*: ACTIONS_RUNTIME_TOKEN, ACTIONS_ID_TOKEN_REQUEST_*
    "ELECTRICITYMAPS*",
    "WATTTIME*",  # the live-grid providers' default key variables (docs/carbon-aware.md)
)


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


# Frozen, so one shared instance is a safe default argument.
_DEFAULT_SETTINGS = EnvironmentSettings()


def is_passed(name: str, settings: EnvironmentSettings = _DEFAULT_SETTINGS) -> bool:
    """Does `name` reach workloads? Secrets and NEVER_PASS win over every allow pattern."""
    if _matches(name, NEVER_PASS) or _matches(name, settings.secrets):
        return False
    return _matches(name, DEFAULT_PASS) or _matches(name, settings.passes)


def workload_environ(
    settings: EnvironmentSettings = _DEFAULT_SETTINGS, parent: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables of `parent` (default: this process's) that a workload or setup command may see."""
    parent = os.environ if parent is None else parent
    return {k: v for k, v in parent.items() if is_passed(k, settings)}
