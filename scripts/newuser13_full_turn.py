#!/usr/bin/env python
"""Does a sinogram without angles tell a parallel scan over 360 degrees from one over 180? (newuser13; docs/sweeps.md,
"A new user's first day from a fresh clone (newuser13)"). regrun.tomography.axis.full_turn on each file's sinogram
alone (its angles unread, as a run on a file without them), and whether a run would warn.

    python scripts/heldout_ct_sinograms.py --out OUT --seed S --user --cases ellipses:64:90:1e4 ellipses:64:90:1e4:lim360
    python scripts/newuser10_opposite_views.py radon OUT S camera coins --span 180     # and --span 360
    python scripts/newuser13_full_turn.py OUT/*.npz      # the statistic and the verdict per file
    python scripts/newuser13_full_turn.py --given360 OUT/*.npz   # the reverse (newuser14): as if each file were
                                                                 # given problem.angle_range=360, is it warned?

A file counts as a full turn where its own `angles` reach 180 degrees or more; fan-beam files (`_fan` in the name)
are listed but not judged (a fan read as parallel is the opposite-views warning's case). With `--given360` the verdict
is the reverse check's (FullTurn.half_turn): every 180-degree scan should be warned, no 360-degree one.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from regrun.tomography.axis import full_turn


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--given360", action="store_true", help="judge the warning for problem.angle_range=360 given")
    a = ap.parse_args(argv)
    right = judged = 0
    for f in sorted(a.files):
        d = np.load(f)
        r = full_turn(d["sinogram"])
        turn = float(np.max(d["angles"])) >= 180.0
        warned = r is not None and (r.half_turn if a.given360 else r.likely)
        due = not turn if a.given360 else turn
        fan = "_fan" in f.name
        if not fan:
            judged += 1
            right += warned == due
        print(f"{f.name:44s} {'360' if turn else '180'}{' fan' if fan else ''}  " + (
            "not checked" if r is None else f"share {r.share:.4f} spread {r.spread:.4f} ratio {r.ratio:.3f} -> "
            f"{'warned' if warned else 'silent'}{'' if fan or warned == due else '  (MISS)'}"))
    print(f"{right} of {judged} parallel files as judged (every {'180' if a.given360 else '360'}-degree scan warned, "
          f"no {'360' if a.given360 else '180'}-degree one)")


if __name__ == "__main__":
    main()
