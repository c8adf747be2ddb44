"""scripts/ct_unknown_grid_table.py (docs/ct.md "(ct256grid)"): two batches holding a scan of the same name stay
two scans, a rerun is judged against the baseline it reused, a later peer raises only the scan whose sinogram it
ran on, and the summary counts and sums what the rows say."""
import json

import pytest

from tests.test_fbp_files import _script


def _result(psnr_opt, psnr_auto, *, grid=1, data="fine", peer=20.0, share=(0.1, 1.0), cpu=10.0):
    return {"object": "bone (file)", "size": 256, "views": 15, "photons": 1e5, "tv_grid": grid, "tv_grid_data": data,
            "grid_best_lam": 0.1, "grid_best_psnr": psnr_opt, "peer_psnr": peer, "skimage_sart_tv": peer - 1,
            "astra_sirt_tv": None,
            "auto_cv": {"lam": 0.2, "psnr": psnr_auto, "cpu_s": cpu,
                        "stats": {"lam_cv_dose": f"noise variance 1 per bin x 1 (reference) = {share[0]} of the "
                                                 f"held-out misfit {share[1]}: scale 0.8 ** 1 = 0.8"}}}


def _bench(path, cases, results, reuse=None):
    args = {"cases": str([f"PosixPath('{c}')" for c in cases]).replace('"', "")}
    if reuse is not None:
        args["reuse"] = str(reuse)
    path.write_text(json.dumps({"args": args, "results": results}))
    return path


def test_batches_reruns_and_extra_peers_stay_with_their_own_scan(tmp_path):
    table = _script("ct_unknown_grid_table")
    a = _bench(tmp_path / "a.json", ["/x/a/bone_256_15_1e+05.npz"], [_result(19.0, 18.5)])
    b = _bench(tmp_path / "b.json", ["/x/b/bone_256_15_1e+05.npz"], [_result(21.0, 20.9, share=(0.5, 1.0), cpu=20.0)])
    rerun = _bench(tmp_path / "r.json", ["/x/a/bone_256_15_1e+05.npz"],
                   [_result(20.5, 20.4, grid=2, cpu=60.0)], reuse=a)
    extra = {"/x/b/bone_256_15_1e+05.npz": [22.0, "SART 1000 passes", 1.0]}
    scans, variants = table.collect([a, b], [rerun], extra)
    assert len(scans) == 2 and variants == ["2x fine"]
    by_base = {k[0].split("/")[-1]: s for k, s in scans.items()}
    assert by_base["a.json"]["peer"] == 20.0 and by_base["b.json"]["peer"] == 22.0  # the extra peer: b's file only
    assert list(by_base["a.json"]["runs"]) == ["2x fine"] and by_base["b.json"]["runs"] == {}
    assert by_base["a.json"]["share"] == 0.1 and by_base["b.json"]["share"] == 0.5
    text = table.tables(scans, variants)
    # a: baseline optimum 19.0 and auto 18.5 below the peer 20; the 2x grid's 20.5 and 20.4 above it, 6x the CPU
    assert "| 2x fine | 1 | 0 → 1 | 0 → 1 | 1 → 1 | +1.90 (+1.90) | +1.50 | 6.0× |" in text
    assert text.count("20.50*") == 1 and "–" in text  # b has no rerun: blank, out of the sums


def test_a_run_of_its_own_goes_with_the_baseline_of_its_file(tmp_path):
    table = _script("ct_unknown_grid_table")
    a = _bench(tmp_path / "a.json", ["/x/a/bone_256_15_1e+05.npz"], [_result(19.0, 18.5)])
    b = _bench(tmp_path / "b.json", ["/x/b/bone_256_15_1e+05.npz"], [_result(21.0, 20.9)])
    own = _bench(tmp_path / "o.json", ["/x/b/bone_256_15_1e+05.npz"], [_result(21.5, 21.4, grid=2, data="pixel")],
                 reuse="None")  # bench_lambda_ct.py stores an absent --reuse as "None"
    scans, variants = table.collect([a, b], [own], {})
    assert variants == ["2x pixel"]
    assert {k[0].split("/")[-1]: list(s["runs"]) for k, s in scans.items()} == {"a.json": [], "b.json": ["2x pixel"]}


def test_a_rerun_of_no_baseline_scan_is_refused(tmp_path):
    table = _script("ct_unknown_grid_table")
    a = _bench(tmp_path / "a.json", ["/x/a/bone_256_15_1e+05.npz"], [_result(19.0, 18.5)])
    other = _bench(tmp_path / "o.json", ["/x/o/bone_256_15_1e+05.npz"], [_result(19.0, 18.5)])
    rerun = _bench(tmp_path / "r.json", ["/x/o/bone_256_15_1e+05.npz"], [_result(20.5, 20.4, grid=2)], reuse=other)
    with pytest.raises(SystemExit, match="is in no --base file"):
        table.collect([a], [rerun], {})
