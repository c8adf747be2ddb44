"""Where the configs live, composing them outside the CLI, and the run id (hash of the resolved config)."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

PACKAGE_DIR = Path(__file__).resolve().parent

# Knobs that change how a run is shown or scheduled, not what it computes: a sweep re-run with another value
# still finds its finished jobs, and parallel jobs may be spread over GPUs (device.index) without changing
# their identity. solver.motif_cache only decides where the crab detector's extraction is loaded from (the
# results are bit-identical), so it is not part of a run's identity either; nor is `claims` (how a result is
# judged against the paper, not what is computed).
NOT_HASHED = ("progress", "figures", "debug", "fail_fast", "dry_run", "sweep_check", "resume", "resume_dir",
              "device.index", "collect", "claims", "solver.motif_cache")


def config_dir() -> Path:
    """The configs shipped inside the package (a wheel install), else the source tree's top-level configs/."""
    for candidate in (PACKAGE_DIR / "configs", PACKAGE_DIR.parent / "configs"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError("regrun's configs/ folder was not found next to the package")


def config_hash(cfg: DictConfig) -> str:
    """sha256 of the resolved config without the hydra node and NOT_HASHED: the identity of a run's inputs."""
    body = {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in ((k, cfg[k]) for k in cfg if k != "hydra")}
    for dotted in NOT_HASHED:
        *parents, leaf = dotted.split(".")
        node = body
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return hashlib.sha256(OmegaConf.to_yaml(OmegaConf.create(body), sort_keys=True).encode()).hexdigest()


def _run_id_resolver(*, _root_: DictConfig) -> str:
    return config_hash(_root_)[:8]


# Data a user brings (no generated truth behind it): regularization weights default to `auto` for these.
USER_DATA = ("frames", "file")


def _weight_for_data(data, fixed):
    """`${weight_for_data:DATA,FIXED}`: 'auto' (chosen from the data) for a user's data, else the preset's
    fixed weight, so paper presets and CI pairs keep their numbers while a user's data gets no arbitrary one."""
    return "auto" if str(data) in USER_DATA else fixed


def _by_data(data, user, other):
    """`${by_data:DATA,USER,OTHER}`: USER for a user's data, else OTHER (a setting whose right default differs
    between a user's data and the generated data the presets and CI pairs pin)."""
    return user if str(data) in USER_DATA else other


def _if_equal(value, match, then, other):
    """`${if_equal:VALUE,MATCH,THEN,OTHER}`: THEN where VALUE is MATCH, else OTHER (a default measured for one kind
    only, e.g. the parallel beam's: solver.lam_cv_reference)."""
    return then if str(value) == str(match) else other


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", _run_id_resolver)
    if not OmegaConf.has_resolver("weight_for_data"):
        OmegaConf.register_new_resolver("weight_for_data", _weight_for_data)
    if not OmegaConf.has_resolver("by_data"):
        OmegaConf.register_new_resolver("by_data", _by_data)
    if not OmegaConf.has_resolver("if_equal"):
        OmegaConf.register_new_resolver("if_equal", _if_equal)


def compose(overrides: list[str] | None = None) -> DictConfig:
    """The config a `regrun OVERRIDES...` call would run, for tests and scripts (includes `hydra`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides or []), return_hydra_config=True)


def quote_value(value: str) -> str:
    """`value` as a quoted Hydra override value (any characters, e.g. a path with spaces or accents)."""
    # Hydra's quoted strings take a backslash literally except in a run of them before a quote or the end
    value = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, value)
    return "'" + value.replace("'", "\\'") + "'"


def config_keys(cfg: DictConfig) -> list[str]:
    """Every dotted key of a composed config outside `hydra` (the leaves and the nodes above them)."""
    out: list[str] = []

    def walk(node, prefix):
        for key in node:
            dotted = f"{prefix}{key}"
            out.append(dotted)
            child = node._get_node(key)
            if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
                walk(child, dotted + ".")

    walk(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), "")
    return out


def nearest_keys(key: str, cfg: DictConfig) -> list[str]:
    """The existing keys closest to a mistyped one (same node first, then anywhere), for "did you mean"."""
    import difflib

    keys = config_keys(cfg)
    # a key typed without its group (`frames=DIR` for problem.frames): "did you mean `figures`?" sent a newcomer
    # elsewhere; the keys it ends are what was meant (newuser3)
    ending = [k for k in keys if k.endswith("." + key)]
    if ending:
        return ending[:2]
    parent = key.rsplit(".", 1)[0] + "." if "." in key else ""
    siblings = [k for k in keys if k.startswith(parent) and "." not in k[len(parent):]]
    return difflib.get_close_matches(key, siblings, n=2, cutoff=0.6) or difflib.get_close_matches(key, keys, n=2,
                                                                                                  cutoff=0.75)


_MISSING = object()


def option_node(group: str, name: str, parts: list[str], seen: tuple[str, ...] = ()):
    """The value at key `parts` in option `name` of `group` (its YAML as written: no interpolation resolved) or in a
    block of its group's folder that its `defaults:` list names (`common/fista@_here_`, `common/lam_grid@grid`);
    _MISSING where none holds it."""
    import yaml

    path = group_file(group, name)
    if path is None or name in seen:
        return _MISSING
    spec = yaml.safe_load(path.read_text())
    if not isinstance(spec, dict):
        return _MISSING
    node = spec
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            break
        node = node[part]
    else:
        return node
    for entry in spec.get("defaults") or []:
        if isinstance(entry, str) and entry != "_self_" and not entry.startswith("/"):
            block, _, package = entry.partition("@")
            inner = parts if package in ("", "_here_") else parts[1:] if parts[0] == package else []
            if inner:
                found = option_node(group, block, inner, (*seen, name))
                if found is not _MISSING:
                    return found
    return _MISSING


def option_has_key(group: str, name: str, parts: list[str]) -> bool:
    """Whether option `name` of `group`, or a block it includes, holds the key `parts` (option_node)."""
    return option_node(group, name, parts) is not _MISSING


def settings_replaced_by_value(overrides: list[str], cfg: DictConfig) -> str:
    """`problem.motion=random` where problem.motion is a group of settings (kind, ...): Hydra puts the word in the
    group's place and the run failed on an attribute deep inside (newuser7's follow-up). The first such override,
    as a one-line message naming the settings to set instead; '' when there is none."""
    choices = cfg.hydra.runtime.choices
    for item in overrides:
        key, eq, _ = item.partition("=")
        group, _, rest = key.partition(".")
        if not eq or key[:1] in "+~" or group not in ("problem", "solver") or not rest:
            continue
        node = option_node(group, choices.get(group), rest.split("."))
        if isinstance(node, dict) and node and not OmegaConf.is_config(OmegaConf.select(cfg, key)):
            names = sorted(node)
            example = "kind" if "kind" in node else names[0]
            return (f"{key} is a group of settings ({', '.join(names)}), not one value: set one of them, e.g. "
                    f"{key}.{example}=...; `regrun --explain {group} {group}={choices.get(group)}` lists them")
    return ""


def options_with_key(group: str, key: str) -> list[str]:
    """The options of `group` whose file, or a block it includes, has `key` (dotted, below the group); read as
    YAML, not composed (composing every solver took 4 s)."""
    return [o for o in group_options(group) if option_has_key(group, o, key.split("."))]


def nested_keys(cfg: DictConfig, group: str, rest: str) -> list[str]:
    """`group.SECTION.rest` for each section of the chosen option that holds `rest`. bilevel holds grid_search's
    keys under solver.grid (common/lam_grid@grid): `solver.points=5` with bilevel was told to add
    solver=grid_search, another solver, where bilevel's own solver.grid.points was meant (newuser16)."""
    section = cfg.get(group)
    return [f"{group}.{k}.{rest}" for k, v in (section.items() if isinstance(section, DictConfig) else [])
            if isinstance(v, DictConfig) and OmegaConf.select(v, rest, default=_MISSING) is not _MISSING]


