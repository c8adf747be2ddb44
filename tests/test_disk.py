"""An output folder that cannot be written, or a disk that fills mid-run: one line, or `failed` in a file
that still reads; never a `results.h5.partial` without a final status. (Tests run as root, so a chmod would
not stop them: the faults are a path under a file and monkeypatched writes.)"""
import errno

import h5py
import pytest

from regrun import record
from regrun.config import compose
from regrun.record import load
from regrun.run import run

TINY = ["problem.synthetic.size=16", "solver.max_iter=2", "progress=false", "figures=false"]


def _full_disk(*_args, **_kw):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_mid_run_is_failed_in_a_readable_file(tmp_path, monkeypatch):
    real = record._write_group

    def write_group(f, name, items):
        if name == "result":
            _full_disk()
        real(f, name, items)

    monkeypatch.setattr(record, "_write_group", write_group)
    outcome = run(compose(TINY), tmp_path / "run")
    assert outcome.status == "failed" and "No space left on device" in outcome.error
    assert "/result" in outcome.error.splitlines()[0]
    res = load(tmp_path / "run")
    assert res["attrs"]["status"] == "failed" and "No space left on device" in res["attrs"]["error"]
    assert "resolved" in res["config"] and not (tmp_path / "run" / "results.h5.partial").exists()


def test_damaged_partial_is_replaced_by_a_small_file_with_status_and_config(tmp_path, monkeypatch):
    def write(self, group, items):
        if group == "result":  # a write that failed half way leaves bytes HDF5 cannot read
            self.partial.write_bytes(b"\0garbage")
            _full_disk()
        with h5py.File(self.partial, "a") as f:
            record._write_group(f, group, items)

    monkeypatch.setattr(record.ResultsFile, "write", write)
    outcome = run(compose(TINY), tmp_path / "run")
    assert outcome.status == "failed"
    res = load(tmp_path / "run" / "results.h5")
    assert res["attrs"]["status"] == "failed" and "rewritten without its data" in res["attrs"]["error"]
    assert res["attrs"]["problem"] == "multiscale_affine" and "resolved" in res["config"]
    assert not (tmp_path / "run" / "results.h5.partial").exists()


def test_nothing_fits_leaves_no_partial_and_says_so(tmp_path, monkeypatch):
    real = record._set_attrs

    def set_attrs(f, attrs):
        if "end_time" in attrs:
            _full_disk()
        real(f, attrs)

    monkeypatch.setattr(record, "_set_attrs", set_attrs)
    outcome = run(compose(TINY), tmp_path / "run")
    assert outcome.status == "failed" and "cannot write the results file" in outcome.error
    assert "No space left on device" in outcome.error
    assert not list((tmp_path / "run").glob("results.h5*"))


def test_results_file_that_cannot_be_created_is_a_user_error_before_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "library_versions", _full_disk)
    outcome = run(compose(TINY), tmp_path / "run")
    assert outcome.status == "failed" and outcome.user_error
    assert outcome.error.startswith(f"cannot write the results file in {tmp_path / 'run'}: No space left on device")
    assert not list((tmp_path / "run").glob("results.h5*"))


@pytest.mark.parametrize("where", ["under_a_file", "full"])
def test_output_folder_that_cannot_be_made_is_one_line(tmp_path, monkeypatch, capsys, where):
    from regrun import cli

    (tmp_path / "a_file").write_text("")
    target = tmp_path / "a_file" / "run"
    if where == "full":
        target = tmp_path / "run"
        monkeypatch.setattr(record.h5py, "File", _full_disk)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["regrun", *TINY, f"hydra.run.dir={target}"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1, err
    why = "a_file is a file, not a folder" if where == "under_a_file" else "No space left on device"
    assert err[0].startswith(f"regrun: error: cannot create the output folder {target}: ") and why in err[0]
