"""Held-out sinograms for `solver.lam=auto` made without regrun's projector (a user's scan is not made by the
reconstruction's own model): parallel beam, regrun's documented conventions (docs/ct.md, "Geometry and
projector": view angles k * 180/views degrees, rays along (-sin t, cos t), detector u = (cos t, sin t), bins of one
voxel centred on the axis, as many as problem.ct_fewview's covering detector), **each bin the average of the line
integral over its width** (a detector pixel integrates; regrun's projector samples the bin centre).

- Analytic objects (exact line integrals, integrated over the bin in closed form): `ellipses` (random overlapping
  ellipses), `rings` (thin-walled parts: elliptical shells 1-2 reconstruction pixels thick, a tube lattice and
  small dense inclusions). The truth is the cell average from 8 x 8 point samples per pixel.
- Pixel objects on a grid `--fine` times finer, projected by the exact footprint of each square fine pixel on the
  bin (its trapezoid's integral over the bin: an area-integrating projector): `astronaut`, `brick` (scikit-image
  images, grey, in a disk; any other scikit-image picture by name), `blobs` (a porous material: scikit-image's
  random binary blobs, density 1 in a matrix of 0.3, added for seed 2029) and `metal` (regrun's metal part's analytic function rendered on the fine grid, the one
  thing taken from regrun). The truth is the fine image's cell average. Added for seed 3101: `linepairs`, `gradient`
  and `cells` (designed_kind's docstring).
- Added for seed 3401 (docs/ct.md, "Eighth round"): `gear` and `honeycomb` (designed metal parts with 1-2 px
  walls, designed_kind), `polygons` (random convex polygons in an elliptical body, analytic: 16 exact chords per
  bin, parallel or fan) and natural images read in place from shared/fair_data (FAIR_IMAGES: `ctscan`, `mrihead`,
  `epislice`, `histology`, `handxray`).
- Added for seed 3501 (docs/ct.md, "Ninth round"): `circuit` (a circuit board: 1-2.5 px copper traces, pads
  with drilled vias, chips with pins), `bone` (a bone slice: an irregular cortical shell with canals round a
  trabecular network of 1-1.5 px struts), `star` (a Siemens star: its spokes narrow below a pixel at the centre)
  (designed_kind); natural images not used for CT before: `petscan` (shared/fair_data's PET-CT-PET.jpg),
  `handst` (hands-T.jpg, the low-dose hand of batch E's other frame), `beach` (shared/refine_data's
  beach_bg.jpg) and scikit-image's `logo`. A case's fifth field may also be `limDEG` (a parallel beam over DEG
  degrees instead of 180: a limited angular range; problem.angle_range) and its fourth `gLEVEL` (Gaussian noise
  of standard deviation LEVEL times the largest line integral, problem.noise=gaussian's convention, instead of
  Poisson; the file's photons is then 0 and noise_level LEVEL).
- Added for seed 3601 (docs/ct.md, "Tenth round"): natural images not used for CT before, read in place: `histt`
  (shared/fair_data's HNSP-T.jpg), `mrir` (MRIhead-R.jpg), `epir` (EPIslice-R.jpg), `crab` (shared/refine_data's
  crab.png); scikit-image's `hubble_deep_field` goes by its own name (any scikit-image picture does).
- Added for seed 3701 (docs/ct.md, "Eleventh round"): `fibres` (a fibre composite's cross-section: round
  fibres 1-3 px across in three dense bundles and sparse between them, in a lighter matrix, elongated voids;
  designed_kind) and `motorcycle` (scikit-image's stereo_motorcycle, its left frame); natural images read in place
  not used for CT before: `eyes` (shared/refine_data's eye_pair.png, 93 x 63: its centred
  63 x 63 square enlarged, so its detail is coarser than the pixel) and `crabbig` (crab_big_bbg.png, the crab on a wide background).
- Added for seed 3801 (docs/ct.md, "Thirteenth round"): `pipes` (analytic: a bundle of non-overlapping round
  pipes with 1-2 px walls in a thin casing, some with a lighter fluid, some with a solid rod, dense wires of
  0.8-1.5 px; parallel or fan), `truss` (a triangular strut lattice 1-1.5 px wide with missing struts and a skin;
  designed_kind) and `crabbeach` (shared/refine_data's crab_beach_15.0deg.png, never used for CT).
- Added for seed 3901 (docs/ct.md, "Fourteenth round"): `dental` (analytic: a jaw slice, a soft tissue body whose
  density falls smoothly to its edge (nested ellipses), a mandible ring of cortical and trabecular bone, twelve teeth
  with 1.5-2.5 px enamel, dentin and a pulp canal, two dense fillings; parallel or fan), `battery` (a cylindrical
  cell's cross-section: a spiral electrode roll, cathode and anode layers 1-1.6 px at a 3-4.5 px pitch with dents,
  a steel can, a hollow pin, a tab and gas voids; designed_kind) and `foliage` (a textured natural photo: a
  full-resolution crop of the treeline in shared/refine_data/detection_images/beach_bg.jpg, never used for CT).
- Added for seed 4001 (docs/ct.md, "Fifteenth round"): `shells` (nested closed shells 0.8-1.5 px at a 2.5-5 px
  spacing, some broken over an arc), `mesh` (a woven mesh of 0.8-1.2 px wires at a 3.5-7 px pitch in resin) and
  `laminate` (a composite coupon: plies 1-1.5 px of two densities, waviness, delamination gaps, a fastener);
  designed_kind.
- Added for seed 4301 (docs/ct.md, "Seventeenth round (ctspec)"): `gracehopper` (matplotlib's sample photograph
  grace_hopper.jpg, a portrait, its centred 512 x 512 square; no CT batch used it).
- Added for seed 4621 (docs/ct.md, "Scans no batch tried (ctuser)"): `particles` (an electron-tomography
  section: a thin resin slab, vesicles with 1-1.5 px membranes, gold beads) and `breast` (skin, fat,
  fibroglandular tissue, a mass, microcalcifications), analytic; `--user` writes each case as a user's file (the
  sinogram and its `angles` in degrees, README) and a case's fields may give a user's scan (user_scan: `jitDEG`,
  `wedgeA-B`, `golden`, `detN`, `startDEG`, and the mistakes `rad` and `cols`; parallel beam).
- Added for seed 4721 (docs/ct.md, "Limited-range scans (ctlimited)"): `tablet` (analytic: a coated tablet, a
  1-1.5 px film coat, granules, pores, a cluster of dense crystals, a score line; parallel or fan) and `rock` (a
  sandstone plug: packed rounded grains 3-12 px, a few dense mineral grains, clay in some pores, 0.7-1.2 px cracks;
  designed_kind); with `--user`, a fan beam's case may carry `limDEG` (its sources over DEG degrees instead of
  360), `wedgeA-B`, `jitDEG` and `startDEG` (the file's `angles` are the sources' angles).
- Added for session 23's batch W (docs/ct.md, "Limited-range fan scans and tilt series (ctfan)"): `wood` (a log's
  cross-section: bark, growth rings with 1-2 px latewood round an off-centre pith, a knot, resin canals) and `fruit`
  (a skin, flesh, carpel chambers with dense seeds, sub-pixel to 1.2 px vascular bundles); analytic, parallel or fan.
- Added for seed 6701 (docs/ct.md, "The session's acceptance batch with the peers (ctfinal)"): `bottle` (a
  bottle cut along its axis: 1-2 px glass, a liquid level with a meniscus, bubbles; bottle_kind), `nameplate` (raised
  and engraved letters, strokes under 1 px to 3 px; nameplate_kind; run as `text` in that batch, a name that
  shadowed scikit-image's `text` picture of seed 3101, renamed after) and `s1045` (matplotlib's MRI
  slice, read as scripts/bench_lambda_sr.py reads it; never used for CT).
- Added for seed 9202 (docs/ct.md, "The issue's own kinds at today's main, with today's peers (ctissue)"): `surf`
  (a full-resolution 768 x 768 crop of the beach photograph's surf and wet sand, lower right; see FAIR_IMAGES).
- Added for seed 9205 (docs/ct.md, "(ct256grid)"): `clouds` (the same photograph's sky and cumulus clouds at full
  resolution, a 768 x 768 crop of its top right that neither `foliage` nor `surf` overlaps: soft edges, no texture).
- Fan beam (a case ending in `:fan`; the analytic objects only: ellipses, rings, pipes, polygons, dental, particles, breast, tablet, wood, fruit): problem.ct_fewview's fan defaults (source 2
  widths from the axis, flat detector 1 width behind it, 360 degrees), each bin the mean of 16 exact chord
  integrals across its width; the file records `geometry`, which scripts/bench_lambda_ct.py reads.

Poisson noise as problem.ct_fewview's (the largest line integral transmits 5%, counts clamped to 1), drawn with
numpy. Each case is one .npz: sinogram (views, bins), truth (n, n), object, size, views, photons, seed.

    python scripts/heldout_ct_sinograms.py --out outputs/heldout_ct --seed 2026
    python scripts/heldout_ct_sinograms.py --seed 2029 --cases blobs:128:15:1e5 moon:128:60:1e4   # other cases
    python scripts/heldout_ct_sinograms.py --seed 3101 --cases cells:64:45:1e7 rings:128:30:1e4:fan
    python scripts/heldout_ct_sinograms.py --seed 3501 --cases circuit:128:60:1e4:lim120 beach:128:45:g0.01
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

# (object, size, views, photons): 60/30/15 views, 128² and 256², 1e4-1e6 photons, thin walls and natural images
CASES = [
    ("ellipses", 128, 60, 1e5), ("ellipses", 128, 15, 1e6), ("rings", 128, 60, 1e6), ("rings", 128, 30, 1e4),
    ("rings", 128, 15, 1e5), ("astronaut", 128, 60, 1e4), ("astronaut", 128, 15, 1e6), ("metal", 128, 30, 1e5),
    ("brick", 128, 30, 1e6), ("astronaut", 256, 30, 1e5), ("rings", 256, 60, 1e4), ("ellipses", 256, 15, 1e5),
]
ANALYTIC = ("ellipses", "rings", "pipes", "dental", "particles", "breast", "tablet", "wood", "fruit")  # objects of ellipses, exact chords
FLOOR = 0.05  # transmission at the largest line integral (problem.min_transmission)


def detector_bins(size: int) -> int:
    """problem.ct_fewview's covering detector for a parallel beam (the volume's circumscribed disk, unit bins)."""
    from regrun.tomography.geometry import covering_detector

    return int(covering_detector((size, size), 1.0)[0][0])


def angles(views: int, span_deg: float = 180.0) -> np.ndarray:
    """problem.ct_fewview's views: k * angle_range / views from 0 (angle_range 180 degrees unless limited)."""
    return np.arange(views) * math.radians(span_deg) / views


