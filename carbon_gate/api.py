"""The Python API: measure a block of code in-process with the same meters and footprint as the CLI.

from carbon_gate import measure

with measure(grid_country="FR") as m:
    train()
print(m.footprint.co2e_g, m.sample.energy)

@measure()
def step(): ...
"""

from __future__ import annotations

import contextlib
import resource
import threading
import time
from typing import Any, Literal

from .account import Footprint, footprint
from .config import MeterSettings
from .domain import Sample
from .functional_units import open_blocks
from .grid import GridFactor, resolve
from .meters.meter import MeterPlan, MeterSession, plan_meters
from .meters.process import SAMPLE_SCHEDULE, ProcessRun, Tick


class measure(contextlib.ContextDecorator):
    """Context manager and decorator; after the block, `.sample` and `.footprint` hold the result.

    The block's CPU time is the whole process's (all threads and reaped children) minus the
    sampler thread's own, which is reported as overhead.
    """

    def __init__(
        self,
        *,
        grid_country: str | None = None,
        grid_intensity: float | None = None,
        pue: float = 1.0,
        settings: MeterSettings = MeterSettings(),  # noqa: B008 frozen: one shared default is safe
        plan: MeterPlan | None = None,
        unit: str = "run",
        units: float = 1.0,
        results: str | None = None,
        name: str = "block",
    ):
        self._grid: GridFactor = resolve(grid_intensity, grid_country, pue)
        self._settings = settings
        self._plan = plan
        self.unit, self.units = unit, units
        # A results file per block (per rank in a torchrun/Slurm job: "{rank}" in the path); `merge` sums ranks.
        self._results, self._name = results, name
        self.sample: Sample | None = None
        self.footprint: Footprint | None = None
        self._reported: float | None = None
        self._metrics: dict[str, float] = {}
        self._units_lock = threading.Lock()  # worker threads report too

    def add_units(self, n: float, name: str | None = None) -> None:
        """Called by carbon_gate.report_units() inside the block (from any thread)."""
        with self._units_lock:
            self._reported = (self._reported or 0.0) + n
            if name:
                self.unit = name

    def add_metric(self, name: str, value: float) -> None:
        """Called by carbon_gate.report_metric() inside the block; the last value of a name wins."""
        with self._units_lock:
            self._metrics[name] = value

    def __enter__(self) -> measure:
        import psutil

        self._plan = self._plan or plan_meters(self._settings)
        self._session = MeterSession(self._plan)
        self._proc = psutil.Process()
        self._ticks: list[Tick] = []
        self._stop = threading.Event()
        self._overhead = 0.0
        self._cpu0 = _cpu_now()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._sample_loop, name="carbon-gate-sampler", daemon=True)
        self._thread.start()
        self._token = open_blocks.open(self)
        return self

    def _sample_loop(self) -> None:
        step = 0
        while not self._stop.wait(SAMPLE_SCHEDULE[min(step, len(SAMPLE_SCHEDULE) - 1)]):
            step += 1
            now = time.perf_counter() - self._t0
            try:
                with self._proc.oneshot():
                    t = self._proc.cpu_times()
                    cpu = t.user + t.system + t.children_user + t.children_system - self._cpu0
                    rss = self._proc.memory_info().rss
            except Exception:  # noqa: BLE001 - a failed sample must never break the user's code
                continue
            self._ticks.append(Tick(now, max(cpu - time.thread_time(), 0.0), rss))
            self._session.tick(now)
        self._overhead = time.thread_time()

    def __exit__(self, *exc: Any) -> Literal[False]:
        plan = self._plan
        assert plan is not None  # set by __enter__
        wall = time.perf_counter() - self._t0
        open_blocks.close(self, self._token)
        self._stop.set()
        self._thread.join()
        cpu = max(_cpu_now() - self._cpu0 - self._overhead, 0.0)
        peak = max((t.rss_bytes for t in self._ticks), default=self._proc.memory_info().rss)
        run = ProcessRun(
            wall_s=wall, cpu_s=cpu, exit_code=0, ticks=self._ticks, peak_rss_bytes=peak, overhead_cpu_s=self._overhead
        )
        self.sample = self._session.finish(run)
        if exc and exc[0] is not None:  # the block raised: a failed run, not a clean sample
            self.sample.exit_code = 1
            self.sample.error = f"the measured block raised {exc[0].__name__}"
        units = self._reported if self._reported is not None else self.units
        self.sample.units = units
        self.sample.metrics = dict(self._metrics)
        self.footprint = footprint(self.sample.energy_wh, wall, self._grid, plan.embodied, units, self.unit)
        if self._results:
            from .rank import rank_info, rank_path, single_run_results
            from .results import write

            rank = rank_info()
            write(
                rank_path(self._results, rank),
                single_run_results(
                    self._name, f"measure block {self._name}", self.sample, self.footprint, plan, self._grid, rank
                ),
            )
        return False


def _cpu_now() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
