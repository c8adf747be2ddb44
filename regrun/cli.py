"""The `regrun` command: Hydra entry point, with user mistakes reported as one line."""
from __future__ import annotations

import contextlib
import difflib
import itertools
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from .config import (compose, config_dir, field_key_hint, group_file, group_options, key_owners, nearest_keys,
                     paper_values, quote_value, register_resolvers, searchpath_override, settings_replaced_by_value)
from .console import STARTING, held_ctrl_c, informational, reader_left
from .errors import SYNONYMS, UserError

EXIT_CODES = {"completed": 0, "failed": 1, "diverged": 3, "interrupted": 130}
USER_ERROR_EXIT = 2
CHECKED_GROUPS = ("problem", "solver", "device", "experiment", "ci")
# Launchers that come with the [sweep] extra: the module each needs, to say so in one line when it is missing.
LAUNCHER_MODULES = {"joblib": "hydra_plugins.hydra_joblib_launcher", "slurm": "hydra_plugins.hydra_submitit_launcher"}

# Parallel launchers run the task in fresh worker processes that import this module: the `${run_id:}`
# resolver in the output folder pattern must exist there before Hydra names the job's folder.
register_resolvers()


def _error(message: str, code: int = USER_ERROR_EXIT) -> None:
    print(f"regrun: error: {message}", file=sys.stderr)
    sys.exit(code)


def _overrides(argv: list[str]) -> list[str]:
    return [a for a in argv if "=" in a and not a.startswith("-")]


def _check_group_choices(overrides: list[str], user_dirs: tuple[Path, ...] = ()) -> None:
    """Unknown problem/solver/device/experiment names, caught before Hydra prints a page of search paths."""
    for item in overrides:
        key, value = item.split("=", 1)
        key = key.lstrip("+~")
        if key not in CHECKED_GROUPS or "(" in value:
            continue
        valid = group_options(key, user_dirs)
        for choice in value.split(","):
            if key == "device" and re.fullmatch(r"cuda:\d+", choice):  # torch's spelling of a GPU by index
                _error(f"unknown device {choice!r}: a GPU is picked by its index with device=cuda "
                       f"device.index={choice.split(':')[1]}; valid devices: {', '.join(valid)}")
            if choice not in valid and choice != "null":
                # the allowed name it nearly spells (`device=CPU`, `solver=varpro`), as values get (newuser5)
                starts = [v for v in valid if v.startswith(choice)]
                near = [v for v in valid if v == SYNONYMS.get(choice.lower())] or \
                    [v for v in valid if v.lower() == choice.lower()] or \
                    (starts if len(starts) == 1 else []) or difflib.get_close_matches(choice, valid, n=1, cutoff=0.6)
                _error(f"unknown {key} {choice!r}{f'; did you mean {near[0]!r}?' if near else ''}; valid {key}s: "
                       f"{', '.join(valid)}")


def _check_launcher(argv: list[str]) -> None:
    import importlib.util

    for item in argv:
        if item.startswith("hydra/launcher="):
            name = item.split("=", 1)[1]
            module = LAUNCHER_MODULES.get(name)
            if module and importlib.util.find_spec(module) is None:
                _error(f"hydra/launcher={name} needs the sweep extra: pip install -e '.[sweep]'")
            if module is None:
                _check_launcher_name(name)
        if item.startswith("hydra.launcher.n_jobs="):
            # `n_jobs=0` ran every job "failed" in 0.0 s (joblib: "n_jobs == 0 has no meaning"), `n_jobs=abc` was
            # Hydra's five lines and exit 1 (newuser7)
            value = item.split("=", 1)[1]
            if not re.fullmatch(r"-?\d+", value) or int(value) == 0:
                _error(f"{item}: the number of jobs at once must be a whole number other than 0 (N: N processes; "
                       "-1: one per CPU, -2: all CPUs but one)")


def _check_launcher_name(name: str) -> None:
    """A launcher no config provides is one line with the ones that exist: in a sweep (`-m
    hydra/launcher=jobib`, whose jobs Hydra composes itself) it was Hydra's twelve lines and exit 1 (newuser5)."""
    try:
        compose([f"hydra/launcher={name}"])
    except Exception as exc:  # Hydra's MissingConfigException lists the options, one a line after a tab
        text = str(exc)
        if "Could not find" not in text:
            return
        lines = text.splitlines()
        start = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("Available options")), len(lines))
        valid = [ln.strip() for ln in itertools.takewhile(lambda ln: ln.startswith("\t"), lines[start:])]
        near = difflib.get_close_matches(name, valid, n=1)
        _error(f"unknown launcher hydra/launcher={name}{f'; did you mean {near[0]!r}?' if near else ''} "
               f"(valid: {', '.join(valid)})")


def _check_added_and_removed(argv: list[str], overrides: list[str], user_dirs: tuple[Path, ...]) -> None:
    """Keys of the problem, solver or device added with + or removed with ~, checked before a run: `+problem.factr=2`
    added a key nothing reads and the run completed at the default factor without a word; `~problem.nosie` was
    Hydra's "Could not delete" and exit 1, `~problem.noise` a run that failed on "Key 'noise' is not in struct"
    (newuser5). Every key of an option is read, so none is removed, and + adds none to them."""
    removals = [a for a in argv if a.startswith("~")]
    additions = [o for o in overrides if o.startswith("+") and o.lstrip("+").split(".")[0] in ("problem", "solver",
                                                                                                "device")
                 and "." in o.split("=", 1)[0]]
    if not removals and not additions:
        return
    # a sweep's lists at their first value (key=a,b -> key=a): the keys are the same at every point
    first = [re.sub(r"^([^=]*=)([^,\[\](){}'\"]*),[^\[\](){}'\"]*$", r"\1\2", o) for o in overrides
             if o not in removals + additions]
    try:
        base = compose(searchpath_override(user_dirs) + first)
    except Exception:  # another mistake: _check_composes (or the sweep's check) names it
        return
    absent = object()
    for item in removals:
        key = item[1:].split("=", 1)[0]
        if OmegaConf.select(base, key, default=absent) is absent:
            near = nearest_keys(key, base)
            _error(f"{item}: there is no key {key} to remove"
                   + (f"; did you mean `{near[0]}`?" if near else " (`regrun --cfg job` lists the keys)"))
        if key.split(".")[0] != "hydra":
            _error(f"{item} removes a key regrun reads: every key of its config is used, and the run would stop on "
                   f"a missing key; set it instead, {key}=VALUE (`regrun --explain {key}` says what it takes)")
    for item in additions:
        key = item.lstrip("+").split("=", 1)[0]
        if OmegaConf.select(base, key, default=absent) is absent:
            near = nearest_keys(key, base)
            group = key.split(".")[0]
            _error(f"{item} adds a key {group}={base.hydra.runtime.choices.get(group, '?')} does not have, and "
                   f"nothing would read it" + (f"; did you mean `{near[0]}`?" if near else "")
                   + f" (a key the {group} has is set without +; `regrun --explain {group}` lists them)")


