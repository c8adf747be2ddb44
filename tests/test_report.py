"""regrun-report's page, built from a few hand-written results files (no run): environment, one section per
paper and preset, every claim with its verdict, figures embedded; opened in headless Chromium when installed."""
import base64
import shutil
import subprocess
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image
from scipy import ndimage

from regrun import report
from regrun.record import ResultsFile

matplotlib.use("Agg")


def fake_run(folder: Path, run_id: str, problem: str, metrics: dict, paper: dict, claims: dict,
             overrides=(), status="completed", figure=True) -> None:
    config = {"problem": {"name": problem}, "solver": {"name": "s"}, "paper": paper, "claims": claims}
    res = ResultsFile(folder)
    res.begin({"problem": problem, "solver": "s", "device": "cpu", "run_id": run_id, "torch_version": "9.9"},
              OmegaConf.to_yaml(OmegaConf.create(config)), list(overrides))
    res.write("metrics", metrics)
    res.write("paper", paper)
    res.finish(status, wall_time=1.0, error="" if status == "completed" else "ValueError: boom")
    if figure:
        import matplotlib.pyplot as plt

        (folder / "figures").mkdir()
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [1, 0])
        fig.savefig(folder / "figures" / "curve.png")
        plt.close(fig)


@pytest.fixture
def out(tmp_path):
    runs = tmp_path / "rep" / "runs"
    claims = {"rel_error": {"rel": 0.1, "better": "lower", "why": "regulariser rows"}}
    fake_run(runs / "superres_fig5" / "0_a", "a" * 64, "superres", {"rel_error": 0.0968}, {"rel_error": 0.107},
             claims, ["solver.jacobian=full"])
    fake_run(runs / "superres_fig5" / "1_b", "b" * 64, "superres", {"rel_error": 0.05}, {"rel_error": 0.2561},
             claims, ["solver.jacobian=none"])
    fake_run(runs / "crab_fig4" / "0_c", "c" * 64, "spike_pair", {"ncc": 0.9}, {"ncc": 0.972},
             {"ncc": {"tol": 0.01, "better": "higher"}})
    fake_run(runs / "crab_fig4" / "1_d", "d" * 64, "spike_pair", {}, {"ncc": 0.972}, {}, status="failed",
             figure=False)
    return tmp_path / "rep"


def test_page_has_every_section_claim_verdict_and_figure(out):
    with pytest.raises(SystemExit) as exc:
        report.main([str(out), "--collect", "--preset", "superres_fig5", "--preset", "crab_fig4"])
    assert exc.value.code == 0
    page = (out / "report.html").read_text()
    assert 'id="environment"' in page and "torch version" in page and ">9.9<" in page
    for section in ('id="superres_fig5"', 'id="crab_fig4"', "(seed 000): super-resolution", "(seed 002)"):
        assert section in page, section
    assert '<td class="reproduced">reproduced' in page          # 0.0968 vs 0.107 within 10%
    assert '<td class="better">better<div class="why">regulariser rows' in page  # 0.05 vs 0.2561, lower
    assert '<td class="differs">differs' in page               # ncc 0.9 vs 0.972
    assert '<td class="missing">missing' in page and "ValueError: boom" in page  # the failed run
    assert page.count("data:image/png;base64,") == 3
    src = page.split("data:image/png;base64,")[1].split('"')[0]
    assert base64.b64decode(src)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "1 reproduced" in page and "1 better" in page


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (Debian's chromium) is not installed")
def test_page_renders_in_headless_chromium(out, tmp_path):
    presets = [report.Preset("experiment", n) for n in ("superres_fig5", "crab_fig4")]
    for p in presets:
        report.read_preset(p, out)
    path = tmp_path / "page.html"
    path.write_text(report.build_html(presets, "test report"))
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert proc.returncode == 0 and "<html" in dom, proc.stderr[-500:]
    for section in ('<section id="environment">', '<section id="summary">', 'id="superres_fig5"', 'id="crab_fig4"'):
        assert section in dom, section
    assert dom.count('<section class="paper">') == 2 and dom.count("<img ") == 3
    assert dom.count("<tr>") >= 4 + 2 + 2  # environment rows, two claims of superres, ncc and the failed run's
    # The DOM says the images are there; the screenshot says the browser decoded and drew them: each fake run's
    # figure is one line in matplotlib's first colour, which nothing else on the page uses.
    shot = tmp_path / "page.png"
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--hide-scrollbars", "--window-size=1200,3000", f"--screenshot={shot}", path.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-500:]
    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    line = np.abs(rgb - np.array([31, 119, 180])).max(axis=2) <= 12  # matplotlib's C0, #1f77b4
    drawn, n = ndimage.label(line)
    lines = int((ndimage.sum(line, drawn, range(1, n + 1)) >= 100).sum())
    assert lines == 3, f"{lines} of the 3 figures' lines drawn in the screenshot"


def test_quick_preset_names_its_paper_presets_and_user_mistakes_are_one_line(out, tmp_path, capsys):
    """New-user pass: `--quick --preset crab_fig4` (a preset of the quick page) was refused as an unknown ci
    preset; `--collect` on a mistyped folder wrote an empty page and exited 0; no OUT said KEY=VALUE was required."""
    with pytest.raises(SystemExit) as exc:
        report.main(["--quick", "--collect", "--preset", "crab_fig4", str(out)])
    page = (out / "report.html").read_text()
    assert exc.value.code == 0 and 'id="crab_fig4"' in page
    # ux6: the title said "quick: CI-sized presets and three paper presets" above this page of one preset
    assert "regrun report (quick preset crab_fig4)" in page and "three paper presets" not in page
    capsys.readouterr()
    missing = tmp_path / "typo"
    with pytest.raises(SystemExit) as exc:
        report.main(["--collect", str(missing)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "nothing to collect" in err and err.count("\n") == 1 and not missing.exists()
    with pytest.raises(SystemExit) as exc:
        report.main(["--quick"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "required: OUT" in err and "KEY=VALUE" not in err.splitlines()[-1]
