"""carbon-gate: an energy and carbon budget gate for CI/CD.

`from carbon_gate import measure` gives the in-process meter (a context manager and decorator);
everything else lives behind the `carbon-gate` command.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "measure", "report_metric", "report_units", "to_dataframe"]


def __getattr__(name: str) -> Any:
    # Lazy, so `carbon-gate --version` and plain `import carbon_gate` stay fast.
    if name == "measure":
        from .api import measure

        return measure
    if name == "report_units":
        from .functional_units import report_units

        return report_units
    if name == "report_metric":
        from .functional_units import report_metric

        return report_metric
    if name == "to_dataframe":
        from .dataframe import to_dataframe

        return to_dataframe
    raise AttributeError(name)