def _compose_without_unknown(overrides: list[str]) -> DictConfig | None:
    """The config of `overrides` less those Hydra cannot override (keys no config has), for the nearest keys of
    one of them: `template=T.png reference=R.png` (two keys without their group) composed with neither failed,
    and `template` got no "did you mean `problem.template`?" (newuser8). None when the rest do not compose."""
    rest = list(overrides)
    for _ in range(len(overrides) + 1):
        try:
            return compose(rest)
        except Exception as exc:  # "Could not override 'KEY'." names the next one to leave out
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            failing = [o for o in rest if first.startswith("Could not override")
                       and f"'{o.split('=', 1)[0].lstrip('+~')}'" in first]
            if not failing:
                return None
            rest.remove(failing[0])
    return None


def _unknown_key(bad: str, overrides: list[str]) -> str:
    """One line for an override of a key no config has: the nearest existing keys; `+key=value` (which adds
    a key nobody reads) only suggested outside the config groups, whose keys are all known."""
    key = bad.split("=", 1)[0]
    base = _compose_without_unknown([o for o in overrides if o != bad])
    near = [] if base is None else nearest_keys(key.lstrip("+~"), base)
    message = f"unknown config key {key!r} in {bad!r}"
    sinogram = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == "problem.sinogram"), "")
    field = field_key_hint(key.lstrip("+~"), base, bad.split("=", 1)[1] if "=" in bad else "", sinogram)
    if field:
        return f"{message}: {field}"
    owners = key_owners(key.lstrip("+~"), base)
    if owners:
        # `problem.frames=DIR` without problem=superres said "did you mean `problem.name` or `problem.resize`?",
        # `solver.lam=1` on CT's default fbp "`solver.name` or `solver.tau`?" (newuser7): the key is another option's
        return f"{message}: {owners}"
    if near:
        message += f"; did you mean {' or '.join(f'`{k}`' for k in near)}?"
    message += " (`regrun --cfg job` lists the keys"
    if key.split(".")[0] not in CHECKED_GROUPS and not any(k.endswith("." + key.lstrip("+~")) for k in near):
        message += f"; to add a new key write +{bad}"
    return message + ")"


def _parse_error(exc: Exception) -> None:
    """One line for an override Hydra's grammar refuses (OverrideParseException names it), if that is what
    `exc` is; a value with non-ASCII characters gets its quoted form, a path from `~` the ways to write it."""
    bad = getattr(exc, "override", None)
    if not isinstance(bad, str):
        return
    key, _, value = bad.partition("=")
    if value.startswith("~"):
        # the shell expands ~ only at a word's start, so `problem.frames=~/burst` reaches regrun as typed, where
        # Hydra's grammar refused it as "LexerNoViableAltException" (newuser3); quoted, regrun expands it itself
        _error(f"cannot parse {bad!r}: the shell does not expand ~ after key=, and unquoted it is not a value "
               f"regrun takes: write {key}=$HOME{value[1:]} or quote it, \"{key}='{value}'\"")
    if not bad.isascii():
        _error(f"cannot parse {bad!r}: a value with characters other than letters, digits and _-./ must be "
               f"quoted, e.g. \"{quote_override(bad)}\" (the double quotes are for the shell)")
    if value.endswith(",") and not value.endswith("\\,"):
        # `problem.factor=2, problem.lambda_f=auto` (overrides separated by commas) or a sweep's list left with a
        # comma at its end: Hydra's grammar error listed fourteen token names (newuser8)
        _error(f"cannot parse {bad!r}: it ends in a comma; overrides are separated by spaces alone "
               f"({key}={value.rstrip(',')} ...), and a sweep's values have one on each side of every comma "
               f"(-m {key}=a,b)")
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    first = lines[0].split("; See https")[0] if lines else type(exc).__name__
    _error(f"cannot parse {bad!r}: {first} (override syntax: key=value, lists [a,b], strings with spaces or "
           "special characters quoted 'like this')")


