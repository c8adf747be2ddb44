"""Two bench_lambda_ct.py runs on the same sinograms, main's and a variant's (e.g. solver.data_weight=poisson by
--set, --regrid), scan by scan: FBP, each one's grid optimum and `auto` (cv), the best oracle-tuned peer, the CT
targets and the sums a rule reads (docs/ct.md "Poisson weights in FISTA-TV's data term (ctpwls)").

A target is judged against the better of the two grid optima (an answer within 0.5 dB of its own solver's
optimum but under the other solver's is not within it): `within` = auto within 0.5 dB of it, `peer` = auto above the
best peer (scikit-image SART+TV, ASTRA SIRT+TV and CGLS+TV, regrun's SIRT+TV, each at its oracle weight).

    python scripts/report_ct_variant.py MAIN.json VARIANT.json [--name poisson]
"""
from __future__ import annotations

import argparse
import json

PEER_KEYS = ("peer_psnr", "skimage_sart_tv", "astra_sirt_tv", "astra_cgls_tv")


def key(r: dict) -> tuple:
    return (r["object"], r["size"], r["views"], r["photons"])


def best_peer(r: dict) -> float | None:
    got = [r[k] for k in PEER_KEYS if r.get(k) is not None]
    return max(got) if got else None


def rows(main: dict, variant: dict) -> list[dict]:
    theirs = {key(r): r for r in variant["results"]}
    out = []
    for m in main["results"]:
        v = theirs.get(key(m))
        if v is None:
            continue
        optimum = max(m["grid_best_psnr"], v.get("grid_best_psnr", m["grid_best_psnr"]))
        peer = best_peer(m) if best_peer(v) is None else best_peer(v)
        row = {"scan": f"{m['object']} {m['size']}²/{m['views']}/{m['photons']:.0e}", "fbp": m.get("fbp_psnr"),
               "grid_main": (m["grid_best_lam"], m["grid_best_psnr"]), "peer": peer}
        if "grid_best_psnr" in v:
            row["grid_variant"] = (v["grid_best_lam"], v["grid_best_psnr"])
        for name, r in (("main", m), ("variant", v)):
            a = r.get("auto_cv")
            if a is not None:
                row[f"auto_{name}"] = (a["lam"], a["psnr"])
                row[f"targets_{name}"] = (a["psnr"] >= optimum - 0.5, peer is None or a["psnr"] > peer)
        out.append(row)
    return out


def fmt(pair) -> str:
    return "—" if pair is None else f"{pair[0]:.3g} ({pair[1]:.2f})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("main")
    ap.add_argument("variant")
    ap.add_argument("--name", default="variant")
    args = ap.parse_args(argv)
    with open(args.main) as f:
        m = json.load(f)
    with open(args.variant) as f:
        v = json.load(f)
    table = rows(m, v)
    n = args.name
    print(f"| scan | FBP | grid optimum main | grid optimum {n} | Δ | auto main | auto {n} | Δ | best peer | "
          f"targets main | targets {n} |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    sums = {"grid": 0.0, "auto": 0.0}
    lost = []
    tick = lambda t: "—" if t is None else "".join("✓" if x else "✗" for x in t)  # noqa: E731
    for r in table:
        dg = r["grid_variant"][1] - r["grid_main"][1] if "grid_variant" in r else None
        da = r["auto_variant"][1] - r["auto_main"][1] if "auto_variant" in r and "auto_main" in r else None
        sums["grid"] += dg or 0.0
        sums["auto"] += da or 0.0
        tm, tv, peer = r.get("targets_main"), r.get("targets_variant"), r["peer"]
        if tm is not None and tv is not None and any(a and not b for a, b in zip(tm, tv)):
            lost.append(r["scan"])
        print(f"| {r['scan']} | {r['fbp']:.2f} | {fmt(r['grid_main'])} | {fmt(r.get('grid_variant'))} | "
              f"{'—' if dg is None else f'{dg:+.2f}'} | {fmt(r.get('auto_main'))} | {fmt(r.get('auto_variant'))} | "
              f"{'—' if da is None else f'{da:+.2f}'} | {'—' if peer is None else f'{peer:.2f}'} | "
              f"{tick(tm)} | {tick(tv)} |")
    print(f"\ngrid optimum {n} − main summed: {sums['grid']:+.2f} dB over {len(table)} scans; auto: "
          f"{sums['auto']:+.2f} dB; targets main meets and {n} loses: {', '.join(lost) or 'none'}")


if __name__ == "__main__":
    main()
