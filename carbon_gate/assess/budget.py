"""Absolute budgets on the median run (DESIGN §7 "two limits"). Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

from ..account import Footprint
from ..config import Budget
from ..units import format_energy, format_mass


@dataclass(frozen=True)
class BudgetCheck:
    """One limit against its measured value."""

    limit: str  # energy | co2e | per_unit.energy | per_unit.co2e
    allowed: float
    actual: float
    unit: str  # Wh | g
    line: int | None = None

    @property
    def use(self) -> float:
        """Fraction of the budget used (1.0 = exactly at the limit)."""
        return self.actual / self.allowed if self.allowed > 0 else float("inf")

    @property
    def exceeded(self) -> bool:
        return self.actual > self.allowed

    def describe(self) -> str:
        fmt = format_energy if self.unit == "Wh" else format_mass
        per = {"per_unit": " per unit", "projected": " of the projected full run"}.get(self.limit.split(".")[0], "")
        what = "energy" if self.limit.endswith("energy") else "CO2e"
        over = self.actual - self.allowed
        if self.exceeded:
            value = "projection" if self.limit.startswith("projected") else "median"
            return (f"{what} budget{per} exceeded: {value} {fmt(self.actual)} > {fmt(self.allowed)} "
                    f"(+{fmt(over)}, {self.use:.0%} of budget)")
        return f"{what}{per} {fmt(self.actual)} within {fmt(self.allowed)} ({self.use:.0%} of budget)"

    def to_dict(self) -> dict:
        return {"limit": self.limit, "allowed": self.allowed, "actual": round(self.actual, 9), "unit": self.unit,
                "use_pct": round(self.use * 100, 2), "exceeded": self.exceeded}


def check_budget(budget: Budget, median: Footprint | None, projected: Footprint | None = None) -> list[BudgetCheck]:
    """Compare each configured limit with the median run's footprint (and the projected full run's)."""
    actual: dict[str, tuple[float, str]] = {}
    if median is not None:
        actual.update({
            "energy": (median.energy_wh, "Wh"),
            "co2e": (median.co2e_g, "g"),
            "per_unit.energy": (median.energy_wh / median.units if median.units > 0 else float("inf"), "Wh"),
            "per_unit.co2e": (median.sci_g_per_unit, "g"),
        })
    if projected is not None:
        actual.update({"projected.energy": (projected.energy_wh, "Wh"), "projected.co2e": (projected.co2e_g, "g")})
    return [BudgetCheck(name, allowed, actual[name][0], actual[name][1], budget.lines.get(name))
            for name, allowed in budget.limits().items() if name in actual]