def _check_parses(overrides: list[str]) -> None:
    """Every override through Hydra's grammar, for sweeps too (their jobs are composed later, by Hydra)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for item in overrides:
        try:
            parser.parse_overrides([item])
        except Exception as exc:  # Hydra's grammar errors
            _parse_error(exc)


def _check_sweep_base(search: list[str], overrides: list[str]) -> None:
    """A sweep over solvers (or problems) with a setting of theirs, `solver=varpro_cg,two_stage solver.cg_tol=0`:
    Hydra composes the settings every job shares with the group's default option, without the swept one, and
    stopped with its own six lines (exit 1) advising `+solver.cg_tol`, even where every swept solver has the key
    (newuser7). `++KEY=VALUE` sets it in each job's option (sweep.plan checks that each has it)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    swept = {o.key_or_group: o.input_line for o in parsed if o.is_sweep_override() and o.key_or_group in
             ("problem", "solver")}
    mine = [o for o in parsed if not o.is_sweep_override() and not o.input_line.startswith(("+", "~"))
            and o.key_or_group.split(".")[0] in swept and "." in o.key_or_group]
    if not mine:
        return
    shared = [o.input_line for o in parsed if not o.is_sweep_override()]
    try:
        compose(search + shared)
    except Exception as exc:  # which key failed: Hydra's "Could not override 'solver.cg_tol'."
        for o in mine:
            if f"'{o.key_or_group}'" in str(exc).splitlines()[0]:
                group = o.key_or_group.split(".")[0]
                default = compose(search + [x for x in shared if x != o.input_line]).hydra.runtime.choices[group]
                _error(f"{o.input_line} in a sweep over {swept[group]}: Hydra composes the settings the jobs share "
                       f"with {group} {default}, which has no {o.key_or_group}; write ++{o.input_line} to set it in "
                       f"each job's {group}")
        raise


def _check_composes(overrides: list[str]) -> DictConfig:
    """Compose once as Hydra will, so a typo in a key or value is one line, not Hydra's report; then resolve
    every interpolation, so a resolver that is not ours (`${eval:...}`) is refused by name before any run."""
    try:
        cfg = compose(overrides)
    except Exception as exc:  # Hydra raises several exception types for bad overrides; all are user input
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        bad = next((o for o in overrides if lines and f"'{o.split('=', 1)[0].lstrip('+~')}'" in lines[0]), None)
        if lines and lines[0].startswith("Could not override") and bad:
            key = bad.split("=", 1)[0]
            if key in ("experiment", "ci"):  # groups no default names: "unknown config key 'experiment'" (newuser5)
                _error(f"{key} is a group a run adds: write +{bad} (with the +, as the README's presets do)")
            _error(_unknown_key(bad, overrides))
        if lines and lines[0].startswith("Ambiguous value for argument"):
            # `regrun seed=1,2` without -m: Hydra's two ways were cut to the list's (newuser5)
            many = next((o for o in overrides if f"'{o}'" in lines[0]), None)
            if many:
                key, _, value = many.partition("=")
                _error(f"{many} gives several values: add -m to run one job per value (a sweep, regrun -m ... "
                       f"{many}), or write {key}=[{value}] for one list")
        _parse_error(exc)
        lines = [ln for ln in lines if not ln.startswith("Config search path")][:2]
        if lines and "Could not find" in lines[0]:  # an option a defaults list names that no folder holds
            _error(f"{lines[0]}; `regrun --help` lists the config groups and their options")
        _error("; ".join(lines) or type(exc).__name__)
    try:
        for key in cfg:
            if key != "hydra" and OmegaConf.is_config(cfg[key]):
                OmegaConf.to_container(cfg[key], resolve=True)
            elif key != "hydra":
                cfg[key]
    except Exception as exc:  # an interpolation that does not resolve: unknown resolver or missing key
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        bad = [o for o in overrides if "${" in o]
        where = f" in {', '.join(map(repr, bad))}" if bad else ""
        hint = ("; regrun resolves only ${key} references and its own resolvers (${now:...}, ${run_id:}, "
                "${oc.env:...}, ...), never code such as ${eval:...}") if "interpolation type" in first else ""
        _error(f"{first}{where}{hint}")
    replaced = settings_replaced_by_value(overrides, cfg)
    if replaced:
        _error(replaced)
    return cfg


def _user_config_dirs(argv: list[str]) -> tuple[Path, ...]:
    """The folders given with `--config-dir DIR` (Hydra's flag: more options for regrun's config groups), each
    checked here so that a mistake in one is one line naming the file: a folder that is not there, a YAML
    file that does not parse or is not a mapping, a folder named after no config group."""
    dirs = []
    for i, arg in enumerate(argv):
        if arg in ("--config-dir", "-cd"):
            if i + 1 >= len(argv):
                _error(f"{arg} needs a folder, e.g. {arg} my_configs (holding problem/NAME.yaml, solver/NAME.yaml...)")
            dirs.append(argv[i + 1])
        elif arg.startswith("--config-dir="):
            dirs.append(arg.split("=", 1)[1])
    groups = sorted(p.name for p in config_dir().iterdir() if p.is_dir() and p.name != "__pycache__")
    out = []
    for given in dirs:
        folder = Path(given).expanduser().resolve()
        if not folder.is_dir():
            _error(f"--config-dir {given}: {'not a folder' if folder.exists() else 'no such folder'}")
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if sub.name not in groups:
                near = difflib.get_close_matches(sub.name, groups, n=1)
                _error(f"--config-dir {given}: folder {sub.name!r} is not a config group of regrun"
                       f"{f' (did you mean {near[0]!r}?)' if near else ''}; the groups are {', '.join(groups)}, "
                       f"e.g. {given}/problem/NAME.yaml is used as problem=NAME")
        for path in sorted(folder.rglob("*.yaml")):
            try:
                body = OmegaConf.load(path)
            except Exception as exc:  # yaml's parse errors carry where (problem_mark) and what (problem)
                mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
                what = f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark and problem \
                    else " ".join(str(exc).split())[:300]
                _error(f"--config-dir {given}: {path} is not valid YAML: {what}")
            if not isinstance(body, DictConfig):
                _error(f"--config-dir {given}: {path} holds a list, not a mapping of keys to values "
                       "(key: value lines)")
        out.append(folder)
    return tuple(out)


def quote_override(item: str) -> str:
    """key=value with the value quoted for Hydra."""
    key, _, value = item.partition("=")
    return f"{key}={quote_value(value)}" if _ else item