def bin_edges(n_det: int) -> np.ndarray:
    return np.arange(n_det + 1) - n_det / 2.0


# ---- analytic objects (coordinates in reconstruction voxels, grid centred at the origin) --------------------------
def ellipse_list(name: str, size: int, rng: np.random.Generator) -> list[tuple]:
    """(cx, cy, a, b, tilt, density) in voxel units; a shell is an outer ellipse minus an inner one."""
    r = size / 2
    out = []
    if name == "ellipses":  # drawn again until nowhere negative (an attenuation is not; FISTA-TV and SIRT clip at 0)
        while True:
            out = [(0.0, 0.0, 0.85 * r, 0.85 * r, 0.0, 0.3)]  # a body holding them
            for _ in range(12):
                cx, cy = rng.uniform(-0.5, 0.5, 2) * r
                a, b = rng.uniform(0.04, 0.35, 2) * r
                out.append((cx, cy, a, b, rng.uniform(0, math.pi), rng.uniform(-0.3, 0.6)))
            if render_ellipses(out, size, sub=4, mean=False).min() >= 0:
                return out
    # rings: a thin shell body, shells with 1-2 px walls, a 3 x 3 lattice of thin tubes and dense inclusions
    def shell(cx, cy, a, b, t, wall, rho):
        out.append((cx, cy, a, b, t, rho))
        out.append((cx, cy, a - wall, b - wall, t, -rho))

    if name == "dental":  # seed 3901: a jaw slice; the soft tissue's density falls smoothly to its edge
        t0 = rng.uniform(-0.3, 0.3)  # the head's tilt
        a0, b0 = 0.88 * r, rng.uniform(0.68, 0.76) * r
        for k in range(8):  # eight nested ellipses of 0.04 each: 0.32 at the centre, a gentle gradient outwards
            f = 1 - 0.09 * k
            out.append((0.0, 0.0, a0 * f, b0 * f, t0, 0.04))
        cy = rng.uniform(0.05, 0.15) * r  # the mandible: a cortical ring with trabecular bone inside
        ma, mb, cort = 0.62 * r, 0.5 * r, rng.uniform(1.5, 2.5)
        width = rng.uniform(0.12, 0.16) * r
        shell(0.0, cy, ma, mb, t0, cort, 0.45)
        out.append((0.0, cy, ma - cort, mb - cort, t0, 0.25))
        shell(0.0, cy, ma - width, mb - width, t0, cort, 0.45)
        out.append((0.0, cy, ma - width - cort, mb - width - cort, t0, -0.25))  # the inner ring's inside: no bone
        mid_a, mid_b = ma - width / 2, mb - width / 2
        fill = set(rng.choice(12, 2, replace=False).tolist())
        for k in range(12):  # teeth along the arch's front 200 degrees, not touching
            phi = math.pi / 2 + math.radians(-100 + 200 * (k + 0.5) / 12)
            x, y = mid_a * math.cos(phi), mid_b * math.sin(phi)
            x, y = x * math.cos(t0) - y * math.sin(t0), x * math.sin(t0) + y * math.cos(t0) + cy
            ta, tb = rng.uniform(0.045, 0.06) * r, rng.uniform(0.04, 0.055) * r
            tilt = phi + t0
            enamel = rng.uniform(1.5, 2.5)
            shell(x, y, ta, tb, tilt, enamel, 1.6)  # enamel, then dentin (1.0) inside it
            out.append((x, y, ta - enamel, tb - enamel, tilt, 1.0))
            pulp = rng.uniform(0.8, 1.5)
            out.append((x, y, pulp, pulp, 0.0, -0.8))
            if k in fill:  # a dense filling off the pulp
                out.append((x + 0.4 * (ta - enamel) * math.cos(tilt), y + 0.4 * (ta - enamel) * math.sin(tilt),
                            0.3 * ta, 0.25 * tb, tilt, 2.5))
        out.append((0.0, -rng.uniform(0.05, 0.15) * r, 0.3 * r, 0.18 * r, t0, 0.06))  # the tongue
        return out

    if name == "pipes":  # seed 3801: a bundle of round pipes (1-2 px walls) in a thin casing, some holding a
        # lighter fluid, some a solid rod, a few dense wires; the pipes do not overlap (drawn again until they don't)
        shell(0.0, 0.0, 0.85 * r, 0.85 * r, 0.0, rng.uniform(1.5, 2.5), 1.0)
        placed = []
        while len(placed) < 9:
            rad = rng.uniform(0.07, 0.24) * r
            c = rng.uniform(-0.8, 0.8, 2) * (0.85 * r - rad - 3)
            if all(math.hypot(c[0] - q[0], c[1] - q[1]) > rad + q[2] + 1.5 for q in placed):
                placed.append((c[0], c[1], rad))
        for k, (cx, cy, rad) in enumerate(placed):
            wall = rng.uniform(1.0, 2.0)
            shell(cx, cy, rad, rad, 0.0, wall, rng.uniform(0.7, 1.0))
            if k % 3 == 0:  # a lighter fluid filling the bore
                out.append((cx, cy, rad - wall, rad - wall, 0.0, rng.uniform(0.15, 0.35)))
            elif k % 3 == 1:  # a solid rod inside
                rod = rng.uniform(0.2, 0.5) * (rad - wall)
                out.append((cx + rng.uniform(-0.3, 0.3) * (rad - wall - rod), cy, rod, rod, 0.0, 1.2))
        for _ in range(5):  # dense wires between the pipes, below a pixel to 1.5 px across
            rad = rng.uniform(0.4, 0.75)
            out.append((*(rng.uniform(-0.6, 0.6, 2) * r), rad, rad, 0.0, 2.0))
        return out

    if name == "particles":  # seed 4621: an electron-tomography section: a thin slab of resin holding a cell
        # section (vesicles with 1-1.5 px membranes, a nucleus) and dense gold beads 1.5-5 px across (fiducials)
        tilt = rng.uniform(-0.2, 0.2)
        out.append((0.0, 0.0, 0.9 * r, rng.uniform(0.28, 0.36) * r, tilt, 0.25))  # the slab: long, thin
        ct, st = math.cos(tilt), math.sin(tilt)

        def in_slab(u, v):  # slab coordinates (along, across) -> voxel coordinates
            return u * ct - v * st, u * st + v * ct

        out.append((*in_slab(rng.uniform(-0.2, 0.2) * r, 0.0), 0.22 * r, 0.14 * r, tilt, 0.12))  # a nucleus
        for _ in range(10):  # vesicles: membranes 1-1.5 px, some with a denser lumen
            a = rng.uniform(0.03, 0.08) * r
            cx, cy = in_slab(rng.uniform(-0.75, 0.75) * r, rng.uniform(-0.18, 0.18) * r)
            shell(cx, cy, a, a * rng.uniform(0.7, 1.0), rng.uniform(0, math.pi), rng.uniform(1.0, 1.5), 0.5)
            if rng.uniform() < 0.4:
                out.append((cx, cy, 0.5 * a, 0.4 * a, 0.0, 0.15))
        for _ in range(14):  # gold beads, on and in the slab
            rad = rng.uniform(0.75, 2.5)
            out.append((*in_slab(rng.uniform(-0.85, 0.85) * r, rng.uniform(-0.3, 0.3) * r), rad, rad, 0.0, 3.0))
        return out

    if name == "tablet":  # seed 4721: a coated pharmaceutical tablet: an elongated core under a 1-1.5 px denser
        # film coat, granules of two excipients, air pores, a cluster of dense drug crystals 0.8-2 px across and a
        # debossed score line (a 1 px gap across the middle); drawn again until nowhere negative
        t0 = rng.uniform(0, math.pi)
        a0, b0 = 0.8 * r, rng.uniform(0.38, 0.48) * r
        coat = rng.uniform(1.0, 1.5)
        ct, st = math.cos(t0), math.sin(t0)

        def in_core(f, phi, margin):  # polar place in the core, `margin` px inside its edge -> voxel coordinates
            u, v = f * math.cos(phi) * (a0 - coat - margin), f * math.sin(phi) * (b0 - coat - margin)
            return u * ct - v * st, u * st + v * ct

        while True:
            out = []
            shell(0.0, 0.0, a0, b0, t0, coat, 0.7)
            out.append((0.0, 0.0, a0 - coat, b0 - coat, t0, 0.35))  # the core
            for _ in range(18):  # granules: a denser and a lighter excipient
                a = rng.uniform(0.03, 0.09) * r
                out.append((*in_core(math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi), a), a,
                            a * rng.uniform(0.5, 1.0), rng.uniform(0, math.pi), float(rng.choice([-0.1, 0.12]))))
            for _ in range(8):  # air pores
                rad = rng.uniform(0.6, 2.5)
                out.append((*in_core(math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi), rad), rad, rad, 0.0,
                            -0.15))
            cx, cy = in_core(0.5 * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi), 0.0)
            for _ in range(7):  # a cluster of drug crystals
                rad = rng.uniform(0.4, 1.0)
                out.append((cx + rng.uniform(-4, 4), cy + rng.uniform(-4, 4), rad, 0.6 * rad,
                            rng.uniform(0, math.pi), 1.5))
            out.append((0.0, 0.0, 0.5, 0.8 * b0, t0, -0.1))  # the score line, 1 px wide, across the tablet
            if render_ellipses(out, size, sub=4, mean=False).min() >= 0:
                return out

    if name == "wood":  # session 23 (ctfan): a log's cross-section: bark, growth rings whose latewood is a
        # 1-2 px denser shell at a 3-7 px spacing round an off-centre pith, a knot, resin canals (0.5-1.2 px voids)
        t0 = rng.uniform(0, math.pi)
        a0, b0 = 0.86 * r, rng.uniform(0.78, 0.86) * r
        px, py = rng.uniform(-0.08, 0.08, 2) * r  # the pith; the rings' centres move to the log's outwards
        bark = rng.uniform(2.0, 3.5)
        shell(0.0, 0.0, a0, b0, t0, bark, 0.6)
        out.append((0.0, 0.0, a0 - bark, b0 - bark, t0, 0.3))  # earlywood
        f = a0 - bark - rng.uniform(2.0, 5.0)
        while f > 4:
            w = f / a0
            shell(px * (1 - w), py * (1 - w), f, f * b0 / a0, t0, rng.uniform(1.0, 2.0), 0.2)
            f -= rng.uniform(3.0, 7.0)
        out.append((px, py, 1.5, 1.5, 0.0, 0.3))  # the pith
        phi = rng.uniform(0, 2 * math.pi)  # a knot: a branch's base running out from the pith
        out.append((px + 0.3 * r * math.cos(phi), py + 0.3 * r * math.sin(phi), 0.28 * r, 0.05 * r, phi, 0.35))
        for _ in range(12):  # resin canals
            rad, f, phi = rng.uniform(0.5, 1.2), math.sqrt(rng.uniform(0.05, 0.6)), rng.uniform(0, 2 * math.pi)
            out.append((px + f * a0 * math.cos(phi), py + f * b0 * math.sin(phi), rad, rad, 0.0, -0.25))
        return out

    if name == "fruit":  # session 23 (ctfan): a fruit's cross-section: a 1-2 px skin, flesh, 4-6 carpel chambers
        # round the axis with a dense seed in each, vascular bundles 0.6-1.2 px across on a ring
        t0 = rng.uniform(0, math.pi)
        a0 = rng.uniform(0.8, 0.88) * r
        b0 = a0 * rng.uniform(0.88, 1.0)
        skin = rng.uniform(1.0, 2.0)
        shell(0.0, 0.0, a0, b0, t0, skin, 0.55)
        out.append((0.0, 0.0, a0 - skin, b0 - skin, t0, 0.25))  # flesh
        out.append((0.0, 0.0, 0.7 * a0, 0.7 * b0, t0, 0.05))  # denser towards the core
        n, rc, phase = int(rng.integers(4, 7)), rng.uniform(0.18, 0.26) * r, rng.uniform(0, 2 * math.pi)
        for k in range(n):
            phi = phase + 2 * math.pi * k / n
            cx, cy = rc * math.cos(phi), rc * math.sin(phi)
            out.append((cx, cy, 0.12 * r, 0.05 * r, phi, -0.22))  # a chamber
            off = rng.uniform(-0.04, 0.04) * r
            out.append((cx + off * math.cos(phi), cy + off * math.sin(phi), 0.055 * r, 0.025 * r, phi, 0.6))  # seed
        for k in range(14):
            phi = phase + 2 * math.pi * (k + rng.uniform(-0.2, 0.2)) / 14
            rad = rng.uniform(0.6, 1.2)
            out.append((0.5 * a0 * math.cos(phi), 0.5 * b0 * math.sin(phi), rad, rad, 0.0, 0.35))
        return out

    if name == "breast":  # seed 4621: a breast slice (tomosynthesis-like): fat, a skin line, fibroglandular
        # tissue (overlapping soft ellipses), a mass and two clusters of microcalcifications 0.8-2 px across
        a0, b0 = 0.88 * r, rng.uniform(0.6, 0.75) * r
        shell(0.0, 0.0, a0, b0, 0.0, 1.5, 0.35)  # the skin
        out.append((0.0, 0.0, a0 - 1.5, b0 - 1.5, 0.0, 0.2))  # fat
        for _ in range(14):  # fibroglandular tissue towards the chest wall (x1 < 0)
            out.append((rng.uniform(-0.6, 0.2) * r, rng.uniform(-0.4, 0.4) * b0, rng.uniform(0.05, 0.25) * r,
                        rng.uniform(0.03, 0.12) * r, rng.uniform(0, math.pi), rng.uniform(0.03, 0.08)))
        out.append((rng.uniform(-0.3, 0.3) * r, rng.uniform(-0.3, 0.3) * b0, 0.07 * r, 0.05 * r,
                    rng.uniform(0, math.pi), 0.15))  # a mass
        for _ in range(2):  # microcalcification clusters
            cx, cy = rng.uniform(-0.5, 0.5) * r, rng.uniform(-0.4, 0.4) * b0
            for _ in range(6):
                rad = rng.uniform(0.4, 1.0)
                out.append((cx + rng.uniform(-6, 6), cy + rng.uniform(-6, 6), rad, rad, 0.0, 2.0))
        return out

    shell(0.0, 0.0, 0.85 * r, 0.8 * r, 0.0, 2.0, 1.0)
    out.append((0.0, 0.0, 0.85 * r - 2.0, 0.8 * r - 2.0, 0.0, 0.15))  # a light filling
    for _ in range(4):
        cx, cy = rng.uniform(-0.35, 0.35, 2) * r
        a, b = rng.uniform(0.12, 0.3, 2) * r
        shell(cx, cy, a, b, rng.uniform(0, math.pi), rng.uniform(1.0, 2.0), rng.uniform(0.5, 0.9))
    for i in (-1, 0, 1):
        for j in (-1, 0, 1):
            rad = rng.uniform(0.03, 0.06) * r
            shell(0.45 * r * i + rng.uniform(-2, 2), 0.45 * r * j + rng.uniform(-2, 2), rad, rad, 0.0,
                  rng.uniform(1.0, 1.5), 0.8)
    for _ in range(6):
        rad = rng.uniform(0.6, 1.5)
        out.append((*(rng.uniform(-0.6, 0.6, 2) * r), rad, rad, 0.0, 1.5))
    return out


