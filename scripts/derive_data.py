"""Derive the packaged data in carbon_gate/data/ from the raw sources in ../shared/data/.

Run: python scripts/derive_data.py [SHARED_DATA_DIR]. Output is deterministic, so re-running on
unchanged sources gives no diff. Every row is derived (and checked) before a file is written, and each
file is replaced atomically: a bad source row stops the script with the packaged files untouched.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "carbon_gate" / "data"
sys.path.insert(0, str(ROOT))

# ISO 3166-1 alpha-3 -> alpha-2, all 249 officially assigned codes. The source's ISO-2 column came from
# carbontracker's file, which lacks 24 of them (KR, TR, TW, RU, VN, ...); a table here avoids a dependency.
ISO3_TO_ISO2 = dict(
    pair.split(":")
    for pair in """
ABW:AW AFG:AF AGO:AO AIA:AI ALA:AX ALB:AL AND:AD ARE:AE ARG:AR ARM:AM ASM:AS ATA:AQ ATF:TF ATG:AG AUS:AU
AUT:AT AZE:AZ BDI:BI BEL:BE BEN:BJ BES:BQ BFA:BF BGD:BD BGR:BG BHR:BH BHS:BS BIH:BA BLM:BL BLR:BY BLZ:BZ
BMU:BM BOL:BO BRA:BR BRB:BB BRN:BN BTN:BT BVT:BV BWA:BW CAF:CF CAN:CA CCK:CC CHE:CH CHL:CL CHN:CN CIV:CI
CMR:CM COD:CD COG:CG COK:CK COL:CO COM:KM CPV:CV CRI:CR CUB:CU CUW:CW CXR:CX CYM:KY CYP:CY CZE:CZ DEU:DE
DJI:DJ DMA:DM DNK:DK DOM:DO DZA:DZ ECU:EC EGY:EG ERI:ER ESH:EH ESP:ES EST:EE ETH:ET FIN:FI FJI:FJ FLK:FK
FRA:FR FRO:FO FSM:FM GAB:GA GBR:GB GEO:GE GGY:GG GHA:GH GIB:GI GIN:GN GLP:GP GMB:GM GNB:GW GNQ:GQ GRC:GR
GRD:GD GRL:GL GTM:GT GUF:GF GUM:GU GUY:GY HKG:HK HMD:HM HND:HN HRV:HR HTI:HT HUN:HU IDN:ID IMN:IM IND:IN
IOT:IO IRL:IE IRN:IR IRQ:IQ ISL:IS ISR:IL ITA:IT JAM:JM JEY:JE JOR:JO JPN:JP KAZ:KZ KEN:KE KGZ:KG KHM:KH
KIR:KI KNA:KN KOR:KR KWT:KW LAO:LA LBN:LB LBR:LR LBY:LY LCA:LC LIE:LI LKA:LK LSO:LS LTU:LT LUX:LU LVA:LV
MAC:MO MAF:MF MAR:MA MCO:MC MDA:MD MDG:MG MDV:MV MEX:MX MHL:MH MKD:MK MLI:ML MLT:MT MMR:MM MNE:ME MNG:MN
MNP:MP MOZ:MZ MRT:MR MSR:MS MTQ:MQ MUS:MU MWI:MW MYS:MY MYT:YT NAM:NA NCL:NC NER:NE NFK:NF NGA:NG NIC:NI
NIU:NU NLD:NL NOR:NO NPL:NP NRU:NR NZL:NZ OMN:OM PAK:PK PAN:PA PCN:PN PER:PE PHL:PH PLW:PW PNG:PG POL:PL
PRI:PR PRK:KP PRT:PT PRY:PY PSE:PS PYF:PF QAT:QA REU:RE ROU:RO RUS:RU RWA:RW SAU:SA SDN:SD SEN:SN SGP:SG
SGS:GS SHN:SH SJM:SJ SLB:SB SLE:SL SLV:SV SMR:SM SOM:SO SPM:PM SRB:RS SSD:SS STP:ST SUR:SR SVK:SK SVN:SI
SWE:SE SWZ:SZ SXM:SX SYC:SC SYR:SY TCA:TC TCD:TD TGO:TG THA:TH TJK:TJ TKL:TK TKM:TM TLS:TL TON:TO TTO:TT
TUN:TN TUR:TR TUV:TV TWN:TW TZA:TZ UGA:UG UKR:UA UMI:UM URY:UY USA:US UZB:UZ VAT:VA VCT:VC VEN:VE VGB:VG
VIR:VI VNM:VN VUT:VU WLF:WF WSM:WS YEM:YE ZAF:ZA ZMB:ZM ZWE:ZW
""".split()
)


def derive_tdp(src: Path, dst: Path) -> int:
    """Copy the TDP table, dropping rows whose TDP is not one number (e.g. `27.29.5`), and add the
    normalised lookup key so the CLI need not normalise 5,000 names at every start."""
    from carbon_gate.meters.cpu_model import normalise_cpu_name

    dropped = 0
    rows: list[list] = [["Name", "TDP", "key"]]
    with src.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if re.fullmatch(r"\d+(\.\d+)?", row["TDP"].strip()):
                rows.append([row["Name"].strip(), float(row["TDP"]), normalise_cpu_name(row["Name"])])
            else:
                dropped += 1
    write_csv(dst, rows)
    return dropped


def iso2_of(iso3: str, given: str) -> str:
    """The ISO-2 code for an ISO-3 code from the table; a source code that disagrees is an error, not a guess."""
    code = ISO3_TO_ISO2.get(iso3.strip().upper(), "")
    if given and code and given != code:
        raise SystemExit(
            f"{iso3}: the source says ISO-2 {given!r}, ISO 3166-1 says {code!r}; fix the table or the source"
        )
    return code or given


def derive_grid(src: Path, dst: Path) -> list[str]:
    """Keep identifiers, year, intensity and generation (to weight the world average); fill in ISO-2
    codes the source lacks. Returns the ISO-3 codes still without one (not ISO 3166-1 countries)."""
    missing = []
    rows: list[list] = [["iso3", "iso2", "country", "year", "g_per_kwh", "total_twh"]]
    with src.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            iso2 = iso2_of(r["iso3"], r["iso2"].strip())  # may stop the script: nothing is written yet
            if not iso2:
                missing.append(r["iso3"])
            rows.append(
                [
                    r["iso3"],
                    iso2,
                    r["country"],
                    r["year"],
                    r["carbon_intensity_g_per_kwh"],
                    round(float(r["total_twh"]), 3),
                ]
            )
    write_csv(dst, rows)
    return missing


def write_csv(dst: Path, rows: list[list]) -> None:
    """Replace `dst` with `rows` in one atomic rename: never a truncated packaged file."""
    from carbon_gate.fsutil import atomic_write_text

    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\n").writerows(rows)
    atomic_write_text(dst, text.getvalue())


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    dropped = derive_tdp(shared / "cpu-tdp.csv", OUT / "cpu-tdp.csv")
    no_iso2 = derive_grid(shared / "grid-intensity-by-country.csv", OUT / "grid-intensity.csv")
    print(
        f"derived data into {OUT} (dropped {dropped} TDP rows with malformed values"
        + (f"; no ISO-2 code for {', '.join(no_iso2)}" if no_iso2 else "")
        + ")"
    )


if __name__ == "__main__":
    main()