def _claim_run_dir(cfg: DictConfig) -> None:
    """Take this run's folder before Hydra writes into it (exclusive creation, `_2`, `_3`... when identical
    runs started in the same second picked the same name) and point Hydra at it. A folder that cannot be
    created (read-only place, full disk, a file in the way) stops here, before anything runs."""
    from .record import claim_folder, os_reason

    HydraConfig.instance().set_config(cfg)
    try:
        wanted = str(cfg.hydra.run.dir)
    except Exception as exc:  # an interpolation in a user's hydra.run.dir that does not resolve
        _error(f"hydra.run.dir: {str(exc).splitlines()[0]}")
    existed = Path(wanted).is_dir()
    try:
        folder = claim_folder(wanted)
    except OSError as exc:
        # a folder that exists but takes no file was "cannot create the output folder ...: Unable to synchronously
        # create file (unable to open file: name = ..., errno = 30, ...)", HDF5's words (newuser10)
        verb = "write in" if existed else "create"
        _error(f"cannot {verb} the output folder {wanted}: {os_reason(exc)}; "
               "choose a writable place with hydra.run.dir=PATH")
    sys.argv[1:] = [a for a in sys.argv[1:] if not a.startswith("hydra.run.dir=")]
    sys.argv.append(f"hydra.run.dir={quote_value(str(folder))}")
    global _CLAIMED
    _CLAIMED = folder


class _Terminated(KeyboardInterrupt):
    """SIGTERM before the run has its own handler (Hydra's composition, `import torch`: seconds on a loaded
    machine), recorded as a Ctrl-C would be."""


def _on_sigterm_at_start(signum, frame):
    raise _Terminated("terminated by SIGTERM")


def _interrupted_at_start(cfg: DictConfig, exc: KeyboardInterrupt, t0: float) -> None:
    """A Ctrl-C or SIGTERM that reached the command outside the run (before run() took the signals, or after
    it wrote its file): one line and exit 130, as during the run, and no results.h5.partial left claiming
    `running` with no config in it (a user's Ctrl-C 7 s into a start on a loaded machine left a traceback and
    such a file, which regrun-collect listed as an interrupted run with no run id)."""
    import time

    why = str(exc) or "interrupted by Ctrl-C"
    folder = _CLAIMED
    partial = folder / "results.h5.partial" if folder is not None else None
    where = ""
    if partial is not None and partial.is_file():
        from .config import run_identity
        from .record import ResultsFile
        from .summary import write_run_summary

        why += " while starting, before the run began"
        facts = {**run_identity(cfg), "out_dir": str(folder)}
        body = OmegaConf.create({k: v for k, v in cfg.items() if k != "hydra"})
        wall = time.perf_counter() - t0
        try:
            results = ResultsFile(folder)
            results.begin(facts, OmegaConf.to_yaml(body, resolve=True), _overrides(sys.argv[1:]), versions=False)
            path = results.finish("interrupted", wall, error=why)
            write_run_summary(folder, status="interrupted", message="", error=why, facts=facts, metrics={},
                              paper={}, claims={}, wall_time=wall)
            where = f" (results file: {path}, status interrupted)"
        except Exception:  # the folder went away or is full, or a module half imported: the console line says it
            pass
    # a Ctrl-C inside `import torch` leaves torch's loggers unset, and its exit hook (FakeTensor cache stats) then
    # logged three INFO lines through Hydra's handlers to the console and into regrun.log, that file's only lines
    # (newuser17): torch's logger at WARNING, as a finished `import torch` sets it
    logging.getLogger("torch").setLevel(logging.WARNING)
    print(f"regrun: interrupted: {why}{where}", file=sys.stderr)
    sys.exit(EXIT_CODES["interrupted"])


def _debug(cfg: DictConfig | None = None) -> bool:
    return os.environ.get("REGRUN_DEBUG", "") not in ("", "0") or bool(cfg is not None and cfg.get("debug"))


def _dry_run(cfg: DictConfig) -> None:
    from .config import config_hash
    from .sweep import validate

    problem = validate(cfg)
    if problem:
        _error(problem)
    print(f"regrun: dry run: {cfg.problem.name} x {cfg.solver.name} is valid (run id {config_hash(cfg)[:8]}); "
          "nothing was run")
    sys.exit(0)


