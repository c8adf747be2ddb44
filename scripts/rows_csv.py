"""The benches' one way of writing their rows: a CSV whose columns are the first row's keys (every row has them)."""

from __future__ import annotations

import csv
from pathlib import Path


def write_rows_csv(out: Path, rows: list[dict]) -> None:
    """Write `rows` to `out` (its folder made) and say where, as the benches' last line."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    print(f"-> {out}")
