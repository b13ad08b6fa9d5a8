"""Derive the packaged data in carbon_gate/data/ from the raw sources in ../shared/data/.

Run: python scripts/derive_data.py [SHARED_DATA_DIR]. Output is deterministic, so re-running on
unchanged sources gives no diff.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "carbon_gate" / "data"


def derive_tdp(src: Path, dst: Path) -> int:
    """Copy the TDP table, dropping rows whose TDP is not one number (e.g. `27.29.5`), and add the
    normalised lookup key so the CLI need not normalise 5,000 names at every start."""
    sys.path.insert(0, str(ROOT))
    from carbon_gate.meters.cpu_model import normalise_cpu_name

    dropped = 0
    with src.open(newline="", encoding="utf-8") as f, dst.open("w", newline="", encoding="utf-8") as g:
        w = csv.writer(g, lineterminator="\n")
        w.writerow(["Name", "TDP", "key"])
        for row in csv.DictReader(f):
            if re.fullmatch(r"\d+(\.\d+)?", row["TDP"].strip()):
                w.writerow([row["Name"].strip(), float(row["TDP"]), normalise_cpu_name(row["Name"])])
            else:
                dropped += 1
    return dropped


def derive_grid(src: Path, dst: Path) -> None:
    """Keep identifiers, year, intensity and generation (to weight the world average)."""
    with src.open(newline="", encoding="utf-8") as f, dst.open("w", newline="", encoding="utf-8") as g:
        w = csv.writer(g, lineterminator="\n")
        w.writerow(["iso3", "iso2", "country", "year", "g_per_kwh", "total_twh"])
        for r in csv.DictReader(f):
            w.writerow([r["iso3"], r["iso2"], r["country"], r["year"], r["carbon_intensity_g_per_kwh"],
                        round(float(r["total_twh"]), 3)])


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    dropped = derive_tdp(shared / "cpu-tdp.csv", OUT / "cpu-tdp.csv")
    derive_grid(shared / "grid-intensity-by-country.csv", OUT / "grid-intensity.csv")
    print(f"derived data into {OUT} (dropped {dropped} TDP rows with malformed values)")


if __name__ == "__main__":
    main()
