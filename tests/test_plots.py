"""Figure helpers: a colour bar on every image panel, symmetric limits for signed maps, levels drawn apart."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from regrun import plots  # noqa: E402


def test_every_image_panel_has_a_colour_bar_and_signed_maps_are_symmetric():
    fig, ax = plt.subplots()
    im = plots.show_image(ax, np.array([[-1.0, 3.0], [0.5, 0.0]]), cmap="RdBu_r")
    assert im.get_clim() == (-3.0, 3.0) and len(fig.axes) == 2  # the image and its colour bar
    plt.close(fig)
    panel = plots.difference_panel(np.array([[0.1, -0.2]]), title="after", limit=5.0)
    assert (panel["vmin"], panel["vmax"]) == (-5.0, 5.0) and panel["title"] == "after (max |.| 0.2)"


def test_image_grid_legend(tmp_path):
    pts = [(np.array([[0.2, 0.3]]), {"marker": "x"})]
    path = plots.image_grid([dict(image=np.eye(3), points=pts, legend=["landmark"]), dict(image=np.ones((3, 3)))],
                            tmp_path / "g.png", ncols=2, suptitle="title")
    assert path.stat().st_size > 5000


def test_continuation_history_is_drawn_per_level():
    x, label, starts = plots._iteration_axis({"iter": np.array([0, 1, 0, 1, 2.0])}, "iter")
    assert list(x) == [0, 1, 2, 3, 4] and starts == [2.0] and "all levels" in label
    x, label, starts = plots._iteration_axis({"iter": np.arange(4.0)}, "iter")
    assert starts == [] and label == "iteration"


def test_convergence_ticks_whole_iterations(tmp_path, monkeypatch):
    """Three iterations were ticked 0, 0.5, 1, 1.5, 2 (a super-resolution run from 10x10 frames; new-user pass)."""
    figures = []
    real = plots._figure
    monkeypatch.setattr(plots, "_figure", lambda *a: (lambda r: (figures.append(r[0]), r)[1])(real(*a)))
    plots.convergence({"iter": np.arange(3.0), "J": np.array([3.0, 2.0, 1.5])}, tmp_path / "c.png")
    ax = figures[0].axes[0]
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_a_continuation_and_its_baselines_are_drawn_one_colour_each(tmp_path, monkeypatch):
    """registration_fig2's convergence.png drew predictor-corrector, multiscale and single scale as one blue path
    (their rows follow each other in one history); new-user pass."""
    from regrun.problems.multiscale_affine import history_methods
    from regrun.solve_result import SolveResult

    level = np.array([0, 0, 1, 1, 2, 2, 3, 3, -1, -1, -1.0])  # main levels 0-1, multiscale 2-3, single scale -1
    history = {"iter": np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2.0]), "level": level, "J": np.linspace(3, 1, 11)}
    result = SolveResult(solution={"paths": {"predictor_corrector": 0, "multiscale": 0, "single_scale": 0}},
                         status="converged", history=history,
                         tables={"levels": {"level": np.array([0, 1.0])},
                                 "levels_multiscale": {"level": np.array([2, 3.0])},
                                 "levels_single_scale": {"J": np.array([1.0])}})
    methods = history_methods(result)
    assert list(methods) == ["predictor corrector", "multiscale", "single scale"]
    assert [int(m.sum()) for m in methods.values()] == [4, 4, 3]
    figures = []
    real = plots._figure
    monkeypatch.setattr(plots, "_figure", lambda *a: (lambda r: (figures.append(r[0]), r)[1])(real(*a)))
    plots.convergence(history, tmp_path / "c.png", keys=("J",), methods=methods)
    colours = {line.get_label(): line.get_color() for line in figures[0].axes[0].lines if not
               line.get_label().startswith("_")}
    assert len(set(colours.values())) == 3 and [t.get_text() for t in figures[0].legends[0].texts] == list(methods)


def _kept_figures(monkeypatch) -> list:
    """Every figure regrun.plots._figure makes from now on (the lambda curve is drawn without pyplot), to look at
    its axes."""
    figures = []
    real = plots._figure
    monkeypatch.setattr(plots, "_figure", lambda *a, **k: (lambda r: (figures.append(r[0]), r)[1])(real(*a, **k)))
    return figures


def test_lam_curve_log_axis_where_the_values_span_decades_and_a_zoom_on_the_minimum(tmp_path, monkeypatch):
    from regrun.optim.parameter_choice import Choice, curve_figure

    figures = _kept_figures(monkeypatch)
    lam = np.logspace(-3, 0.5, 9)
    steep = 0.25 + (lam - lam[3]) ** 2 * 1e4  # the shape of super-resolution's GCV: 0.25 at the minimum, 1e5 at the end
    for values, scale in ((steep, "log"), (0.2 + 0.01 * np.abs(np.log(lam / lam[3])), "linear"),  # CV: flat
                          (steep - 10.0, "linear")):  # SURE may be negative: no log axis
        curve = {"lam": lam[::-1], "criterion": values[::-1]}  # in the order tried: the figure sorts them
        curve_figure(Choice(float(lam[3]), "gcv", 1.0, "given", 9, False, curve), tmp_path / "curve.png")
        whole, zoom = figures[-1].axes
        assert whole.get_yscale() == scale and zoom.get_yscale() == "linear"
        x, y = zoom.lines[0].get_data()
        assert np.allclose(x, lam[1:6]) and np.allclose(y, values[1:6])  # two weights either side of the minimum
        assert [t.get_text() for t in zoom.get_xticklabels()] == [f"{v:.3g}" for v in lam[1:6]]


def test_image_grid_of_images_alone_is_drawn_with_pil_as_show_image_shows_them(tmp_path):
    from PIL import Image

    # matplotlib's own RdBu_r table, to the 8 bits the figure keeps
    t = np.linspace(0.0, 1.0, 256)
    assert np.abs(plots._colours(t, "RdBu_r").astype(float) - 255 * matplotlib.colormaps["RdBu_r"](t)[:, :3]).max() <= 1
    image = np.arange(12.0).reshape(4, 3)  # FAIR's layout: [i, j] = (x1_i, x2_j)
    image[3, 0] = np.nan
    panels = [dict(image=image, title="grey", vmin=0.0, vmax=11.0), dict(image=image - 5.0, cmap="RdBu_r"),
              dict(image=np.ones((4, 3, 3)), title="colour")]
    assert all(plots._pil_panel(p) for p in panels)
    assert not plots._pil_panel(dict(image=image, points=[]))  # markers: matplotlib's
    img = np.asarray(Image.open(plots.image_grid(panels, tmp_path / "g.png", ncols=2)).convert("RGB"))
    k = round(plots.PANEL_SIDE / 4)
    x0, y0 = 10, 4 + 22  # the first panel's corner: the gap, the top margin and its title's band
    shown = image.T[::-1]  # x1 to the right, x2 upwards (show_image's image.T with origin "lower")
    for r in range(3):
        for c in range(4):
            want = (255, 255, 255) if np.isnan(shown[r, c]) else (round(255 * shown[r, c] / 11),) * 3
            assert tuple(img[y0 + r * k + k // 2, x0 + c * k + k // 2]) == want
    bar = img[y0 + 1:y0 + 3 * k - 1, x0 + 4 * k + 10 + 7]  # the colour bar: white at the top, black at the bottom
    assert bar[0].min() >= 250 and bar[-1].max() <= 5
    assert img.shape[1] > 2 * (4 * k + 10)  # two columns


def test_lam_curve_of_a_climb_shows_the_rule_minimum_the_change_and_reaches_the_choice(tmp_path, monkeypatch):
    """lambda_f=auto's climb above GCV's minimum (super-resolution): the chosen weight is not the rule's minimum, so
    the zoom runs from the minimum to the choice, marks both, and draws ||lam df/dlam|| on its own axis."""
    from regrun.optim.parameter_choice import Choice, _spaced_labels, curve_figure

    figures = _kept_figures(monkeypatch)
    lam = 0.01 * np.sqrt(2.0) ** np.arange(9)
    crit = 0.05 + 0.001 * np.arange(9.0)  # lowest at the first weight
    change = np.full(9, np.nan)
    change[:7] = [9.0, 7.0, 5.0, 3.0, 2.0, 1.5, 1.6]  # the climb: first minimum at lam[5]
    curve = {"lam": lam, "criterion": crit, "change": change}
    curve_figure(Choice(float(lam[5]), "gcv", 1.0, "given", 9, False, curve), tmp_path / "curve.png")
    fig = figures[-1]
    whole, zoom, twin = fig.axes
    x, _ = zoom.lines[0].get_data()
    assert x[0] == lam[0] and x[-1] >= lam[5]  # from the minimum past the choice
    marks = {line.get_label() for line in zoom.lines}
    assert f"chosen lam = {lam[5]:.3g}" in marks and f"gcv minimum = {lam[0]:.3g}" in marks
    tx, ty = twin.lines[0].get_data()
    assert np.allclose(tx, lam[:7]) and np.allclose(ty, change[:7])
    # labels of weights closer than 1.3x are left blank so that they do not overlap
    assert _spaced_labels(np.array([0.1, 0.102, 0.2, 0.25, 0.4])) == ["0.1", "", "0.2", "", "0.4"]


def test_lam_curve_of_a_scaled_pick_is_not_drawn_as_a_climb(tmp_path, monkeypatch):
    """CT's cv scales its pick (lam_cv_scale): the chosen weight is off the curve's minimum without any climb, so no
    second minimum is marked and the zoom stays around the minimum."""
    from regrun.optim.parameter_choice import Choice, curve_figure

    figures = _kept_figures(monkeypatch)
    lam = np.logspace(-2, 1, 9)
    curve = {"lam": lam, "criterion": 1.0 + np.abs(np.log(lam / lam[4]))}
    curve_figure(Choice(0.8 * float(lam[4]), "cv", 1.0, "given", 9, False, curve), tmp_path / "curve.png")
    whole, zoom = figures[-1].axes
    assert np.allclose(zoom.lines[0].get_data()[0], lam[2:7])
    assert not any("minimum" in line.get_label() for line in zoom.lines)
    # a walk after the rule (super-resolution's frame-split walk) names itself in the chosen weight's legend entry
    moved = Choice(0.8 * float(lam[4]), "cv", 1.0, "given", 9, False, curve,
                   details={"lam_moved_by": "frame-split walk from 0.5"})
    curve_figure(moved, tmp_path / "moved.png")
    labels = {line.get_label() for line in figures[-1].axes[1].lines}
    assert f"chosen lam = {0.8 * float(lam[4]):.3g} (frame-split walk from 0.5)" in labels


def test_lam_curve_of_a_climb_that_stopped_at_once_shows_the_step_it_tried(tmp_path, monkeypatch):
    """A climb whose first step did not lower ||lam df/dlam|| keeps the rule's minimum; the zoom still reaches that
    step (why it stopped), the rule's curve is drawn without the step's missing value, and a search over under two
    decades labels its axis at 1-2-5 only (minor labels of a short log axis overlapped)."""
    from regrun.optim.parameter_choice import Choice, curve_figure

    figures = _kept_figures(monkeypatch)
    lam = np.array([0.14, 0.25, 0.36, 0.41, 0.45, 0.51, 0.65, 0.87, 3.0])
    crit = np.array([0.0707, 0.0673, 0.0661, 0.0662, 0.0667, np.nan, 0.0745, 0.0981, 1.62])
    change = np.full(9, np.nan)
    change[[2, 5]] = [27.17, 27.30]
    curve_figure(Choice(0.36, "gcv", 1.0, "given", 9, False, {"lam": lam, "criterion": crit, "change": change}),
                 tmp_path / "curve.png")
    whole, zoom, twin = figures[-1].axes
    x, y = zoom.lines[0].get_data()
    assert x.max() > lam[5] and np.isfinite(y).all() and lam[5] not in x
    assert np.allclose(twin.lines[0].get_data()[0], lam[[2, 5]])
    figures[-1].canvas.draw()
    labels = [t.get_text() for t in whole.get_xticklabels() if t.get_text()]
    assert labels and all(text.replace(".", "").isdigit() for text in labels)  # 0.2, 0.5, 1, 2: no 2x10^-1


def test_the_weight_curve_names_the_setting_a_user_types(tmp_path, monkeypatch):
    # its axis and its chosen line said "lam", which names no setting of CT's solver.lam or SR's problem.lambda_f
    import regrun.plots as plots
    from regrun.optim.parameter_choice import Choice, curve_figure

    made = []
    real = plots._figure
    monkeypatch.setattr(plots, "_figure", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    lam = np.array([0.01, 0.1, 1.0, 10.0])
    crit = np.array([0.4, 0.2, 0.3, 0.9])
    choice = Choice(lam=0.1, rule="gcv", sigma=1.0, noise_source="given", solves=4, at_edge=False,
                    curve={"lam": lam, "criterion": crit, "rss": crit, "trace": np.full(lam.size, np.nan)})
    curve_figure(choice, tmp_path / "lam_curve.png", setting="problem.lambda_f")
    fig, axes = made[0]
    ax = axes[0][0]
    assert ax.get_xlabel() == "problem.lambda_f"
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1].startswith("chosen problem.lambda_f = 0.1")