# a user's file keys as another problem names them: (this problem, the other's key) -> this problem's key
ANALOG_KEYS = {("superres", "truth_file"): "truth", ("superres", "sinogram"): "frames",
               ("superres", "sinogram_key"): "frames_key", ("ct_fewview", "frames"): "sinogram",
               ("ct_fewview", "frames_key"): "sinogram_key"}


# Keys a user of the field types for what CT reads another way: the answer instead of "did you mean
# problem.angles_key or problem.angle_start?" (newuser24: angles in a text file beside the sinogram, a flat field)
_ANGLES_HINT = ("regrun reads the views' angles from the sinogram's own .npz/.h5 file (problem.angles_key names "
                "the array there), not from a file of their own: numpy.savez('scan.npz', sinogram=numpy.load("
                "'S.npy'), angles=numpy.loadtxt('angles.txt')) (degrees, one per view), then "
                "problem.sinogram=scan.npz; evenly spread views need none (problem.angle_start, "
                "problem.angle_range)")
_FLAT_HINT = ("regrun reads counts with their flat and dark fields from the one file that holds them: "
              "numpy.savez('scan.npz', data=counts, flat=flats, dark=darks) (frames first; a stack's (views, rows, "
              "columns) reconstructs problem.slice's row) or a Data Exchange .h5 (/exchange/data, data_white, "
              "data_dark, theta), then problem.sinogram=scan.npz (docs/ct.md '(ctcounts)'); flats and darks in "
              "files or folders of their own are problem.flat=PATH and problem.dark=PATH ('(ctflats)'); or line "
              "integrals: numpy.save('scan.npy', -numpy.log(counts / flat))")
