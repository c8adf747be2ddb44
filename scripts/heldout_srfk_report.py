"""The table and verdict of held-out batch FKH (scripts/heldout_srfk.sh): `auto`'s PSNR at main and with
problem.lam_rechoose_after_floor_climb=true per set; the rule written with the batch: no set loses more than 0.1 dB,
and the dB summed over the sets the setting moves >= 0."""
import json
import sys
from pathlib import Path


def main(out: Path) -> None:
    total, worst, moved = 0.0, 0.0, 0
    print("| set | main λ (PSNR) | setting λ (PSNR) | Δ dB |\n|---|---|---|---|")
    for run in sorted(out.glob("FKH_*_main")):
        a = json.loads((run / "metrics.json").read_text())
        b = json.loads((run.with_name(run.name[:-4] + "floorclimb") / "metrics.json").read_text())
        la, lb = a["metrics"]["lam_chosen"], b["metrics"]["lam_chosen"]
        d = b["metrics"]["psnr"] - a["metrics"]["psnr"]
        if la != lb or abs(d) > 1e-9:
            moved, total, worst = moved + 1, total + d, min(worst, d)
        print(f"| {run.name[4:-5]} | {la:.3g} ({a['metrics']['psnr']:.2f}) | {lb:.3g} ({b['metrics']['psnr']:.2f}) | {d:+.2f} |")
    ok = worst >= -0.1 and total >= 0.0
    print(f"\nmoved {moved}, summed {total:+.2f} dB, worst {worst:+.2f}: {'passes' if ok else 'fails'} the rule")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
