"""newuser29's pass from a fresh clone (session 41): data kinds the earlier passes had not tried; each case fails on
main (docs/ct.md, "A new user's pass (newuser29)")."""
import numpy as np
import pytest

SEED = 8046


def _disc_line_integrals(views: int = 24, n_u: int = 24) -> np.ndarray:
    u = np.arange(n_u) - (n_u - 1) / 2
    return np.tile(0.1 * 2 * np.sqrt(np.clip(7.0**2 - u**2, 0, None)), (views, 1))  # a centred disc of radius 7


def _ct(args, tmp_path, monkeypatch, capsys, device):
    from cli_in_process import regrun_in_process

    return regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.size=24", "solver=fbp",
                              "figures=false", f"device={device.type}", "hydra.run.dir=run", *args], tmp_path,
                             monkeypatch, capsys)


@pytest.mark.parametrize("zeros", [0, 3])
def test_a_transmission_sinogram_gets_the_line_that_takes_its_log(zeros, device, tmp_path, monkeypatch, capsys):
    # I/I0 in (0, 1] (Poisson noise lifts a few rays over 1) was told "these look like raw detector counts ...
    # -numpy.log(counts / flat), flat a flat-field scan's mean over its frames": a flat it had divided by already
    # (newuser29)
    rng = np.random.default_rng(SEED)
    trans = rng.poisson(1e4 * np.exp(-_disc_line_integrals())) / 1e4
    trans.flat[rng.choice(trans.size // 2, zeros, replace=False) + 10] = 0.0  # dead rays through the object
    np.save(tmp_path / "t.npy", trans)
    got = _ct(["problem.sinogram=t.npy"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2, got.stderr
    line = got.stderr.strip()
    assert "\n" not in line and "raw detector counts" not in line, line
    floor = f"{trans[trans > 0].min():.3g}"
    arg = f"numpy.clip(numpy.load('t.npy'), {floor}, None)" if zeros else "numpy.load('t.npy')"
    assert ("these look like transmission I/I0 (counts already divided by the flat field), not line integrals; "
            "give -log(I/I0)") in line and f"numpy.save('scan.npy', -numpy.log({arg}))" in line, line
    assert (f"its {zeros} values <= 0 are raised to its smallest positive one, {floor}" in line) == bool(zeros), line
    exec(f"import numpy\nnumpy.save({str(tmp_path / 'scan.npy')!r}, -numpy.log({arg.replace('t.npy', str(tmp_path / 't.npy'))}))")
    got = _ct(["problem.sinogram=scan.npy", "hydra.run.dir=run2"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 0, got.stderr


def test_raw_counts_are_still_told_as_counts(device, tmp_path, monkeypatch, capsys):
    # the control: counts of 10^4 at the ends keep the counts' line and its flat-field advice
    np.save(tmp_path / "c.npy", 1e4 * np.exp(-_disc_line_integrals()))
    got = _ct(["problem.sinogram=c.npy"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2 and "these look like raw detector counts" in got.stderr, got.stderr
    assert "transmission" not in got.stderr, got.stderr


def test_a_report_names_a_refused_preset_its_reason_and_the_way_to_give_its_data(tmp_path, monkeypatch, capsys):
    # `regrun-report --quick REP` from a clone without ../shared/fair_data: "superres_fig5: exit 2 (log: ...)" and
    # at the end "1 of 19 presets without a run", exit 1; the reason (FAIR's images not found) only in the log
    # (newuser29)
    from regrun import report

    refused = ("regrun: error: job 0 (+experiment=superres_fig5): problem.data_dir=../shared/fair_data: no such "
               "folder; give problem.data_dir=PATH; no job started")

    class Sweep:
        def __init__(self, cmd, stdout=None, **kwargs):
            stdout.write("regrun: checking 1 job\n" + refused + "\n")

        def wait(self, timeout=None):
            return 2

    monkeypatch.setattr(report.subprocess, "Popen", Sweep)
    out = tmp_path / "rep"
    with pytest.raises(SystemExit) as end:
        report.main([str(out), "--quick", "--preset", "superres_fig5"])
    assert end.value.code == 1
    got = capsys.readouterr()
    assert (f"regrun-report: superres_fig5: exit 2 (log: {out / 'logs' / 'superres_fig5.log'}): error: job 0 "
            "(+experiment=superres_fig5): problem.data_dir=../shared/fair_data: no such folder") in got.err, got.err
    last = got.out.strip().splitlines()[-1]
    assert last.endswith(f"; 1 of 1 preset without a run (superres_fig5: refused, the reason above and in "
                         f"{out / 'logs'}); `regrun-report --quick --preset superres_fig5 {out} problem.data_dir=PATH` "
                         f"runs it on your copy of the data, then `regrun-report --collect --quick {out}` writes the "
                         "whole page"), last