# problem.flat and problem.dark are keys of their own since ctflats
FIELD_KEYS = {"angles": _ANGLES_HINT, "theta": _ANGLES_HINT, "angles_file": _ANGLES_HINT, "angle_file": _ANGLES_HINT,
              "flat_field": _FLAT_HINT, "flatfield": _FLAT_HINT, "i0": _FLAT_HINT, "dark_field": _FLAT_HINT,
              "flats": _FLAT_HINT, "darks": _FLAT_HINT}


# ... and what a registration user of SimpleITK or elastix types: "fixed"/"moving" got "did you mean problem.pair or
# problem.name?", a mask "problem.omega or problem.normalise?" (newuser25)
_FIXED_HINT = "regrun's fixed image is problem.reference, the moving one problem.template (problem.data=files)"
_MASK_HINT = ("regrun's registration takes no mask image: the reference points that map outside the template are "
              "left out (problem.outside=mask, the default for your files); to leave a region out, crop both images "
              "to the part that should count (problem.resize=N if the crops then differ in size)")
REGISTRATION_FIELD_KEYS = {"fixed": _FIXED_HINT, "moving": _FIXED_HINT, "fixed_image": _FIXED_HINT,
                           "moving_image": _FIXED_HINT, "mask": _MASK_HINT, "fixed_mask": _MASK_HINT,
                           "moving_mask": _MASK_HINT, "fixed_image_mask": _MASK_HINT,
                           "moving_image_mask": _MASK_HINT}


