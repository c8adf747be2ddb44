"""scripts/diag_ct_convergence.py (docs/ct.md "(ctpeer3)"): its checkpoints are the solver's own iterates (the
N-iteration record is FISTA-TV's solve at N), adaptive restart fires and brings the iterate nearer its fixed point
at the same count, and the three regions split the mask with the jumps in `edge`."""
import pytest
import torch

from tests.ct_case_file import case_file
from tests.test_fbp_files import _script


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return case_file(tmp_path_factory.mktemp("ctpeer3"))


def test_checkpoints_are_the_solvers_iterates_and_restart_gets_nearer(case):
    bench, diag = _script("bench_lambda_ct"), _script("diag_ct_convergence")
    p, _ = bench.case_from_file(case)
    lam = 0.3
    plain, ug = diag.fista_for(p, "none")
    rec = diag.trace(p, plain, ug, lam, {20, 200})
    with torch.no_grad():
        x20 = ug.output(plain.solve(torch.tensor(lam, dtype=torch.float64), 20))
    assert torch.equal(rec["image"], x20)
    assert rec["20"]["psnr"] == p.quality(x20 * p.mask)["psnr"] and rec["200"]["restarts"] == 0
    restarted, ug = diag.fista_for(p, "gradient")
    fast = diag.trace(p, restarted, ug, lam, {20, 200})
    assert fast["200"]["restarts"] > 0
    # the same map T, reached sooner: the fixed-point residual and the objective lower at 200 iterations
    assert fast["200"]["residual"] < 0.5 * rec["200"]["residual"], (fast["200"], rec["200"])
    assert fast["200"]["objective"] <= rec["200"]["objective"] * (1 + 1e-9)


def test_regions_partition_the_mask(device):
    diag = _script("diag_ct_convergence")
    n = 32
    y, x = torch.meshgrid(torch.arange(n, device=device), torch.arange(n, device=device), indexing="ij")
    truth = ((x >= 8) & (x < 16) & (y >= 8) & (y < 16)).double()  # a square: jumps on its border
    truth[20:28, 4:28] = 0.5 + 0.03 * torch.sin(1.5 * x[20:28, 4:28])  # a texture: no step above 5 % inside
    mask = torch.ones(n, n, dtype=torch.float64, device=device)
    r = diag.regions(truth, mask)
    total = r["edge"].int() + r["flat"].int() + r["texture"].int()
    assert torch.equal(total, torch.ones_like(total))  # disjoint, and they cover the mask
    assert bool(r["edge"][8, 8]) and bool(r["edge"][7, 12]) and bool(r["flat"][12, 12]) and bool(r["flat"][2, 2])
    assert bool(r["texture"][24, 16]) and not bool(r["edge"][24, 16])


def test_region_errors_sum_to_the_error_and_sign_a_darker_wall(device):
    diag = _script("diag_ct_convergence")

    class P:  # what region_errors reads of a problem
        truth = torch.zeros(16, 16, dtype=torch.float64, device=device)
        mask = torch.ones(16, 16, dtype=torch.float64, device=device)
    P.truth[4:12, 7:9] = 1.0  # a 2 px wall
    darker = P.truth * 0.8  # TV's loss of contrast on a thin wall, in caricature
    r = diag.region_errors(P, {"dark": darker})
    assert sum(r[k]["dark"] for k in ("edge", "flat", "texture")) == pytest.approx(float(((darker - P.truth) ** 2).sum()))
    assert r["edge"]["dark_bias"] < 0 and r["flat"]["dark"] == 0.0


def test_bregman_first_step_is_the_plain_solve_and_the_data_is_restored(case):
    bench, diag = _script("bench_lambda_ct"), _script("diag_ct_convergence")
    p, _ = bench.case_from_file(case)
    f, ug = diag.fista_for(p, "none")
    b = f.data.clone()
    steps = diag.bregman(p, f, ug, 1.0, 1, 30)
    plain = diag.trace(p, f, ug, 1.0, {30})["30"]["psnr"]
    assert steps[0] == plain and steps[1] != plain and torch.equal(f.data, b)


def test_bands_add_up_to_the_error(device):
    diag = _script("diag_ct_convergence")
    g = torch.Generator().manual_seed(1)
    truth = torch.zeros(24, 24, dtype=torch.float64)
    truth[6:18, 10:13] = 1.0
    truth = truth.to(device)
    mask = torch.ones_like(truth)
    image = truth + 0.1 * torch.randn(24, 24, generator=g, dtype=torch.float64).to(device)
    b = diag.bands(truth, mask, {"x": image})
    total = float(((image - truth) ** 2).sum())
    assert sum(b[k]["x"] for k in ("grad<p50", "p50-80", "p80-95", ">p95")) == pytest.approx(total)
    assert sum(v["x"] for k, v in b.items() if k.startswith("freq")) == pytest.approx(total)  # Parseval
    assert b["bright side"]["pixels"] + b["dark side"]["pixels"] == b["p80-95"]["pixels"] + b[">p95"]["pixels"]
