"""Help that explains, from the YAML comments: `regrun --help`, `regrun --explain KEY`, one meaning per key."""
import io
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from regrun.config import config_dir, config_section, group_options
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.explain import explain, file_description, first_sentence, help_text, key_docs
from regrun.monitor import Reporter


def test_help_lists_every_group_option_and_top_level_key_with_its_yaml_description():
    text = help_text()
    for group in ("problem", "solver", "device", "experiment", "ci"):
        for option in group_options(group):
            assert f"  {option}" in text, (group, option)
    assert "Variable-projection Gauss-Newton" in text  # solver/varpro_cg.yaml's first comment
    # every option but the CI presets (named problem__solver) says what it is; headings are words (not "CIS")
    for group in ("problem", "solver", "device", "experiment"):
        for option in group_options(group):
            assert file_description(config_dir() / group / f"{option}.yaml"), (group, option)
    assert "CI PRESETS  +ci=NAME" in text and "CIS" not in text
    top = {k: d for k, d in key_docs(config_dir() / "config.yaml").items() if not k.startswith(("hydra", "defaults"))}
    for key, doc in top.items():
        assert doc.comment, f"config.yaml: {key} has no comment"
        assert f"  {key} " in text and doc.comment.split()[0] in text, key


def test_the_one_line_description_ends_at_a_sentence_not_at_a_label_an_abbreviation_or_a_bracket():
    assert first_sentence("Baseline: register each frame, then solve; see docs.") == \
        "Baseline: register each frame, then solve."
    assert first_sentence("A spike (seed 002 Fig. 4; x.py). More.") == "A spike (seed 002 Fig. 4; x.py)."
    assert first_sentence("Motion (sec. 3.2) first. Then f.") == "Motion (sec. 3.2) first."
    assert first_sentence("x" * 200).endswith("...") and len(first_sentence("x" * 200)) == 160
    for group in ("problem", "solver", "experiment"):
        for option in group_options(group):
            line = first_sentence(file_description(config_dir() / group / f"{option}.yaml"))
            assert not line.endswith(":"), (option, line)  # not cut at its label ("Seed 000 Table 1:")


def test_key_docs_reads_inline_continued_and_block_comments(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("# file\n# The block above b.\nb: 1\na: 'x # not a comment'   # inline\n"
                    "                    # continued\nsec:\n  leaf: 2     # nested\n")
    docs = key_docs(path)
    assert docs["b"].comment == "file The block above b."
    assert (docs["a"].value, docs["a"].comment) == ("'x # not a comment'", "inline continued")
    assert docs["sec.leaf"].comment == "nested"


def test_explain_one_key_and_a_group():
    text = explain("solver.lam", ["problem=ct_fewview", "solver=fista_tv", "solver.lam=2.5"])
    assert text.splitlines()[0] == "solver.lam = 2.5"
    assert "TV weight lambda" in text and "configs/solver/fista_tv.yaml:" in text
    assert "cg_iters = 50" in explain("cg_iters", [])
    group = explain("solver", ["problem=superres", "solver=varpro_cg"])
    assert group.startswith("solver=varpro_cg: Variable-projection") and "solver.jacobian" in group
    with pytest.raises(UserError, match="unknown config key 'solver.nope'"):
        explain("solver.nope", [])


def test_cli_help_and_explain(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "regrun.cli", *a], capture_output=True, text=True,  # noqa
                                    cwd=tmp_path, timeout=120)
    proc = run("--help")
    assert proc.returncode == 0 and "PROBLEMS" in proc.stdout and "time_limit" in proc.stdout
    proc = run("--explain", "problem.n_frames", "problem=superres")
    assert proc.returncode == 0 and proc.stdout.startswith("problem.n_frames = 4") and "frame 0" in proc.stdout
    proc = run("--explain", "nope.key")
    assert proc.returncode == 2 and proc.stderr.startswith("regrun: error: unknown config key 'nope.key'")


def test_problem_frames_is_a_path_and_its_old_count_spelling_warns():
    from regrun.problems.superres import SuperRes

    out = io.StringIO()
    rep = Reporter(stream=out, progress=False)
    rep.err = out
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, None, rep)
    p = SuperRes(config_section("problem", "superres", size=8, frames=3), ctx)
    assert p.n_frames == 3 and "problem.frames=3 as a count is deprecated; write problem.n_frames=3" in out.getvalue()
    assert SuperRes(config_section("problem", "superres", size=8, n_frames=3), ctx).n_frames == 3
    with pytest.raises(UserError, match="problem.frames='x' is a path: add problem.data=frames"):
        SuperRes(config_section("problem", "superres", size=8, frames="x"), ctx)


@pytest.mark.parametrize("group", ["problem", "solver", "device"])
def test_every_key_of_every_group_option_is_documented(group):
    """A key's description is its comment, its section's, or the comment block above it (what --explain shows)."""
    missing = []
    for option in group_options(group):
        docs = key_docs(config_dir() / group / f"{option}.yaml")
        for key, doc in docs.items():
            parts = key.split(".")
            sections = [docs.get(".".join(parts[:i])) for i in range(1, len(parts))]
            if key == "name" or doc.comment or any(s is not None and s.comment for s in sections) or not doc.value:
                continue
            missing.append(f"{group}/{option}.yaml: {key}")
    assert not missing, "keys without a description: " + ", ".join(missing)


def test_cfg_job_prints_the_config_with_each_keys_description(tmp_path, monkeypatch, capsys):
    """`regrun --cfg job`: Hydra's YAML, each documented key followed by its YAML comment; the same values."""
    import yaml

    from regrun import cli
    from regrun.config import compose

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["regrun", "--cfg", "job", "solver=fista_tv", "problem=ct_fewview"])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    text = capsys.readouterr().out
    assert exc.value.code == 0 and not (tmp_path / "outputs").exists()
    assert "  noise_level: 0.01  # gaussian: standard deviation relative to the largest line integral" in text
    assert "  iters: 140  # FISTA iterations" in text  # from solver/fista_tv.yaml's shared block
    assert "\nseed: 0  # seeds python" in text
    composed = compose(["solver=fista_tv", "problem=ct_fewview"])
    assert yaml.safe_load(text)["problem"] == yaml.safe_load(OmegaConf.to_yaml(composed.problem))
