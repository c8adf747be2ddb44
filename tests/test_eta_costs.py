"""The crab ETA's work model against recorded costs (etahalf; docs/detection.md, "The ETA at half size and the
extraction's ETA"): per-sample constants checked on CPU seconds measured in stored bench_crab_eta traces (one
thread, this session's machine), not timed here. Each fails if a constant drifts back to what it was before."""
import statistics

import pytest

import regrun.detection.unrolled_registrar as U
from test_bench_crab_eta import load_bench

# (scale, float32 samples the descent ran: its most work less what its stopped items skipped, CPU s of the descent)
# of the 40 spike nodes (eye pair, crab) of the 20 half-size traces of heldout19's half, heldout15c and heldout13a's
# half, and the 10 of heldout13a's five full-size traces, run at etahalf's start commit
SPIKE_DESCENTS = [(2, 2897175, 0.1203), (2, 7339055, 0.2557), (2, 421143, 0.0136), (2, 24260352, 0.7), (2, 5397713, 0.1765), (2,
    7459933, 0.2685), (2, 4224593, 0.1509), (2, 13665792, 0.4692), (2, 413882, 0.013), (2, 1657763, 0.051), (2,
    413882, 0.0146), (2, 1657763, 0.0484), (2, 3680617, 0.1601), (2, 10999296, 0.4231), (2, 421143, 0.0145), (2,
    22712832, 0.6186), (2, 3638714, 0.1343), (2, 10015651, 0.3281), (2, 5574476, 0.2113), (2, 8185204, 0.2872), (2,
    3456884, 0.1328), (2, 11094528, 0.3689), (2, 421143, 0.0156), (2, 16332288, 0.5077), (2, 413882, 0.0175), (2,
    1657763, 0.0436), (2, 3759581, 0.1436), (2, 10975488, 0.4026), (2, 3035136, 0.1169), (2, 7529007, 0.2296), (2,
    421143, 0.0131), (2, 22617600, 0.7977), (2, 413882, 0.0137), (2, 2193082, 0.0953), (2, 3702551, 0.1313), (2,
    11046912, 0.3258), (2, 5483939, 0.2046), (2, 8513303, 0.2892), (2, 2325062, 0.0954), (2, 10404096, 0.3247), (1,
    1575079, 0.0806), (1, 8664567, 0.3964), (1, 172218, 0.0148), (1, 693155, 0.0314), (1, 172218, 0.0097), (1,
    15077385, 0.5689), (1, 2229867, 0.1099), (1, 3740148, 0.1775), (1, 674521, 0.0447), (1, 2974790, 0.1474)]

# (node kind, scale, samples, CPU s of the descent) of every node of the four first-run extractions (the synthetic
# crab and refine_crab, half and full size; spike descents in float32), run at etahalf's start commit
EXTRACTION_DESCENTS = [('leaf', 2, 14108640, 0.4424), ('leaf', 2, 13959360, 0.419), ('leaf', 2, 18782280, 0.5065), ('leaf', 2, 18800640,
    0.5374), ('spike', 2, 6829056, 0.146), ('spike', 2, 27353088, 0.4265), ('leaf', 2, 15936000, 0.4384), ('leaf',
    2, 13903620, 0.4292), ('leaf', 2, 21060000, 0.5252), ('leaf', 2, 21795840, 0.5405), ('spike', 2, 7127040,
    0.1052), ('spike', 2, 38900736, 0.6824), ('leaf', 1, 36358920, 1.3168), ('leaf', 1, 36803640, 1.2532), ('leaf',
    1, 49644540, 1.602), ('leaf', 1, 50673600, 1.6825), ('spike', 1, 2841600, 0.0777), ('spike', 1, 11934720,
    0.2828), ('leaf', 1, 41786880, 1.2144), ('leaf', 1, 33542700, 1.0062), ('leaf', 1, 57998160, 1.5655), ('leaf',
    1, 62825400, 1.7807), ('spike', 1, 2918400, 0.103), ('spike', 1, 16625664, 0.3918)]


def ratio(rows, constant):
    """Median of measured / predicted seconds over recorded (samples, seconds)."""
    return statistics.median(sec / (constant * n) for n, sec in rows)


def per_sample(sample, spread, scale):
    """A float32 spike sample's predicted seconds at the default quadrature step of a scale (h 1 at half size, 3 at
    full: UnrolledRegistrar.spike_spread)."""
    return sample[4] + spread[4] * {2: 1.0, 1: 9.0}[scale]


@pytest.mark.parametrize("scale", [2, 1])
def test_float32_spike_descents_are_priced_at_their_recorded_cost(scale):
    """Priced at the leaves' float32 constant, as from crabfast to etahalf, they ran at 0.78 of the model at half
    size and 1.1 at full."""
    rows = [(n, sec) for s, n, sec in SPIKE_DESCENTS if s == scale]
    constant = per_sample(U.SPIKE_SAMPLE_SECONDS, U.SPIKE_SPREAD_SECONDS, scale)
    assert ratio(rows, constant) == pytest.approx(1.0, abs=0.1)
    if scale == 2:
        assert ratio(rows, U.SAMPLE_SECONDS[4]) < 0.85  # the old pricing, for contrast


@pytest.mark.parametrize("scale", [2, 1])
@pytest.mark.parametrize("kind", ["leaf", "spike"])
def test_extraction_descents_are_priced_at_their_recorded_cost(kind, scale):
    """Extraction's float32 spike samples at 4.6e-8 (float64's) ran at 0.36 / 0.55 of the model (half / full
    size), its leaves at 3.93e-8 at 0.71 / 0.79."""
    rows = [(n, sec) for k, s, n, sec in EXTRACTION_DESCENTS if k == kind and s == scale]
    constant = U.EXTRACTION_LEAF_SAMPLE_SECONDS if kind == "leaf" else \
        per_sample(U.EXTRACTION_SPIKE_SAMPLE_SECONDS, U.EXTRACTION_SPIKE_SPREAD_SECONDS, scale)
    assert ratio(rows, constant) == pytest.approx(1.0, abs=0.15)


def test_the_work_model_prices_a_spike_sample_by_its_quadrature_step():
    """The spread term reaches the plan: a full-size spike node's descent costs h^2 = 9 spread units per sample."""
    bench = load_bench()
    _, _, det = bench.setup("synthetic", 1, bench.no_calibration("synthetic", 1))
    assert det.extraction_registrar.spike_spread() == 9.0


def test_the_bench_prices_an_extraction_as_the_registrar_does():
    """bench_crab_eta's replay plan (plan_from on the nodes' units) equals Detector.predicted_plan's for the
    synthetic crab's extraction: before etahalf the replay priced float32 spike samples at the leaves' constant."""
    bench = load_bench()
    _, _, det = bench.setup("synthetic", 2)
    plan = det.predicted_plan(None, extracting=True)
    units = bench.node_units(det.extraction_registrar, det.node_layouts(det.canvas_shape(), extracting=True))
    kinds = {n: segs[0][0].split()[0] for n, segs in plan.items()}
    replay = bench.plan_from(units, kinds, extracting=True)
    for n, segs in plan.items():
        assert [s[1] for s in replay[n]] == pytest.approx([s[1] for s in segs], rel=1e-9)
