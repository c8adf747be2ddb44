"""angular_coverage on the seen full-range scans' geometries (K, M, Mg, N, N2 as the bench builds them; U's
full-range users' files with their own angles, from the generator's user_scan): 1.0 means lam_cv_coverage_power
leaves the answer untouched (docs/ct.md, "Limited-range scans (ctlimited)"). Geometry only, no data.

    python scripts/ct_coverage_seen.py "capillary:160:45:1e4 cracks:176:30:1e5 ..."   # batch Mg's cases
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from regrun.tomography.fista_tv_weight import angular_coverage  # noqa: E402
from regrun.tomography.geometry import covering_detector, fan_beam, parallel_beam, uniform_angles  # noqa: E402
import heldout_ct_sinograms as g  # noqa: E402

K = "dental:112:90:1e4:fan foliage:112:45:1e5 battery:112:20:1e6 dental:160:45:1e3 battery:160:90:1e4 foliage:160:20:1e7 dental:160:20:1e5:fan battery:224:45:1e5 foliage:224:60:1e3 dental:224:30:1e6:fan battery:320:30:1e4 dental:320:15:1e5"
M = "gear:96:15:1e6 rings:112:30:1e6:fan truss:112:60:1e7 pipes:128:15:1e4:fan gravel:128:30:1e3 dental:144:60:1e7:fan coffee:160:60:1e4 cells:176:30:1e5 fibres:208:15:1e3 honeycomb:224:60:1e5"
MG = sys.argv[1]
N = "ellipses:128:60:1e5 ellipses:128:15:1e4 ellipses:256:30:1e6 metal:128:30:1e5 metal:256:60:1e4 gear:128:15:1e6 honeycomb:256:15:1e5 gracehopper:128:60:1e6 gracehopper:128:15:1e4 gracehopper:256:30:1e5 ellipses:128:30:1e5:fan rings:128:60:1e4:fan"
rows = []
for batch, spec in (("K", K), ("M", M), ("Mg", MG), ("N", N), ("N2", N)):
    for c in spec.split():
        f = c.split(":")
        n, v = int(f[1]), int(f[2])
        if "fan" in f:
            counts, sp = covering_detector((n, n), 1.0, 2.0 * n, 1.0 * n)
            geo = fan_beam((n, n), uniform_angles(v, True), counts[0], sp, 2.0 * n, 1.0 * n)
        else:
            geo = parallel_beam((n, n), uniform_angles(v, False), covering_detector((n, n), 1.0)[0][0])
        rows.append((batch, c, angular_coverage(geo)))
U = "gear:128:30:1e5:jit2 rings:128:40:1e4:golden ellipses:128:60:1e5:det256 dental:128:30:1e5:det128 gracehopper:256:45:1e5:jit1.5 ellipses:384:90:1e5 metal:512:90:1e4"
for c in U.split():
    o, n, v, ph, geo, span, lvl, user = g.parse_case(c)
    th = g.user_scan(n, v, span, user, 4621)["theta"]
    rows.append(("U", c, angular_coverage(parallel_beam((n, n), torch.as_tensor(th), 2 * n))))
for r in rows:
    print(*r)
print(len(rows), "scans;", sum(r[2] == 1.0 for r in rows), "with coverage exactly 1.0")