def field_key_hint(key: str, cfg: DictConfig | None, value: str = "", sinogram: str = "") -> str:
    """For a problem key CT (FIELD_KEYS) or registration (REGISTRATION_FIELD_KEYS) does not have but a user of the
    field types, on such a run: what regrun reads instead; '' otherwise. `value` the value typed: an angles text
    file that exists gets the numpy line that reads it (angles_text_line), and `sinogram` (problem.sinogram as
    typed) the line that loads it: numpy.load of a TIFF fails."""
    group, _, rest = key.partition(".")
    if group != "problem" or cfg is None:
        return ""
    table = {"ct_fewview": FIELD_KEYS, "multiscale_affine": REGISTRATION_FIELD_KEYS}
    hint = table.get(cfg.hydra.runtime.choices.get("problem"), {}).get(rest.lower(), "")
    found = angles_text_line(value) if hint == _ANGLES_HINT else None
    name = Path(sinogram.strip().strip("'\"")).name
    if found is not None and name:
        load = (f"numpy.load('{name}')" if name.lower().endswith(".npy") else
                f"numpy.asarray(PIL.Image.open('{name}'))" if name.lower().endswith((".tif", ".tiff", ".png")) else "")
        if load:
            hint = hint.replace("numpy.load('S.npy')", load)
    if found is not None:
        line, values = found
        hint = hint.replace("numpy.loadtxt('angles.txt')", line).replace(
            "(degrees, one per view)", f"(its {values.size} values, {values.min():g} to {values.max():g}"
            + (": radians, so numpy.degrees" if line.startswith("numpy.degrees") else " degrees") + ", one per view)")
    return hint


def angles_text_line(value: str) -> tuple | None:
    """The numpy line that reads a text or CSV file of angles, one column (its header lines skipped, its delimiter
    given), and the values it reads; None where `value` names no such file. The hint's own numpy.loadtxt('angles.txt')
    failed on newuser28's angles.csv, whose first line is its column's name (ValueError: could not convert string
    'angle_deg')."""
    import numpy as np

    path = Path(value.strip().strip("'\""))
    try:
        if not path.is_file() or path.stat().st_size > 1_000_000:
            return None
        lines = path.read_text(errors="replace").splitlines()
    except (OSError, ValueError):
        return None
    skip = 0  # the lines before the first of numbers alone: a header, a blank line
    for line in lines:
        fields = [x for x in re.split(r"[,;\s]+", line.strip()) if x]
        try:
            if fields and [float(x) for x in fields]:
                break
        except ValueError:
            pass
        skip += 1
    if skip >= len(lines):
        return None
    delimiter = next((d for d in (",", ";", "\t") if d in lines[skip]), None)
    try:
        values = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=1)
    except ValueError:
        return None
    if values.ndim != 1 or not values.size or not np.isfinite(values).all():
        return None
    args = "".join([f"'{path.name}'", f", delimiter={delimiter!r}" if delimiter else "",
                    f", skiprows={skip}" if skip else ""])
    line = f"numpy.loadtxt({args})"
    radians = values.size > 8 and float(values.max() - values.min()) <= 2 * np.pi + 1e-9  # as a file's are refused
    return (f"numpy.degrees({line})" if radians else line), values


def key_owners(key: str, cfg: DictConfig | None) -> str:
    """For a problem/solver key the run's option does not have (`problem.frames` with the default problem,
    `solver.lam` on fbp): which other options have it and what to add, or that those solvers do not fit the
    run's problem (the CI matrix, configs/ci, holds every pair that fits); '' when no option has it."""
    group, _, rest = key.partition(".")
    if group not in ("problem", "solver") or not rest or cfg is None:
        return ""
    choices = cfg.hydra.runtime.choices
    chosen, problem = choices.get(group), choices.get("problem")
    owners = [o for o in options_with_key(group, rest) if o != chosen]
    if not owners:
        return ""
    nested = nested_keys(cfg, group, rest)
    if nested:
        return (f"did you mean {nested[0]}? {chosen} (this run's {group}) has it there; {key} is a key of {group} "
                f"{', '.join(owners)}")
    if group == "solver":
        pairs = [p.split("__") for p in group_options("ci")]
        fitting = [o for o in owners if [problem, o] in pairs]
        if not fitting:
            for_problems = sorted({p for p, s in pairs if s in owners})
            return (f"it is a key of solver {', '.join(owners)} (problem {', '.join(for_problems)}), not of "
                    f"{chosen}, this run's solver for problem {problem}; `regrun --explain solver problem={problem}` "
                    f"lists {chosen}'s keys")
        owners = fitting
    own = ANALOG_KEYS.get((chosen, rest))
    if own:
        # superres's problem.truth_file was told "add problem=ct_fewview", a problem the user did not mean (newuser22)
        return (f"{chosen} (this run's {group}) calls it {group}.{own}; {key} is a key of {group} "
                f"{', '.join(owners)}")
    return (f"it is a key of {group} {', '.join(owners)}, not of {chosen} (this run's {group}); add "
            f"{group}={owners[0]}" + (" (or another of them)" if len(owners) > 1 else ""))