def _task(cfg: DictConfig):
    """One job. A plain module-level function so that parallel launchers pickle it by reference."""
    from .monitor import Reporter
    from .run import run

    _resume_gc()
    hc = HydraConfig.get()
    multirun = str(hc.mode) == "RunMode.MULTIRUN"
    out_dir = Path(hc.runtime.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # One reporter for the whole job, so that the lines below join the run's own in regrun.log. Jobs that share
    # the console with others at once say which they are, by the sweep table's number (their folder's start)
    shared = multirun and "joblib" in str(hc.launcher.get("_target_", "")).lower()
    if shared:
        from .sweep import parallelism

        shared = parallelism(hc.launcher) > 1
    reporter = Reporter(out_dir / "regrun.log", progress=bool(cfg.progress),
                        prefix=f"[#{out_dir.name.split('_')[0]}] " if shared else "")
    try:
        if multirun:
            from .sweep import gpu_slot

            with gpu_slot(cfg, int(hc.job.num), list(hc.overrides.task), Path(hc.sweep.dir)):
                outcome = run(cfg, out_dir, list(hc.overrides.task), reporter=reporter)
        else:
            outcome = run(cfg, out_dir, list(hc.overrides.task), reporter=reporter)
        _report_outcome(cfg, outcome, reporter)
    finally:
        reporter.close()
    if outcome.status != "completed" and not multirun:
        sys.exit(USER_ERROR_EXIT if outcome.user_error else EXIT_CODES[outcome.status])
    return outcome


TRUTH_COMPARED = ("psnr", "ssim", "rel_error", "loss_at_chosen")  # metrics against a truth (their key's start)


def _report_outcome(cfg: DictConfig, outcome, reporter) -> None:
    """The metrics (with the paper's values) and the end line; errors and warnings on stderr."""
    if outcome.status == "completed":
        from .summary import cap_value, judge

        width = max((len(k) for k in outcome.metrics), default=0)
        paper = paper_values(cfg)
        claims = cfg.get("claims") or {}
        for key, value in outcome.metrics.items():
            ref = ""
            if key in paper:
                c = judge(key, paper[key], value, claims.get(key),
                          cap_value(claims.get(key), lambda k: OmegaConf.select(cfg, k, default=None)),
                          outcome.stopped)
                ref = f"   (paper: {paper[key]:.4g}, {c.tolerance}: {c.verdict})"
            if "truth_scale" in outcome.metrics and key.startswith(TRUTH_COMPARED):
                # PSNR -43.9 dB stood bare above the warning that the truth is in other units (newuser21)
                ref += "   (against a truth in other units: see the WARNING below)"
            reporter.line(f"  {key:<{width}} = {value:.6g}{ref}")
        _say_answer(outcome.out_dir, reporter)
        for warning in outcome.warnings:
            reporter.line(f"regrun: WARNING: {warning}", err=True)
        if outcome.stopped:
            reporter.line(f"regrun: WARNING: {outcome.stopped}: no paper value reads reproduced or better", err=True)
        reporter.line(f"regrun: completed in {outcome.wall_time:.1f} s -> {outcome.out_dir}")
        return
    if outcome.user_error and _debug(cfg):
        reporter.line(outcome.traceback, err=True)
    for warning in outcome.warnings if outcome.status == "diverged" else ():  # what may explain it (few levels)
        reporter.line(f"regrun: WARNING: {warning}", err=True)
    # One line: the error, then where it is recorded (when a results file could be written at all).
    first_line = outcome.error.splitlines()[0] if outcome.error else outcome.status
    where = f" (results file: {outcome.results_path}, status {outcome.status})" \
        if Path(outcome.results_path).is_file() else ""
    reporter.line(f"regrun: {'error' if outcome.user_error else outcome.status}: {first_line}{where}", err=True)


def _say_answer(out_dir: Path, reporter) -> None:
    """The run's answer where it is a few numbers (w_affine of a user's pair) and what the solver did, in its own
    words ("score 1.000, 1 detected"; "lambda_f: 1.87 by gcv ..., noise sigma ..."), from the metrics.json the run
    just wrote: both were in summary.md only, so the console of a user's own pair ended on metric names without
    the affine found, a detection run without a word of what was found beside `detected = 1` (newuser3)."""
    import json

    from .summary import detection_lines, frames_check_line

    try:
        facts = json.loads((out_dir / "metrics.json").read_text())
    except (OSError, ValueError):  # no summary written (a full disk): the metrics above are what there is
        return
    for name, value in (facts.get("result") or {}).items():
        if isinstance(value, list) and all(isinstance(x, (int, float)) for x in value):
            reporter.line(f"  {name} = [{', '.join(f'{x:.6g}' for x in value)}]")
    message = str(facts.get("message") or "").split("; WARNING: ")[0]  # the warnings get their own lines
    if message:
        reporter.line(f"regrun: {message}")
    # where each crab is: "1 detected" alone left its place to /tables/detections and figures/boxes.png (newuser4)
    for line in detection_lines(facts.get("detections") or []):
        reporter.line(f"  {line}")
    check = frames_check_line(facts.get("metrics") or {})
    if check:
        reporter.line(f"regrun: {check}")


_app = hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")(_task)


def _group_spec(group: str, name: str, user_dirs: tuple[Path, ...] = (), seen: tuple[str, ...] = ()) -> DictConfig:
    """Option `name` of `group` as loaded, with the options of its own group that its `defaults:` list names merged
    in Hydra's order (`_self_` where it stands, else last): a user's `problem/mine.yaml` starting from
    `defaults: [superres, _self_]` carries superres's default_solver, which the file alone does not (the run then
    paired superres with the top-level default solver, single_scale, and stopped: it does not fit). Other
    entries (another group, an absolute path) are Hydra's to resolve and to complain about."""
    path = group_file(group, name, user_dirs)
    if path is None or name in seen:
        return OmegaConf.create()
    spec = OmegaConf.load(path)
    if not isinstance(spec, DictConfig):
        return OmegaConf.create()
    own = OmegaConf.create({k: v for k, v in spec.items() if k != "defaults"})
    entries = list(spec.get("defaults") or [])
    if "_self_" not in entries:
        entries.append("_self_")
    merged = OmegaConf.create()
    for entry in entries:
        if entry == "_self_":
            merged = OmegaConf.merge(merged, own)
        elif isinstance(entry, str) and not entry.startswith("/") and "@" not in entry:
            merged = OmegaConf.merge(merged, _group_spec(group, entry, user_dirs, (*seen, name)))
    return merged


def _implied_solver(overrides: list[str], user_dirs: tuple[Path, ...] = ()) -> str | None:
    """The solver a problem's config names as `default_solver`, when the command picks a problem but no
    solver or experiment: `regrun problem=superres` then means superres with varpro_cg, not with the
    top-level default solver (Hydra cannot let one config group choose another's option). A problem may also
    name a solver per data source (`default_solver_by_data`): `regrun problem.data=files ...` registers users'
    images with the multilevel solver."""
    keys = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    if "solver" in keys or "experiment" in keys:
        return None
    chosen = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+") == "problem"]
    if chosen and "(" in chosen[-1]:
        return None
    names = chosen[-1].split(",") if chosen else [
        d["problem"] for d in OmegaConf.load(config_dir() / "config.yaml").defaults if "problem" in d]
    data = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+") == "problem.data"]
    defaults = set()
    for name in names:
        spec = _group_spec("problem", name, user_dirs)
        by_data = spec.get("default_solver_by_data") or {}
        if data and data[-1] in by_data:
            defaults.add(by_data[data[-1]])
        elif chosen:
            defaults.add(spec.get("default_solver"))
        else:
            defaults.add(None)
    return defaults.pop() if len(defaults) == 1 else None


@contextlib.contextmanager
def _known_mode(cfg: DictConfig | None):
    """A single run whose config the CLI has composed (`cfg`) starts without Hydra's own first composition:
    hydra.main composes the whole config once only to read `hydra.mode` (Hydra.get_mode), then again to run.
    The mode is the composed config's (None unless a config or override sets it, as Hydra's get_mode returns;
    the hydra.run.dir the CLI adds afterwards does not change it): ~0.2 CPU-s of every run's start-up."""
    from hydra._internal.hydra import Hydra

    original = getattr(Hydra, "get_mode", None)
    if cfg is None or original is None:  # a sweep, --cfg/--info..., or a Hydra without get_mode: Hydra's own way
        yield
        return
    mode = OmegaConf.select(cfg, "hydra.mode", default=None)
    Hydra.get_mode = lambda self, *args, **kwargs: mode
    try:
        yield
    finally:
        Hydra.get_mode = original


def _cfg_job(argv: list[str]) -> bool:
    """`--cfg job` / `-c job` (Hydra's flag to print the job config); `--cfg hydra|all` stays Hydra's."""
    return any(a in ("--cfg", "-c") and argv[i + 1:i + 2] == ["job"] for i, a in enumerate(argv))


# Hydra's flags followed by a value of their own (not a key to explain)
VALUED_FLAGS = ("--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn", "--cfg", "-c", "--package",
                "-p", "--info", "--experimental-rerun")


# options newcomers bring from other tools, and what regrun takes for them
OPTION_HINTS = {"--resume": "run the same command again: with resume=true (the default) a sweep skips every job "
                "already completed",
                "--dry-run": "write dry_run=true", "--dry_run": "write dry_run=true"}


def _check_options(argv: list[str]) -> None:
    """A dashed word neither Hydra's parser nor --explain takes is one line naming it (argparse printed its usage
    and 'unrecognized arguments'); a config key typed as an option (--seed=3) is named as the override to write."""
    from hydra._internal.utils import get_args_parser

    actions = get_args_parser()._option_string_actions
    flags = set(actions) | {"--explain"}
    for i, arg in enumerate(argv):
        _check_choice(argv, i, actions)
        # Hydra's --config-name picks another primary config, of which regrun has one: a name was Hydra's
        # "Cannot find primary config" page and exit 1 (newuser5)
        name = arg.split("=", 1)[1] if arg.startswith(("--config-name=", "-cn=")) else \
            argv[i + 1] if arg in ("--config-name", "-cn") and i + 1 < len(argv) else None
        if name is not None and name != "config":
            _error(f"--config-name {name}: regrun has one primary config (config); options of your own go in a "
                   f"folder given with --config-dir DIR (DIR/problem/{name}.yaml is then problem={name})")
        name = arg.split("=", 1)[0]
        if not arg.startswith("-") or (i and argv[i - 1] in VALUED_FLAGS) or name in flags:
            continue
        # argparse would take a flag's unique abbreviation (--mult), but regrun looks for the flag's full name
        # (`regrun --mult seed=1,2` ran as one job and failed on "Ambiguous value"), so it is named instead
        whole = [f for f in flags if f.startswith("--") and f.startswith(name)] if name.startswith("--") else []
        key = name.lstrip("-").replace("-", "_")
        hint = OPTION_HINTS.get(name) or (f"did you mean {whole[0]}?" if len(whole) == 1 else
                                          f"write {key}={arg.split('=', 1)[1]} (no dashes)" if "=" in arg else
                                          "regrun takes key=value overrides and Hydra's flags (regrun --help)")
        _error(f"{name} is not an option of regrun: {hint}")


def _check_choice(argv: list[str], i: int, actions: dict) -> None:
    """A Hydra flag of a few words given another (`--cfg jobb`): argparse printed its usage, then the error, three
    lines (newuser9); one line naming the words and the nearest."""
    name, _, value = argv[i].partition("=")
    action = actions.get(name)
    if action is None or not action.choices:
        return
    if not value and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
        value = argv[i + 1]
    if not value or value in action.choices:
        return
    near = difflib.get_close_matches(value, list(action.choices), n=1)
    _error(f"{name} {value}: allowed {', '.join(action.choices)}" + (f"; did you mean {name} {near[0]}?" if near else ""))


def _check_keyless(argv: list[str]) -> None:
    """`regrun =3`, `regrun seed =3` (a space before =): "=3" reached Hydra, whose "Config group override must be
    a string or a list. Got int" was one line, or a traceback after --explain (newuser7)."""
    for i, arg in enumerate(argv):
        if arg.startswith("=") and not (i and argv[i - 1] in VALUED_FLAGS):
            word = argv[i - 1] if i and "=" not in argv[i - 1] and not argv[i - 1].startswith("-") else ""
            # `problem = superres` (spaces on both sides): the value is the next word; the line said "problem="
            after = argv[i + 1] if i + 1 < len(argv) and "=" not in argv[i + 1] and not argv[i + 1].startswith("-") \
                else ""
            _error(f"{arg!r} has no key before '=': write key=value without spaces"
                   + (f", {word}={arg[1:] or after or 'VALUE'}" if word else " (e.g. seed=3)"))


def _warn_repeated(overrides: list[str]) -> None:
    """A key given twice in a sweep (`-m seed=1,2 seed=3`) runs Hydra's last value: it was silent, and a sweep of
    two seeds ran one job (newuser8). A single run keeps Hydra's rule without a word: scripts append to a base
    command (tests/test_bad_inputs.py's `problem.views=null` then `problem.views=45`), and its bad input stays one
    line."""
    given: dict[str, list[str]] = {}
    for item in overrides:
        if not item.startswith("~"):
            given.setdefault(item.split("=", 1)[0].lstrip("+"), []).append(item)
    for key, items in given.items():
        if len(items) > 1:
            print(f"regrun: WARNING: {key} is given {len(items)} times ({' '.join(items)}): the last, "
                  f"{items[-1].lstrip('+')}, is used", file=sys.stderr)


def _check_words(argv: list[str]) -> None:
    """A word that is neither key=value nor a flag (nor a flag's value, nor Hydra's `~key` deletion) is one line:
    most often a path with a space the shell split in two (`problem.frames=my frames`), which Hydra reported as
    "Error parsing override 'frames' / missing EQUAL at '<EOF>'" in four lines and exit 1 (newuser3)."""
    for i, arg in enumerate(argv):
        if "=" in arg or arg.startswith(("-", "~")) or (i and argv[i - 1] in VALUED_FLAGS):
            continue
        before = argv[i - 1] if i else ""
        if "=" in before and not before.startswith("-"):
            _error(f"{arg!r} is not key=value: if it belongs to {before!r}, the shell split a value with a space; "
                   f"quote it whole: \"{before} {arg}\"")
        _error(f"{arg!r} is not key=value: regrun takes overrides key=value (e.g. problem=superres) and Hydra's "
               "flags (regrun --help)")


def _help_or_explain(argv: list[str]) -> None:
    """`regrun --help` and `regrun --explain KEY [overrides]`, from the YAML files' comments (regrun/explain.py)."""
    from .explain import explain, help_text

    if "--explain" in argv:
        i = argv.index("--explain")
        # every word after --explain that is no override or flag is a key: `--explain problem.resize
        # problem.template` explained the first and dropped the rest without a word (ux4)
        keys = [a for k, a in enumerate(argv) if k > i and "=" not in a and not a.startswith("-")
                and argv[k - 1] not in VALUED_FLAGS]
        if not keys:
            _error("--explain needs a key, e.g. regrun --explain solver.lam solver=fista_tv")
        overrides = _overrides(argv[:i] + argv[i + 1:])
        # a misspelt option beside the key (`--explain problem problem=superess`) was a traceback, exit 1 (newuser5)
        _check_parses(overrides)
        _check_group_choices(overrides, _user_config_dirs(argv))
        # the solver the run would take: `--explain solver.registrar problem=crab_detection` explains
        # hierarchical's key, as `regrun problem=crab_detection` runs it (it said "unknown config key")
        implied = _implied_solver(overrides)
        texts, errors = [], []
        for key in keys:
            try:
                texts.append(explain(key, overrides + ([f"solver={implied}"] if implied else [])))
            except UserError as exc:
                errors.append(str(exc))
        if texts:
            print("\n\n".join(texts))
        for message in errors[:-1]:
            print(f"regrun: error: {message}", file=sys.stderr)
        if errors:
            _error(errors[-1])
        sys.exit(0)
    if any(a in ("--help", "-h") for a in argv):
        print(help_text())
        sys.exit(0)


def _console_script() -> bool:
    """Whether this process is the `regrun` command itself (its console script is __main__, or `python -m
    regrun.cli`: this module is __main__; not a test or a program that called main()) running one job (a sweep's
    launchers may hold workers, so it ends as usual), with no other thread left to wait for. `python -m
    regrun.cli` (the benches' and tests' form) paid the teardown and the start-up's collections the command does
    not: 0.9 CPU-s more for the same cached half-size crab run (docs/detection.md, detfast2)."""
    import threading

    main = sys.modules.get("__main__")
    command = (Path(getattr(main, "__file__", None) or "").name == "regrun"
               or getattr(getattr(main, "__spec__", None), "name", None) == __spec__.name)
    return (command and not any(a in ("-m", "--multirun") for a in sys.argv[1:])
            and threading.active_count() == 1)


def _exit_now(code) -> None:
    """End the `regrun` process as sys.exit(code) would, without the interpreter's teardown of every module:
    with torch, matplotlib and h5py loaded that teardown costs 0.5-0.8 CPU-s (measured on this machine: `import
    torch` alone, 1.55 CPU-s at the last atexit hook, 2.16 s for the process). The run's files are closed by then;
    the streams are flushed and the atexit hooks (logging's, hydra's, temporary folders') run first."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


def _pause_gc() -> None:
    """The `regrun` command's start-up (imports of torch, hydra, h5py; Hydra's compositions) without Python's cyclic
    garbage collector: it ran ~440 times over the new modules' objects, 0.27 of the ~5 CPU-s of a cached half-size
    crab run, and found ~20k objects to free (a few MB, kept). _resume_gc turns it back on before the job."""
    import gc

    global _GC_PAUSED
    if gc.isenabled():
        gc.disable()
        _GC_PAUSED = True


# glibc's malloc hands the top of its heap back to the system whenever more than M_TRIM_THRESHOLD lies free there,
# and serves each block over M_MMAP_THRESHOLD (dynamic: raised to the largest block freed so far) by a fresh
# mapping; either way the next allocation of that size faults its pages in again, zeroed by the kernel. A run's
# tensors come and go at the same few sizes (a 256^2 image's vectors 0.5 MB, the moved frames' stencils and Gram
# diagonals tens of MB), so on a super-resolution run 256^2 from 16 frames that was 1.5-1.9 CPU-s of system time
# and more of user time: with the heap kept (trim 1 GB) and blocks up to 32 MB (glibc's largest mmap threshold)
# from it, 0.6-0.9 CPU-s of system time, 1-3 CPU-s less in all, for a peak resident size up to ~90 MB (~10%) higher
# (512^2 from 8 frames: 37.3 -> 33.1 CPU-s, 1171 -> 1209 MB; docs/superres.md, "Seventeenth round").
MALLOC_TRIM_THRESHOLD = 1 << 30
MALLOC_MMAP_THRESHOLD = 32 << 20


def _keep_heap() -> bool:
    """The `regrun` command's allocator settings above (glibc's mallopt; nothing elsewhere: macOS, musl, Windows);
    whether both were taken."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc's own symbol: mallopt's parameters are glibc's
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    # M_TRIM_THRESHOLD (-1), M_MMAP_THRESHOLD (-3); mallopt returns 1 when it took the value
    return mallopt(-1, MALLOC_TRIM_THRESHOLD) == 1 and mallopt(-3, MALLOC_MMAP_THRESHOLD) == 1