def _sqrt_integral(s, r):
    """int_0^s sqrt(r^2 - t^2) dt for |s| <= r."""
    return 0.5 * (s * np.sqrt(np.maximum(r * r - s * s, 0.0)) + r * r * np.arcsin(np.clip(s / r, -1, 1)))


def project_ellipses(ellipses, theta: np.ndarray, n_det: int) -> np.ndarray:
    """Bin averages of the exact line integrals (chord of an ellipse: 2ab/w^2 sqrt(w^2 - s^2), w its half-width
    along u)."""
    edges = bin_edges(n_det)
    sino = np.zeros((len(theta), n_det))
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    for cx, cy, a, b, t, rho in ellipses:
        w = np.sqrt((a * np.cos(theta - t)) ** 2 + (b * np.sin(theta - t)) ** 2)[:, None]
        shift = (cx * c + cy * s)
        lo = np.clip(edges[None, :-1] - shift, -w, w)
        hi = np.clip(edges[None, 1:] - shift, -w, w)
        sino += rho * 2 * a * b / w**2 * (_sqrt_integral(hi, w) - _sqrt_integral(lo, w))
    return sino


def fan_detector(size: int) -> tuple[int, float, float, float]:
    """problem.ct_fewview's fan beam (its defaults: source 2 widths from the axis, detector 1 width behind it,
    the covering flat detector): bins, bin spacing, SOD, ODD."""
    from regrun.tomography.geometry import covering_detector

    sod, odd = 2.0 * size, 1.0 * size
    counts, spacing = covering_detector((size, size), 1.0, sod, odd)
    return int(counts[0]), float(spacing), sod, odd


def fan_rays(size: int, views: int, sub: int = 16, theta: np.ndarray | None = None):
    """Fan beam over 360 degrees (or at the source angles `theta`, radians: a user's scan), flat detector
    (docs/ct.md conventions: source at -SOD d, detector centre at +ODD d, bins along u): `sub` rays per bin through
    points evenly spread across the bin's width (a midpoint rule for the integral over the bin). Returns the
    sources (V, 1, 2), unit directions (V, n_det * sub, 2) and n_det."""
    n_det, spacing, sod, odd = fan_detector(size)
    if theta is None:
        theta = np.arange(views) * 2 * math.pi / views
    d = np.stack((-np.sin(theta), np.cos(theta)), -1)[:, None, :]
    u = np.stack((np.cos(theta), np.sin(theta)), -1)[:, None, :]
    pos = ((np.arange(n_det)[:, None] + (np.arange(sub)[None, :] + 0.5) / sub - 0.5) - (n_det - 1) / 2).ravel()
    src = -sod * d  # (V, 1, 2)
    det = odd * d + pos[None, :, None] * spacing * u  # (V, n_det * sub, 2)
    e = det - src
    return src, e / np.linalg.norm(e, axis=-1, keepdims=True), n_det


def parallel_rays(theta: np.ndarray, n_det: int, sub: int = 16):
    """Parallel beam as rays: `sub` rays per bin evenly across its width (the midpoint rule for the bin's
    average; for objects without a closed-form bin integral), points on the detector line and directions."""
    pos = (np.arange(n_det)[:, None] + (np.arange(sub)[None, :] + 0.5) / sub).ravel() - n_det / 2.0
    u = np.stack((np.cos(theta), np.sin(theta)), -1)[:, None, :]
    d = np.stack((-np.sin(theta), np.cos(theta)), -1)[:, None, :]
    return pos[None, :, None] * u, np.broadcast_to(d, (len(theta), len(pos), 2))