def group_options(group: str, extra_dirs: tuple[Path, ...] = ()) -> list[str]:
    """The options of a config group: regrun's own, and those a user adds with `--config-dir DIR`."""
    return sorted({p.stem for d in (config_dir(), *extra_dirs) for p in (Path(d) / group).glob("*.yaml")})


def group_file(group: str, name: str, extra_dirs: tuple[Path, ...] = ()) -> Path | None:
    """The YAML file of option `name` of `group`, as Hydra finds it (regrun's own configs first)."""
    for d in (config_dir(), *extra_dirs):
        if (Path(d) / group / f"{name}.yaml").is_file():
            return Path(d) / group / f"{name}.yaml"
    return None


def searchpath_override(extra_dirs: tuple[Path, ...]) -> list[str]:
    """The override that makes compose() see the folders of `--config-dir` as hydra.main does."""
    return [f"hydra.searchpath=[{','.join(quote_value(f'file://{d}') for d in extra_dirs)}]"] if extra_dirs else []


def config_section(group: str, name: str, **overrides) -> DictConfig:
    """One config group file (e.g. ("solver", "varpro_cg")) with dotted-key overrides, for tests and scripts
    that build a problem or solver without composing a whole run."""
    # Composed, not loaded: a group file may include shared blocks through its `defaults:` list (e.g.
    # solver/common/fista.yaml) and refer to top-level knobs (${cg_iters}, resolved here); a plain, non-struct
    # copy, so that callers may add keys as they could to the loaded file. The overrides go in before the
    # interpolations are resolved, so that a default that follows another key (${by_data:${.data},...}) follows
    # the caller's value, as it does on the command line.
    full = OmegaConf.create(OmegaConf.to_container(compose([f"{group}={name}"]), resolve=False))
    for key, value in overrides.items():
        OmegaConf.update(full, f"{group}.{key}", value)
    return OmegaConf.create(OmegaConf.to_container(full[group], resolve=True))


def paper_values(cfg: DictConfig) -> dict[str, float]:
    """The reference values a preset carries, by metric name. A value may depend on a swept setting:

        paper:
          rel_error: {by: solver.jacobian, values: {none: 0.2561, full: 0.1070}}

    picks the entry for this run's solver.jacobian (none when the setting has no entry)."""
    out = {}
    for name, spec in (cfg.get("paper") or {}).items():
        if isinstance(spec, DictConfig) and "by" in spec:
            setting = OmegaConf.select(cfg, str(spec.by))
            match = [v for k, v in spec["values"].items() if str(k) == str(setting)]
            if match:
                out[name] = float(match[0])
        else:
            out[name] = float(spec)
    return out


register_resolvers()  # config_section() users (scripts, tests) resolve the configs' interpolations too


def run_identity(cfg: DictConfig) -> dict:
    """What a results file names a run by: problem, solver, device, dtype, seed and the config's hash (a config
    composed by hand may lack a group's `name`: '?')."""
    return {
        "problem": str(cfg.problem.get("name", "?")),
        "solver": str(cfg.solver.get("name", "?")),
        "device": str(cfg.device.get("name", "?")),
        "dtype": str(cfg.dtype),
        "seed": int(cfg.seed) if isinstance(cfg.seed, int) else -1,
        "run_id": config_hash(cfg),
    }