def _resume_gc() -> None:
    """The collector back on for the job, after moving every object alive now to its permanent generation (gc.freeze:
    the start-up's modules are never scanned again; the job's own cycles are collected as usual)."""
    import gc

    global _GC_PAUSED
    if _GC_PAUSED:
        _GC_PAUSED = False
        gc.freeze()
        gc.enable()


_GC_PAUSED = False
_CLAIMED: Path | None = None  # the single run's folder, once _claim_run_dir took it


def main() -> None:
    """The `regrun` command. As the console script it ends without the interpreter's module teardown
    (_exit_now), starts without the garbage collector (_pause_gc) and keeps its heap (_keep_heap); called from Python it returns or raises
    SystemExit as usual."""
    try:
        if _console_script():  # inside the try: a Ctrl-C while _keep_heap imported ctypes was a traceback (newuser11)
            _pause_gc()
            _keep_heap()
        _main()
    except SystemExit as exc:
        if not _console_script():
            raise
        if exc.code in (0, None) and held_ctrl_c():  # a dry run or --cfg job that a held Ctrl-C came to
            _interrupted_exit()
        _exit_now(exc.code)
    except BrokenPipeError:  # `regrun --help | head`
        code = reader_left()
        if not _console_script():
            raise SystemExit(code) from None
        _exit_now(code)
    except Exception as exc:
        if not _from_ctrl_c(exc):
            raise
        # a Ctrl-C inside OmegaConf's flag_override while a YAML file loads: its `finally` fails on the half-built
        # node and raises ConfigKeyError "'NoneType' object has no attribute '_invalidate_flags_cache'" from the
        # KeyboardInterrupt, a 140-line traceback, exit 1 (newuser11: Ctrl-C at 0.3 s)
        _interrupted_exit()
    except KeyboardInterrupt:
        # a Ctrl-C while the command is checked and composed (the first 1-2 s: Hydra's parser, OmegaConf), before a
        # run or sweep took the signal: Python's traceback of whatever it was importing (newuser6); a run's own
        # Ctrl-C is recorded by the run, one that came after its folder was claimed by _interrupted_at_start
        _interrupted_exit()
    if _console_script():
        _exit_now(0)