def polygon_chords(polygons, src: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Sum over convex polygons (vertices (K, 2) counter-clockwise, density) of density x the chord of the line
    src + t e (|e| = 1) inside: the line is clipped by each edge's half-plane n.x <= c (t*(n.e) <= c - n.src)."""
    out = np.zeros(np.broadcast_shapes(src.shape, e.shape)[:-1])
    for verts, rho in polygons:
        lo = np.full(out.shape, -np.inf)
        hi = np.full(out.shape, np.inf)
        for k in range(len(verts)):
            a, b = verts[k], verts[(k + 1) % len(verts)]
            n = np.array([b[1] - a[1], a[0] - b[0]])  # outward normal of a counter-clockwise edge
            c = n @ a
            ne, rhs = e @ n, c - src @ n
            with np.errstate(divide="ignore", invalid="ignore"):
                t = rhs / ne
            hi = np.where(ne > 0, np.minimum(hi, t), hi)
            lo = np.where(ne < 0, np.maximum(lo, t), lo)
            lo = np.where((ne == 0) & (rhs < 0), np.inf, lo)  # parallel to the edge and outside
        out += rho * np.clip(hi - lo, 0.0, None)
    return out


def render_polygons(polygons, size: int, sub: int = 8) -> np.ndarray:
    """Point samples (sub per pixel and axis, [i, j] at (x1_i, x2_j)) of the polygons' density."""
    x = (np.arange(size * sub) + 0.5) / sub - size / 2
    X1, X2 = np.meshgrid(x, x, indexing="ij")
    out = np.zeros_like(X1)
    for verts, rho in polygons:
        inside = np.ones(X1.shape, bool)
        for k in range(len(verts)):
            a, b = verts[k], verts[(k + 1) % len(verts)]
            inside &= (b[1] - a[1]) * (X1 - a[0]) + (a[0] - b[0]) * (X2 - a[1]) <= 0
        out += rho * inside
    return out


def polygon_list(size: int, rng: np.random.Generator) -> tuple[list, list]:
    """`polygons` (added for seed 3401): a body (an ellipse of density 0.3) holding 12 random convex polygons of
    3-7 corners, 4-35% of the radius across, densities -0.25 to 0.6 (straight edges and corners, which the ellipses
    lack); drawn again until nowhere negative. Returns (ellipses, polygons)."""
    r = size / 2
    while True:
        ell = [(0.0, 0.0, 0.85 * r, 0.8 * r, rng.uniform(0, math.pi), 0.3)]
        polys = []
        for _ in range(12):
            k = int(rng.integers(3, 8))
            ang = np.sort(rng.uniform(0, 2 * math.pi, k))
            rad = rng.uniform(0.04, 0.35) * r * rng.uniform(0.6, 1.0, k)
            c = rng.uniform(-0.5, 0.5, 2) * r
            pts = c + np.stack((rad * np.cos(ang), rad * np.sin(ang)), 1)
            from scipy.spatial import ConvexHull

            polys.append((pts[ConvexHull(pts).vertices], rng.uniform(-0.25, 0.6)))  # hull: counter-clockwise
        if (render_ellipses(ell, size, sub=4, mean=False) + render_polygons(polys, size, sub=4)).min() >= 0:
            return ell, polys


def project_ellipses_fan(ellipses, size: int, views: int, sub: int = 16,
                         theta: np.ndarray | None = None) -> np.ndarray:
    """Fan beam (fan_rays): each bin the average over its rays of the exact chord integrals."""
    src, e, n_det = fan_rays(size, views, sub, theta)
    sino = np.zeros(e.shape[:2])
    for cx, cy, a, b, t, rho in ellipses:
        R = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])  # ellipse frame -> world
        q = ((src - np.array([cx, cy])) @ R) / np.array([a, b])
        f = (e @ R) / np.array([a, b])
        ff, qf, qq = (f * f).sum(-1), (q * f).sum(-1), (q * q).sum(-1)
        disc = np.maximum(qf**2 - ff * (qq - 1), 0.0)
        sino += rho * 2 * np.sqrt(disc) / ff
    return sino.reshape(views, n_det, sub).mean(-1)


