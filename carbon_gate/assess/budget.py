"""Absolute budgets on the median run (docs/configuration.md, `budget`). Pure functions."""

from __future__ import annotations

from ..account import Footprint
from ..config import Budget
from ..domain import BudgetCheck, BudgetUnit


def check_budget(budget: Budget, median: Footprint | None, projected: Footprint | None = None) -> list[BudgetCheck]:
    """Compare each configured limit with the median run's footprint (and the projected full run's)."""
    actual: dict[str, tuple[float, BudgetUnit]] = {}
    if median is not None:
        actual.update(
            {
                "energy": (median.energy_wh, "Wh"),
                "co2e": (median.co2e_g, "g"),
                "per_unit.energy": (median.energy_wh / median.units if median.units > 0 else float("inf"), "Wh"),
                "per_unit.co2e": (median.sci_g_per_unit, "g"),
            }
        )
    if projected is not None:
        actual.update({"projected.energy": (projected.energy_wh, "Wh"), "projected.co2e": (projected.co2e_g, "g")})
    return [
        BudgetCheck(name, allowed, actual[name][0], actual[name][1], budget.lines.get(name))
        for name, allowed in budget.limits().items()
        if name in actual
    ]