def _from_ctrl_c(exc: BaseException) -> bool:
    """Whether an exception was raised while a KeyboardInterrupt was being handled (a library's cleanup that
    failed on what the interrupt left half done)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _interrupted_exit() -> None:
    print(f"regrun: interrupted: {STARTING}", file=sys.stderr)
    if not _console_script():
        raise SystemExit(EXIT_CODES["interrupted"]) from None
    _exit_now(EXIT_CODES["interrupted"])


def _main() -> None:
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    # Hydra writes --info through logging, which on a reader that left (`regrun --info defaults | head -2`) printed
    # "--- Logging error --- ... BrokenPipeError" with a call stack for every record after it (newuser9)
    logging.raiseExceptions = False
    _check_options(sys.argv[1:])
    _check_keyless(sys.argv[1:])
    _help_or_explain(sys.argv[1:])
    _check_words(sys.argv[1:])
    overrides = _overrides(sys.argv[1:])
    if any(a in ("-m", "--multirun") for a in sys.argv[1:]):
        _warn_repeated(overrides)
    user_dirs = _user_config_dirs(sys.argv[1:])
    solver = _implied_solver(overrides, user_dirs)
    if solver:
        sys.argv.append(f"solver={solver}")
    argv = sys.argv[1:]
    overrides = _overrides(argv)
    multirun = any(a in ("-m", "--multirun") for a in argv)
    if multirun:  # before Hydra's log handlers take sys.stdout
        from .monitor import PipeSafe

        if not isinstance(sys.stdout, PipeSafe):
            sys.stdout = PipeSafe(sys.stdout)
    if _cfg_job(argv) and not multirun:  # with the descriptions from the YAML files, not Hydra's bare dump
        from .explain import job_yaml

        _check_parses(overrides)
        _check_group_choices(overrides, user_dirs)
        _check_composes(searchpath_override(user_dirs) + overrides)
        print(job_yaml(overrides, resolve="--resolve" in argv, extra_dirs=user_dirs))
        sys.exit(0)
    cfg = None
    t0 = time.perf_counter()
    try:
        if not informational(argv):
            _check_parses(overrides)
            _check_group_choices(overrides, user_dirs)
            _check_launcher(argv)
            _check_added_and_removed(argv, overrides, user_dirs)
            if multirun:
                _check_sweep_base(searchpath_override(user_dirs), overrides)
            else:
                cfg = _check_composes(searchpath_override(user_dirs) + overrides)
                if cfg.get("dry_run"):
                    _dry_run(cfg)
                _claim_run_dir(cfg)
    except UserError as exc:
        _error(str(exc))
    if cfg is not None and held_ctrl_c():  # a Ctrl-C the console held while the run started: its folder has it
        _interrupted_at_start(cfg, KeyboardInterrupt(), t0)
    if cfg is None:
        with _known_mode(cfg):
            _app()
    else:  # a single run: a signal before run() takes over (or after it let go) is one line, and recorded
        previous = signal.signal(signal.SIGTERM, _on_sigterm_at_start)
        try:
            with _known_mode(cfg):
                _app()
        except KeyboardInterrupt as exc:
            _interrupted_at_start(cfg, exc, t0)
        finally:
            signal.signal(signal.SIGTERM, previous)
    if multirun and not informational(argv):
        from . import sweep

        # The sweeper (in this process) kept the report; the jobs themselves may have run elsewhere.
        sys.exit(sweep.LAST_REPORT.exit_code() if sweep.LAST_REPORT is not None else 0)


if __name__ == "__main__":
    main()