def chords_ellipses(ellipses, src: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Sum of density x chord of the lines src + t e (|e| = 1) through the ellipses."""
    out = np.zeros(np.broadcast_shapes(src.shape, e.shape)[:-1])
    for cx, cy, a, b, t, rho in ellipses:
        R = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        q = ((src - np.array([cx, cy])) @ R) / np.array([a, b])
        f = (e @ R) / np.array([a, b])
        ff, qf, qq = (f * f).sum(-1), (q * f).sum(-1), (q * q).sum(-1)
        out += rho * 2 * np.sqrt(np.maximum(qf**2 - ff * (qq - 1), 0.0)) / ff
    return out


def render_ellipses(ellipses, size: int, sub: int = 8, mean: bool = True) -> np.ndarray:
    """Cell averages from sub x sub point samples per pixel ([i, j] at (x1_i, x2_j)); mean=False: the samples."""
    x = (np.arange(size * sub) + 0.5) / sub - size / 2
    out = np.zeros((size * sub, size * sub))
    X1, X2 = np.meshgrid(x, x, indexing="ij")
    for cx, cy, a, b, t, rho in ellipses:
        u = (X1 - cx) * math.cos(t) + (X2 - cy) * math.sin(t)
        v = -(X1 - cx) * math.sin(t) + (X2 - cy) * math.cos(t)
        out += rho * ((u / a) ** 2 + (v / b) ** 2 < 1)
    return out.reshape(size, sub, size, sub).mean((1, 3)) if mean else out


# ---- pixel objects: exact square-pixel footprints ------------------------------------------------------------
def _ramp2(y):
    return 0.5 * np.maximum(y, 0.0) ** 2


def project_pixels(img: np.ndarray, size: int, theta: np.ndarray, n_det: int) -> np.ndarray:
    """Bin averages of the line integrals of a piecewise-constant image (square pixels of side h = size / N): a
    pixel's projection on u is the trapezoid box(h|cos|) * box(h|sin|); its share in a bin is the trapezoid's CDF
    difference, at most three bins since the footprint is narrower than h sqrt(2) < 1."""
    N = img.shape[0]
    h = size / N
    x = (np.arange(N) + 0.5) * h - size / 2
    X1, X2 = np.meshgrid(x, x, indexing="ij")
    keep = img != 0
    X1, X2, mass = X1[keep], X2[keep], img[keep] * h * h
    sino = np.zeros((len(theta), n_det))
    for k, t in enumerate(theta):
        w1, w2 = max(h * abs(math.cos(t)), 1e-6 * h), max(h * abs(math.sin(t)), 1e-6 * h)
        a, b = (w1 + w2) / 2, abs(w1 - w2) / 2

        def cdf(y):
            return (_ramp2(y + a) - _ramp2(y + b) - _ramp2(y - b) + _ramp2(y - a)) / (w1 * w2)

        sc = X1 * math.cos(t) + X2 * math.sin(t) + n_det / 2.0  # in bin units from the detector's left edge
        k0 = np.floor(sc).astype(np.int64)
        for j in (-1, 0, 1):
            kk = k0 + j
            share = cdf(kk + 1 - sc) - cdf(kk - sc)
            ok = (kk >= 0) & (kk < n_det)
            sino[k] += np.bincount(kk[ok], weights=mass[ok] * share[ok], minlength=n_det)
    return sino


def disk(n: int, radius: float = 0.9) -> np.ndarray:
    c = (np.arange(n) + 0.5) / n * 2 - 1
    return (c[:, None] ** 2 + c[None, :] ** 2 < radius**2).astype(float)


def _fine_coords(fine: int, size: int):
    """The fine grid's sample centres in reconstruction voxels, centred at the origin ([i, j] = (x1_i, x2_j))."""
    x = (np.arange(fine) + 0.5) * size / fine - size / 2
    return np.meshgrid(x, x, indexing="ij")


def designed_kind(name: str, fine: int, size: int, seed: int) -> np.ndarray:
    """Kinds added for seed 3101 (none of them used before): `linepairs` (a resolution pattern: groups of bars of
    period 1.5-8 reconstruction pixels at several angles in a light body), `gradient` (a smooth body, a gradient
    and a slow bump, with small inserts of 0.5-3 px and contrasts of 2-50%), `cells` (a closed-cell foam: Voronoi
    cell walls 0.8-1.5 px thick, some cells filled); for seed 3401: `gear` (a toothed rim, thin spokes and tubes,
    a hub with a keyway) and `honeycomb` (a hexagonal infill in a shell, solid bosses with a bore); for seed 3501
    `circuit`, `bone`, `star`; for seed 3701 `fibres` (a fibre composite's cross-section); for seed 3901 `battery` (a cylindrical cell's electrode roll); for seed 4001 `shells`, `mesh`, `laminate`
    (structure of 0.8-1.5 px that is not a spiral)."""
    rng = np.random.default_rng([seed, size, 7])
    X1, X2 = _fine_coords(fine, size)
    r = size / 2
    rho = np.hypot(X1, X2)
    if name == "linepairs":
        img = 0.4 * (rho < 0.85 * r)
        periods = [1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0]
        for k, per in enumerate(periods):
            ang = 2 * math.pi * k / len(periods) + rng.uniform(0, 0.3)
            cx, cy = 0.5 * r * math.cos(ang), 0.5 * r * math.sin(ang)
            t = rng.uniform(0, math.pi)
            u = (X1 - cx) * math.cos(t) + (X2 - cy) * math.sin(t)
            v = -(X1 - cx) * math.sin(t) + (X2 - cy) * math.cos(t)
            half = max(0.12 * r, 2.5 * per)
            patch = (np.abs(u) < half) & (np.abs(v) < half)
            img[patch & (np.mod(u, per) < per / 2)] = 1.0
        for _ in range(5):  # small dots near the centre
            c = rng.uniform(-0.2, 0.2, 2) * r
            img[np.hypot(X1 - c[0], X2 - c[1]) < rng.uniform(0.5, 1.5)] = 1.0
        return img
    if name == "gradient":
        body = ((X1 / (0.85 * r)) ** 2 + (X2 / (0.75 * r)) ** 2 < 1)
        img = (0.5 + 0.25 * X1 / r + 0.15 * np.cos(math.pi * rho / r)) * body
        for _ in range(14):
            c = rng.uniform(-0.55, 0.55, 2) * r
            img = img + rng.choice([-1, 1]) * rng.uniform(0.02, 0.5) * (np.hypot(X1 - c[0], X2 - c[1])
                                                                        < rng.uniform(0.5, 3.0)) * body
        return np.clip(img, 0, None)
    if name == "cells":
        from scipy.spatial import cKDTree

        n_cells = int(0.7 * (size / 10) ** 2)  # cells about 10 reconstruction pixels across
        seeds = rng.uniform(-r, r, (n_cells, 2))
        dist, _ = cKDTree(seeds).query(np.stack((X1.ravel(), X2.ravel()), 1), k=2)
        gap = (dist[:, 1] - dist[:, 0]).reshape(X1.shape)  # twice the distance to the nearest wall
        wall = rng.uniform(0.8, 1.5)
        filled = rng.random(n_cells) < 0.15
        _, which = cKDTree(seeds).query(np.stack((X1.ravel(), X2.ravel()), 1))
        img = np.where(gap < wall, 1.0, np.where(filled[which].reshape(X1.shape), 0.45, 0.05))
        return img * (rho < 0.85 * r)
    if name == "gear":  # a designed metal part (seed 3401): a toothed rim, thin spokes and tubes, a hub
        phi = np.arctan2(X2, X1)
        teeth, r0 = int(rng.integers(18, 30)), 0.78 * r
        tooth = rng.uniform(2.0, 3.5) * (np.mod(phi * teeth / (2 * math.pi), 1.0) < 0.5)
        rim = (rho < r0 + tooth) & (rho > r0 - rng.uniform(1.5, 2.5))
        hub = (rho < rng.uniform(0.16, 0.22) * r) & (rho > rng.uniform(0.05, 0.08) * r)
        spokes = np.zeros_like(rim)
        n_spokes, width = int(rng.integers(5, 8)), rng.uniform(1.0, 2.0)
        for k in range(n_spokes):
            a = 2 * math.pi * k / n_spokes + rng.uniform(0, 0.2)
            along = X1 * math.cos(a) + X2 * math.sin(a)
            across = -X1 * math.sin(a) + X2 * math.cos(a)
            spokes |= (np.abs(across) < width / 2) & (along > 0) & (rho < r0)
        tubes = np.zeros_like(rim)
        for k in range(n_spokes):  # a thin-walled tube between each pair of spokes
            a = 2 * math.pi * (k + 0.5) / n_spokes
            c, rad = 0.5 * r * np.array([math.cos(a), math.sin(a)]), rng.uniform(0.06, 0.12) * r
            dist = np.hypot(X1 - c[0], X2 - c[1])
            tubes |= (dist < rad) & (dist > rad - rng.uniform(1.0, 2.0))
        img = 1.0 * (rim | hub | spokes | tubes)
        keyway = (np.abs(X2) < 1.5) & (X1 > 0) & (rho < 0.12 * r)  # a slot cut through the hub
        return np.where(keyway, 0.0, img)
    if name == "honeycomb":  # an additively made part (seed 3401): a hexagonal infill, 1-2 px walls, a shell
        from scipy.spatial import cKDTree

        cell, wall, t = rng.uniform(6.0, 10.0), rng.uniform(1.0, 2.0), rng.uniform(0, math.pi / 3)
        i, j = np.meshgrid(np.arange(-size, size), np.arange(-size, size), indexing="ij")
        pts = cell * np.stack((i + 0.5 * j, j * math.sqrt(3) / 2), -1).reshape(-1, 2)  # a triangular lattice
        pts = pts @ np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
        pts = pts[np.hypot(pts[:, 0], pts[:, 1]) < 1.2 * r]
        dist, _ = cKDTree(pts).query(np.stack((X1.ravel(), X2.ravel()), 1), k=2)
        infill = ((dist[:, 1] - dist[:, 0]).reshape(X1.shape) < wall)  # Voronoi walls of a lattice: hexagons
        shell_out = 0.82 * r
        shell = (rho < shell_out) & (rho > shell_out - rng.uniform(1.5, 2.5))
        img = np.where(rho < shell_out, 0.9 * infill, 0.0) + 0.1 * shell
        img = np.maximum(img, 1.0 * shell)
        for _ in range(3):  # solid bosses with a bore
            c = rng.uniform(-0.45, 0.45, 2) * r
            d = np.hypot(X1 - c[0], X2 - c[1])
            rad = rng.uniform(3.0, 6.0)
            img = np.where(d < rad, np.where(d < rng.uniform(1.0, 0.5 * rad), 0.0, 1.0), img)
        return img
    if name == "truss":  # an additively made lattice (seed 3801): three families of straight struts 1-1.5 px
        # wide at 0/60/120 degrees (a triangular truss, not honeycomb's Voronoi walls), nodes where they cross,
        # a 2 px skin, some struts missing (printing defects)
        cell, width, t = rng.uniform(7.0, 12.0), rng.uniform(1.0, 1.5), rng.uniform(0, math.pi / 3)
        img = np.zeros_like(X1)
        for k in range(3):
            a = t + k * math.pi / 3
            s_perp = X1 * math.cos(a) + X2 * math.sin(a)  # distance across this family's struts
            s_along = -X1 * math.sin(a) + X2 * math.cos(a)
            idx = np.floor(s_perp / cell + 0.5)
            strut = np.abs(s_perp - cell * idx) < width / 2
            seg = np.floor(s_along / cell)  # a strut segment between two nodes: some missing
            keep = (np.sin(12.9898 * idx + 78.233 * seg + 1.7 * k + seed) * 43758.5453) % 1.0 > 0.12
            img = np.maximum(img, 0.85 * (strut & keep))
        skin_out = 0.82 * r
        img = np.where(rho < skin_out, img, 0.0)
        img = np.maximum(img, 1.0 * ((rho < skin_out) & (rho > skin_out - rng.uniform(1.5, 2.5))))
        return img
    if name == "circuit":  # a circuit board (seed 3501): copper traces, pads with vias, chips with pins
        t = rng.uniform(0, math.pi / 2)
        U = X1 * math.cos(t) + X2 * math.sin(t)  # the board's own axes (traces run along them)
        V = -X1 * math.sin(t) + X2 * math.cos(t)
        board = (np.abs(U) < 0.62 * r) & (np.abs(V) < 0.5 * r)
        img = 0.3 * board
        for _ in range(int(rng.integers(16, 24))):  # Manhattan traces: a run along U, then along V
            w = rng.uniform(1.0, 2.5)
            u0, v0 = rng.uniform(-0.55, 0.55) * r, rng.uniform(-0.45, 0.45) * r
            u1, v1 = rng.uniform(-0.55, 0.55) * r, rng.uniform(-0.45, 0.45) * r
            seg1 = (np.abs(V - v0) < w / 2) & (U > min(u0, u1) - w / 2) & (U < max(u0, u1) + w / 2)
            seg2 = (np.abs(U - u1) < w / 2) & (V > min(v0, v1) - w / 2) & (V < max(v0, v1) + w / 2)
            img = np.where(seg1 | seg2, 1.0, img)
        for _ in range(3):  # chips: a dense package with pins at a 2 px pitch along two sides
            cu, cv = rng.uniform(-0.4, 0.4) * r, rng.uniform(-0.3, 0.3) * r
            hu, hv = rng.uniform(4.0, 10.0) * size / 128, rng.uniform(3.0, 6.0) * size / 128
            img = np.where((np.abs(U - cu) < hu) & (np.abs(V - cv) < hv), 0.7, img)
            pins = (np.abs(np.mod(U - cu, 2.0) - 1.0) < 0.45) & (np.abs(U - cu) < hu) \
                & (np.abs(np.abs(V - cv) - hv - 1.0) < 1.0)
            img = np.where(pins, 1.0, img)
        for _ in range(int(rng.integers(10, 16))):  # pads with a drilled via
            cu, cv = rng.uniform(-0.55, 0.55) * r, rng.uniform(-0.45, 0.45) * r
            h = rng.uniform(1.5, 2.5)
            dist = np.hypot(U - cu, V - cv)
            img = np.where((np.abs(U - cu) < h) & (np.abs(V - cv) < h), 1.0, img)
            img = np.where(dist < rng.uniform(0.5, 1.0), 0.0, img)
        return img * board
    if name == "bone":  # a bone slice (seed 3501): cortical shell with canals, marrow, trabecular struts
        from scipy.ndimage import gaussian_filter

        phi = np.arctan2(X2, X1)
        wob = 1 + 0.06 * np.sin(2 * phi + rng.uniform(0, 6)) + 0.04 * np.sin(3 * phi + rng.uniform(0, 6))
        a, b = 0.8 * r, rng.uniform(0.6, 0.75) * r
        ell = np.hypot(X1 / a, X2 / b) / wob  # 1 on the outer surface
        thick = rng.uniform(3.0, 6.0) * size / 128  # cortex thickness in reconstruction pixels
        outer = ell < 1
        inner = ell < 1 - thick / b
        img = np.where(outer, 1.0, 0.0)
        img = np.where(inner, 0.2, img)  # marrow
        px = fine / size  # fine samples per reconstruction pixel
        noise = rng.standard_normal(X1.shape)
        f = gaussian_filter(noise, 1.6 * px) - gaussian_filter(noise, 2.6 * px)  # struts ~5-8 px apart
        gy, gx = np.gradient(f, 1.0 / px)
        grad = np.hypot(gx, gy) + 1e-12
        strut = np.abs(f) / grad < rng.uniform(0.5, 0.75)  # distance to the zero set < half a 1-1.5 px width
        img = np.where(inner & strut, 0.75, img)
        for _ in range(int(rng.integers(6, 12))):  # canals through the cortex, 0.6-1.5 px radius
            ang = rng.uniform(0, 2 * math.pi)
            c = np.array([math.cos(ang) * a, math.sin(ang) * b]) * (1 - 0.5 * thick / b)
            img = np.where(np.hypot(X1 - c[0], X2 - c[1]) < rng.uniform(0.6, 1.5), 0.2, img)
        return img
    if name == "star":  # a Siemens star (seed 3501): spokes from many pixels wide to below one at the centre
        spokes, t = int(rng.integers(24, 40)), rng.uniform(0, math.pi)
        phi = np.arctan2(X2, X1) + t
        sector = np.mod(phi * spokes / (2 * math.pi), 1.0) < 0.5
        img = np.where(rho < 0.75 * r, np.where(sector, 1.0, 0.25), 0.0)
        img = np.where((rho > 0.78 * r) & (rho < 0.82 * r), 0.6, img)  # an outer ring 3 px wide at 128²
        return img
    if name == "fibres":  # a fibre composite's cross-section (seed 3701): round fibres 1-3 px across, voids
        img = np.where(rho < 0.85 * r, 0.35, 0.0)
        for _ in range(int(0.9 * size)):  # fibres, 0.5-1.5 px radius, dense in three bundles and sparse elsewhere
            bundle = rng.integers(0, 4)
            c = (rng.uniform(-0.6, 0.6, 2) * r if bundle == 3 else
                 np.array([math.cos(2.1 * bundle), math.sin(2.1 * bundle)]) * 0.4 * r + rng.normal(0, 0.12 * r, 2))
            img = np.where(np.hypot(X1 - c[0], X2 - c[1]) < rng.uniform(0.5, 1.5), 1.0, img)
        for _ in range(int(rng.integers(4, 9))):  # voids (porosity), 1-4 px radius, elongated
            c, a, t = rng.uniform(-0.55, 0.55, 2) * r, rng.uniform(1.0, 4.0), rng.uniform(0, math.pi)
            u = (X1 - c[0]) * math.cos(t) + (X2 - c[1]) * math.sin(t)
            v = -(X1 - c[0]) * math.sin(t) + (X2 - c[1]) * math.cos(t)
            img = np.where((u / a) ** 2 + (v / (0.4 * a)) ** 2 < 1, 0.0, img)
        return img
    if name == "battery":  # a cylindrical cell (seed 3901): a spiral electrode roll in a steel can
        phi = np.arctan2(X2, X1) + math.pi  # [0, 2 pi)
        pitch, r_pin, r_can = rng.uniform(3.0, 4.5), rng.uniform(0.08, 0.12) * r, 0.84 * r
        bumps = [(rng.uniform(-0.6, 0.6, 2) * r, rng.uniform(3.0, 8.0), rng.uniform(-1.2, 1.2)) for _ in range(4)]
        dent = sum(h * np.exp(-((X1 - c[0]) ** 2 + (X2 - c[1]) ** 2) / (2 * w * w)) for c, w, h in bumps)
        s_roll = np.mod(rho + dent - r_pin - pitch * phi / (2 * math.pi), pitch)  # where in the layer stack
        wc, wa = rng.uniform(1.0, 1.6), rng.uniform(1.0, 1.6)
        layer = np.where(s_roll < wc, 0.8, np.where((s_roll > wc + 0.4) & (s_roll < wc + 0.4 + wa), 0.45, 0.12))
        roll = (rho > r_pin + 1.0) & (rho < r_can - 2.0)
        img = np.where(roll, layer, 0.0)
        img = np.where((rho > r_pin - 1.2) & (rho < r_pin), 1.0, img)  # the hollow pin's wall
        wall = rng.uniform(1.5, 2.5)
        img = np.where((rho >= r_can - wall) & (rho < r_can), 1.0, img)  # the can
        a = rng.uniform(0, 2 * math.pi)  # a tab: a 1 px metal strip from the roll to the can
        across = -X1 * math.sin(a) + X2 * math.cos(a)
        along = X1 * math.cos(a) + X2 * math.sin(a)
        img = np.where((np.abs(across) < 0.5) & (along > 0.5 * r) & (rho < r_can), 1.0, img)
        for _ in range(int(rng.integers(2, 5))):  # gas voids, 1-3 px
            c = rng.uniform(-0.6, 0.6, 2) * r
            img = np.where(np.hypot(X1 - c[0], X2 - c[1]) < rng.uniform(1.0, 3.0), 0.0, img)
        return img
    if name == "shells":  # seed 4001: nested closed shells (not a spiral): an onion-like coating stack, 0.8-1.5 px
        # each at a 2.5-5 px spacing, slightly elliptical and off-centre, some broken over an arc, a lighter core
        phi = np.arctan2(X2, X1)
        c0 = rng.uniform(-0.05, 0.05, 2) * r
        ecc, t = rng.uniform(0.85, 1.0), rng.uniform(0, math.pi)
        u = (X1 - c0[0]) * math.cos(t) + (X2 - c0[1]) * math.sin(t)
        v = -(X1 - c0[0]) * math.sin(t) + (X2 - c0[1]) * math.cos(t)
        q = np.hypot(u, v / ecc)  # the shells' own radius
        img = np.where(q < 0.8 * r, 0.15, 0.0)
        img = np.where(q < rng.uniform(0.12, 0.2) * r, 0.4, img)  # the core
        rad = rng.uniform(0.2, 0.25) * r
        while rad < 0.78 * r:
            w, dens = rng.uniform(0.8, 1.5), rng.choice([0.55, 0.8, 1.0])
            shell = np.abs(q - rad) < w / 2
            a0, span = rng.uniform(0, 2 * math.pi), rng.uniform(0.0, 0.6)  # a broken arc (0-0.6 rad) in some
            gap = np.mod(phi - a0, 2 * math.pi) < span
            img = np.where(shell & ~gap, dens, img)
            rad += rng.uniform(2.5, 5.0)
        img = np.where((q >= 0.8 * r) & (q < 0.8 * r + rng.uniform(1.5, 2.5)), 1.0, img)  # the outer wall
        return img
    if name == "mesh":  # seed 4001: a woven wire mesh in resin: two crossing families of 0.8-1.2 px wires at a
        # 3.5-7 px pitch, some wires broken, a few denser weld spots, in a disk of lighter matrix
        t, pitch = rng.uniform(0, math.pi / 2), rng.uniform(3.5, 7.0)
        width = rng.uniform(0.8, 1.2)
        img = np.where(rho < 0.85 * r, 0.2, 0.0)
        for k in range(2):
            a = t + k * math.pi / 2 + rng.uniform(-0.08, 0.08)  # not quite square
            s_perp = X1 * math.cos(a) + X2 * math.sin(a)
            s_along = -X1 * math.sin(a) + X2 * math.cos(a)
            idx = np.floor(s_perp / pitch + 0.5)
            wire = np.abs(s_perp - pitch * idx) < width / 2
            seg = np.floor(s_along / (3 * pitch))  # a wire broken over a few segments
            keep = (np.sin(12.9898 * idx + 78.233 * seg + 3.1 * k + seed) * 43758.5453) % 1.0 > 0.07
            img = np.where(wire & keep & (rho < 0.8 * r), 0.9, img)
        for _ in range(int(rng.integers(4, 8))):  # weld spots, 1-2 px
            c = rng.uniform(-0.6, 0.6, 2) * r
            img = np.where(np.hypot(X1 - c[0], X2 - c[1]) < rng.uniform(0.5, 1.0), 1.0, img)
        return img
    if name == "laminate":  # seed 4001: a composite coupon's cross-section: plies 1-1.5 px thick alternating two
        # densities, a slow waviness, delamination cracks (0.5 px gaps a few px long) and a fastener hole
        t = rng.uniform(0, math.pi)
        U = X1 * math.cos(t) + X2 * math.sin(t)
        V = -X1 * math.sin(t) + X2 * math.cos(t)
        half_u, half_v = 0.7 * r, rng.uniform(0.35, 0.5) * r
        wave = rng.uniform(0.5, 1.5) * np.sin(2 * math.pi * U / rng.uniform(0.4, 0.8) / r + rng.uniform(0, 6))
        Vw = V + wave * np.cos(math.pi * V / (2 * half_v))  # the waviness fades at the faces
        ply = rng.uniform(1.0, 1.5)
        k = np.floor((Vw + half_v) / ply)
        img = np.where(np.mod(k, 2) == 0, 0.9, 0.55)
        coupon = (np.abs(U) < half_u) & (np.abs(V) < half_v)
        img = np.where(coupon, img, 0.0)
        for _ in range(int(rng.integers(3, 6))):  # delaminations: thin gaps between plies
            kk = rng.integers(2, int(2 * half_v / ply) - 2)
            u0, length = rng.uniform(-0.5, 0.5) * half_u, rng.uniform(3.0, 12.0)
            crack = (np.abs(Vw + half_v - kk * ply) < 0.25) & (np.abs(U - u0) < length / 2)
            img = np.where(crack & coupon, 0.0, img)
        c = rng.uniform(-0.4, 0.4) * half_u
        d = np.hypot(U - c, V)
        hole = rng.uniform(0.5, 0.8) * half_v
        img = np.where(d < hole, np.where(d < hole - 1.0, 1.0, 0.0), img)  # a dense fastener in a 1 px gap
        return img
    if name == "rock":  # seed 4721: a sandstone core plug: rounded quartz grains (3-12 px) packed in pore space,
        # a few dense mineral grains (pyrite), clay filling some pores, 0.7-1.2 px cracks through grains
        img = np.full(X1.shape, 0.05)
        placed = []
        for _ in range(4000):
            if len(placed) >= int(0.9 * (size / 8) ** 2):
                break
            rad = rng.uniform(1.5, 6.0)
            c = rng.uniform(-0.9, 0.9, 2) * r
            if all(math.hypot(c[0] - q[0], c[1] - q[1]) > 0.92 * (rad + q[2]) for q in placed):
                placed.append((c[0], c[1], rad))
        for cx, cy, rad in placed:
            t, e = rng.uniform(0, math.pi), rng.uniform(0.65, 1.0)
            u = (X1 - cx) * math.cos(t) + (X2 - cy) * math.sin(t)
            v = -(X1 - cx) * math.sin(t) + (X2 - cy) * math.cos(t)
            grain = (u / rad) ** 2 + (v / (e * rad)) ** 2 < 1
            img = np.where(grain, rng.choice([0.65, 0.7, 1.4], p=[0.5, 0.45, 0.05]), img)
        clay = rng.random(X1.shape) < 0  # clay: some pore space between grains filled with a grey mix
        for _ in range(int(rng.integers(4, 8))):
            c = rng.uniform(-0.7, 0.7, 2) * r
            clay |= np.hypot(X1 - c[0], X2 - c[1]) < rng.uniform(4.0, 9.0)
        img = np.where(clay & (img < 0.1), 0.3, img)
        for _ in range(int(rng.integers(2, 4))):  # cracks: straight 0.7-1.2 px gaps a third of the plug long
            c = rng.uniform(-0.5, 0.5, 2) * r
            t = rng.uniform(0, math.pi)
            u = (X1 - c[0]) * math.cos(t) + (X2 - c[1]) * math.sin(t)
            v = -(X1 - c[0]) * math.sin(t) + (X2 - c[1]) * math.cos(t)
            img = np.where((np.abs(v) < rng.uniform(0.35, 0.6)) & (np.abs(u) < 0.3 * r), 0.05, img)
        return img
    if name == "bottle":  # seed 6701: a bottle cut along its axis, glass walls 1-2 px, a liquid level
        return bottle_kind(X1, X2, r, rng)
    if name == "nameplate":  # seed 6701: raised and engraved letters, strokes from under 1 px to 3 px (not
        # `text`: that name is scikit-image's picture, seed 3101's)
        return nameplate_kind(fine, size, r, rho, rng)
    raise ValueError(name)


def bottle_kind(X1, X2, r, rng) -> np.ndarray:
    """A bottle's axial section (seed 6701, docs/ct.md "ctfinal"), tilted up to 15 degrees: glass (1.0) 1-2 px
    thick round a body, a shoulder and a neck, a thicker base with a punt, a liquid (0.45) up to a random level
    with a 1-2 px meniscus climbing the walls and a few bubbles, a plastic cap (0.6) and a paper label (0.25)."""
    t = math.radians(rng.uniform(-15, 15))
    y = X1 * math.cos(t) + X2 * math.sin(t)  # along the axis, the base at +0.72 r
    x = -X1 * math.sin(t) + X2 * math.cos(t)
    wb, wn, wall, base = 0.33 * r, 0.11 * r, rng.uniform(1.0, 2.0), rng.uniform(2.5, 4.0)
    s = np.clip((y + 0.45 * r) / (0.25 * r), 0, 1)  # the shoulder: 0 in the neck, 1 in the body
    w = wn + (wb - wn) * (1 - np.cos(math.pi * s)) / 2
    outer = (np.abs(x) < w) & (y > -0.78 * r) & (y < 0.72 * r)
    punt = 0.06 * r * np.clip(1 - (x / (wb - wall)) ** 2, 0, None)
    inner = (np.abs(x) < w - wall) & (y < 0.72 * r - base - punt)
    img = np.where(outer & ~inner, 1.0, 0.0)
    level = rng.uniform(-0.15, 0.4) * r
    climb = rng.uniform(1.0, 2.0) * np.exp(-(w - wall - np.abs(x)) / 1.2)  # the meniscus at the wall
    liquid = inner & (X1 > level - climb)  # the surface level in the image (gravity along the rows)
    img[liquid] = 0.45
    for _ in range(6):  # bubbles of 0.5-2 px radius in the liquid
        c = (rng.uniform(level + 3, 0.6 * r), rng.uniform(-0.8, 0.8) * (wb - wall - 3))
        img[liquid & (np.hypot(y - c[0], x - c[1]) < rng.uniform(0.5, 2.0))] = 0.0
    img[(np.abs(x) < wn + 1.5) & (y > -0.85 * r) & (y < -0.72 * r) & ~(outer & ~inner)] = 0.6
    img[(np.abs(x) >= w) & (np.abs(x) < w + 0.8) & (y > 0.0) & (y < 0.45 * r)] = 0.25
    return img


def nameplate_kind(fine: int, size: int, r: float, rho, rng) -> np.ndarray:
    """A nameplate (seed 6701): a disk-shaped plate (0.3) with lines of random capitals and digits, raised (1.0)
    or engraved (0.0), cap heights 3-14 px so that strokes run from under 1 px to 3 px, the lines turned together
    by a random angle; rendered by Pillow's bundled scalable font on the fine grid."""
    from PIL import Image, ImageDraw, ImageFont

    layer = Image.new("L", (fine, fine), 128)
    draw = ImageDraw.Draw(layer)
    alphabet = "ABCDEFGHKLMNPRSTUVWXYZ0123456789"
    top = 0.22 * fine
    for cap in (14, 9, 6, 4.5, 3):
        px = cap * fine / size * 1.4  # the font's size for that cap height on the fine grid
        font = ImageFont.load_default(size=max(4, int(px)))
        words = " ".join("".join(rng.choice(list(alphabet), rng.integers(2, 6))) for _ in range(6))
        draw.text((0.15 * fine, top), words, fill=int(rng.choice([0, 255])), font=font)
        top += 1.2 * px
    layer = layer.rotate(rng.uniform(-30, 30), resample=Image.BICUBIC, fillcolor=128)
    a = np.asarray(layer, dtype=float)
    img = np.where(a > 170, 1.0, np.where(a < 86, 0.0, 0.3))
    return img * (rho < 0.8 * r)


# read in place from shared/ beside the checkout (FAIR's registration images, never used for CT before 3401); a
# worktree lies one folder deeper than the checkout, so the nearest ancestor holding shared/ is the one
FAIR = next((d / "shared" / "fair_data" for d in Path(__file__).resolve().parents[1:]
             if (d / "shared" / "fair_data").is_dir()), Path(__file__).resolve().parents[1].parent / "shared" / "fair_data")
FAIR_IMAGES = {"ctscan": "PET-CT-CT.jpg", "mrihead": "MRIhead-T.jpg", "epislice": "EPIslice-T.jpg",
               "histology": "HNSP-R.jpg", "handxray": "hands-R.jpg",
               # seed 3501: a PET slice, the hand's other frame, a beach photograph from shared/refine_data
               "petscan": "PET-CT-PET.jpg", "handst": "hands-T.jpg", "beach": "../refine_data/beach_bg.jpg",
               # seed 3601: the other frames of FAIR's pairs not used before, and shared/refine_data's crab photo
               "histt": "HNSP-T.jpg", "mrir": "MRIhead-R.jpg", "epir": "EPIslice-R.jpg",
               "crab": "../refine_data/crab.png",
               # seed 3701
               "eyes": "../refine_data/eye_pair.png", "crabbig": "../refine_data/crab_big_bbg.png",
               # seed 3801: the crab on the beach, turned 15 degrees (sand texture round a small object)
               "crabbeach": "../refine_data/crab_beach_15.0deg.png",
               # seed 3901: the treeline of the beach photo at full resolution (foliage, sky, sand), cropped below
               "foliage": "../refine_data/detection_images/beach_bg.jpg",
               # seed 9202: the same photo's surf and wet sand at full resolution (lower right), a region no batch saw
               # at this scale (`beach` is the whole photo reduced, `foliage` the treeline)
               "surf": "../refine_data/detection_images/beach_bg.jpg",
               # seed 9205: its sky and clouds (top right, above the horizon), a region no batch saw at this scale
               "clouds": "../refine_data/detection_images/beach_bg.jpg"}
CROPS = {"foliage": (400, 0, 768), "surf": (768, 1280, 768), "clouds": (0, 1100, 768)}  # (row, column, side) of a square crop in the full image, instead of the centre


def pixel_object(name: str, fine: int, seed: int, size: int | None = None) -> np.ndarray:
    if name in ("linepairs", "gradient", "cells", "gear", "honeycomb", "circuit", "bone", "star", "fibres", "truss",
                "battery", "shells", "mesh", "laminate", "rock", "bottle", "nameplate"):
        return designed_kind(name, fine, size, seed) * disk(fine)
    if name == "blobs":  # a porous material: random binary blobs (curved edges at every scale) in a lighter matrix
        import skimage.data

        blobs = skimage.data.binary_blobs(length=fine, blob_size_fraction=0.06, volume_fraction=0.35, rng=seed)
        return (0.3 + 0.7 * blobs) * disk(fine)
    if name == "metal":

        from regrun.tomography.phantoms import phantom_function, render

        return render(phantom_function("metal_part", seed), (fine, fine), sub=2).numpy()
    import skimage.color
    import skimage.data
    import skimage.transform

    if name == "s1045":  # seed 6701: matplotlib's MRI slice (256^2), as bench_lambda_sr.py reads it; never CT
        import sys

        sys.path.insert(0, str(Path(__file__).parent))
        from bench_lambda_sr import mpl_sample

        im = mpl_sample("s1045")
        return skimage.transform.resize(im / im.max(), (fine, fine), anti_aliasing=True) * disk(fine)
    if name in FAIR_IMAGES or name == "gracehopper":  # a photograph, a centred square crop of the wider ones
        from PIL import Image

        if name == "gracehopper":  # seed 4301: matplotlib's sample portrait (512 x 600), never used for CT before
            import matplotlib

            path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        else:  # shared/fair_data or shared/refine_data
            path = FAIR / FAIR_IMAGES[name]
        im = np.asarray(Image.open(path).convert("L"), dtype=float)
        if name in CROPS:
            r0, c0, n = CROPS[name]
            im = im[r0:r0 + n, c0:c0 + n]
        n = min(im.shape)
        off = (np.array(im.shape) - n) // 2
        im = im[off[0]:off[0] + n, off[1]:off[1] + n]
    elif name == "motorcycle":  # seed 3701: scikit-image's stereo pair, its left frame (never used for CT before)
        im = skimage.data.stereo_motorcycle()[0]
    else:
        im = getattr(skimage.data, name)()
    if im.ndim == 3 and im.shape[2] == 4:  # RGBA (scikit-image's logo): on white
        im = skimage.color.rgba2rgb(im)
    if im.ndim == 3:
        im = skimage.color.rgb2gray(im)
    im = im.astype(float) / im.max()
    n = min(im.shape)
    im = im[:n, :n]
    return skimage.transform.resize(im, (fine, fine), anti_aliasing=True) * disk(fine)


def gaussian(clean: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """problem.noise=gaussian's convention: standard deviation level x the largest line integral."""
    return clean + level * np.abs(clean).max() * rng.standard_normal(clean.shape)


def poisson(clean: np.ndarray, photons: float, rng: np.random.Generator) -> np.ndarray:
    kappa = -math.log(FLOOR) / clean.max()
    counts = np.maximum(rng.poisson(photons * np.exp(-kappa * clean)), 1.0)
    return -np.log(counts / photons) / kappa


def make(name: str, size: int, views: int, photons: float, seed: int, fine: int, geometry: str = "parallel",
         span: float = 180.0, level: float = 0.0, scan: dict | None = None):
    """One case: (noisy sinogram, clean sinogram, truth). span: the parallel beam's angular range in degrees;
    level > 0: Gaussian noise of that relative level instead of Poisson at `photons`; scan: a user's scan's
    angles (radians) and detector bins (user_scan), else regrun's even views and covering detector."""
    rng = np.random.default_rng([seed, size, views, int(photons), int(round(level * 1e6)), int(span)])
    if span == 180.0 and level == 0.0:  # the stream every case before seed 3501 drew
        rng = np.random.default_rng([seed, size, views, int(photons)])
    theta, n_det = angles(views, span), detector_bins(size)
    if scan is not None:  # seed 4621 on: its own noise stream, so a scan's other options never reuse another's
        rng = np.random.default_rng([seed, size, views, int(photons), scan["key"]])
        theta, n_det = scan["theta"], scan["bins"]
    if name == "polygons":  # analytic, by rays (16 per bin) in either beam
        ell, polys = polygon_list(size, np.random.default_rng([seed, size]))
        if geometry == "fan":
            src, e, n_det = fan_rays(size, views)
        else:
            src, e = parallel_rays(theta, n_det)
        clean = (chords_ellipses(ell, src, e) + polygon_chords(polys, src, e)).reshape(views, n_det, -1).mean(-1)
        truth = (render_ellipses(ell, size, mean=False) + render_polygons(polys, size)).reshape(
            size, 8, size, 8).mean((1, 3))
    elif geometry == "fan":
        if name not in ANALYTIC:
            raise ValueError(f"fan beam: analytic objects only (polygons, {', '.join(ANALYTIC)})")
        ell = ellipse_list(name, size, np.random.default_rng([seed, size]))
        clean = project_ellipses_fan(ell, size, views, theta=None if scan is None else scan["theta"])
        truth = render_ellipses(ell, size)
    elif name in ANALYTIC:
        ell = ellipse_list(name, size, np.random.default_rng([seed, size]))
        clean, truth = project_ellipses(ell, theta, n_det), render_ellipses(ell, size)
    else:
        img = pixel_object(name, fine * size, seed, size)
        clean = project_pixels(img, size, theta, n_det)
        truth = img.reshape(size, fine, size, fine).mean((1, 3))
    return (gaussian(clean, level, rng) if level > 0 else poisson(clean, photons, rng)), clean, truth


USER_FIELDS = ("jit", "wedge", "golden", "det", "rad", "cols", "start")  # seed 4621: a user's scan (user_scan)
GOLDEN = 180.0 * (math.sqrt(5.0) - 1.0) / 2.0  # the golden angle of a 180-degree scan (111.25 degrees)


def user_scan(size: int, views: int, span: float, fields: list[str], seed: int) -> dict:
    """A scan as users bring them (seed 4621, docs/ct.md "Scans no batch tried (ctuser)"), from a case's fields:
    `jitDEG` (each view off its even place by up to +-DEG, uniformly), `wedgeA-B` (no views between A and B
    degrees: the rest of 180 degrees evenly covered), `golden` (views in golden-angle order, k * 111.25 mod 180:
    unsorted), `detN` (N detector bins of one voxel, centred: more or fewer than the covering detector),
    `rad` (the file's angles in radians: a mistake), `cols` (the file's sinogram stored (bins, views): a
    mistake), `startDEG` (every angle plus DEG: an electron microscope's tilt series from -60). Returns theta (radians, in the file's view order), bins, and how the file is written."""
    deg = np.arange(views) * span / views
    bins, unit, cols = detector_bins(size), "deg", False
    key = 0
    for f in fields:
        key = key * 7919 + sum(map(ord, f))
        if f.startswith("jit"):
            deg = deg + np.random.default_rng([seed, size, views, 17]).uniform(-1, 1, views) * float(f[3:])
        elif f.startswith("wedge"):
            a, b = map(float, f[5:].split("-"))
            t = np.arange(views) * (span - (b - a)) / views
            deg = np.where(t < a, t, t + (b - a))
        elif f == "golden":
            deg = np.arange(views) * GOLDEN % span
        elif f.startswith("det"):
            bins = int(f[3:])
        elif f == "rad":
            unit = "rad"
        elif f == "cols":
            cols = True
        elif f.startswith("start"):
            deg = deg + float(f[5:])
    return {"theta": np.radians(deg), "bins": bins, "unit": unit, "cols": cols, "key": key % (2**31)}


def parse_case(spec: str) -> tuple[str, int, int, float, str, float, float, list[str]]:
    """OBJECT:SIZE:VIEWS:PHOTONS[:fan|:limDEG|:USER_FIELDS...] -> (object, size, views, photons, geometry, span,
    level, user fields); PHOTONS gLEVEL: Gaussian noise."""
    o, n, v, ph, *rest = spec.split(":")
    geometry, span, level, user = "parallel", 180.0, 0.0, []
    for extra in rest:
        if extra == "fan":
            geometry = "fan"
        elif extra.startswith("lim"):
            span = float(extra[3:])
        elif extra.startswith(USER_FIELDS):
            user.append(extra)
        else:
            raise ValueError(f"{spec}: unknown field {extra!r}")
    if ph.startswith("g"):
        level, ph = float(ph[1:]), "0"
    return o, int(n), int(v), float(ph), geometry, span, level, user


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("outputs/heldout_ct"))
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--fine", type=int, default=4, help="pixel objects: the simulation grid's factor")
    ap.add_argument("--only", nargs="+", default=None, help="only these objects")
    ap.add_argument("--images", nargs=2, default=["astronaut", "brick"],
                    help="the scikit-image pictures standing in for astronaut and brick (another set: other images)")
    ap.add_argument("--user", action="store_true",
                    help="write every case as a user's file: the sinogram and its `angles` in degrees (README)")
    ap.add_argument("--cases", nargs="+", default=None,
                    help="OBJECT:SIZE:VIEWS:PHOTONS[:fan] instead of the set above (fan: ellipses and rings only)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cases = [(*c, "parallel", 180.0, 0.0, []) for c in CASES] if args.cases is None else [
        parse_case(c) for c in args.cases]
    for name, size, views, photons, geometry, span, level, user in cases:
        name = dict(zip(("astronaut", "brick"), args.images)).get(name, name)
        if args.only and name not in args.only:
            continue
        if span != 180.0 and geometry != "parallel" and not args.user:
            raise ValueError("a limited angular range: parallel beam only (a fan beam's as a user's file: --user)")
        if (user or args.user) and geometry != "parallel" and (
                not args.user or any(f.startswith(("det", "rad", "cols", "golden")) for f in user)):
            raise ValueError("a user's scan: parallel beam only, but for a fan beam's limited range, wedge, jitter "
                             "or start as a user's file (--user)")
        # seed 4721: a fan beam's full range is 360 degrees (no `lim`), limDEG its sources' range as a user's file
        scan_span = 360.0 if geometry == "fan" and span == 180.0 else span
        scan = user_scan(size, views, scan_span, user, args.seed) if user or args.user else None
        sino, clean, truth = make(name, size, views, photons, args.seed, args.fine, geometry, span, level, scan)
        tag = ("" if geometry == "parallel" else f"_{geometry}") + ("" if span == 180.0 else f"_lim{span:g}")
        tag += "".join(f"_{f}" for f in user)
        noise = f"g{level:g}" if level > 0 else f"{photons:.0e}"
        path = args.out / f"{name}_{size}_{views}_{noise}{tag}.npz"
        if scan is not None:  # as a user writes a scan (README): the sinogram and its angles, degrees unless `rad`
            ang = scan["theta"] if scan["unit"] == "rad" else np.degrees(scan["theta"])
            np.savez(path, sinogram=sino.T if scan["cols"] else sino, angles=ang, truth=truth, clean=clean,
                     object=name, size=size, views=views, photons=photons, seed=args.seed, fine=args.fine,
                     geometry=geometry, noise_level=level)
            print(path, sino.shape, f"max {clean.max():.2f}", f"{len(ang)} angles {ang.min():.4g}-{ang.max():.4g}",
                  flush=True)
            continue
        np.savez(path, sinogram=sino, clean=clean, truth=truth, object=name, size=size, views=views,
                 photons=photons, seed=args.seed, fine=args.fine, geometry=geometry,
                 angle_range=span if geometry == "parallel" else 360.0,
                 noise_level=level)
        print(path, sino.shape, f"max {clean.max():.2f}", flush=True)


if __name__ == "__main__":
    main()
