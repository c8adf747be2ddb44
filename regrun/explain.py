"""Help from the YAML files' own comments (one source): `regrun --help` and `regrun --explain KEY`.

A key's description is its inline comment (`lam: 1.0   # TV weight ...`), continued by comment lines indented
under it, or else the comment block right above it. A group option's description is the first comment of its
file. Nothing here repeats a description: edit the YAML and the help follows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from .config import config_dir, group_file, group_options, nested_keys, options_with_key

KEY = re.compile(r"^(\s*)([A-Za-z_][\w\-]*|\"[^\"]+\"):(?:\s+(.*))?$")
GROUPS = ("problem", "solver", "device", "experiment", "ci")


@dataclass
class KeyDoc:
    key: str            # dotted, relative to the file's package (e.g. "lam" in solver/fista_tv.yaml)
    value: str          # the text after the colon, without its comment
    comment: str
    path: Path
    line: int


def _split_comment(text: str) -> tuple[str, str]:
    """(value, comment) of the text after a key's colon; a # inside quotes is not a comment."""
    quote = None
    for i, ch in enumerate(text):
        if ch in "\"'" and quote in (None, ch):
            quote = None if quote == ch else ch
        elif ch == "#" and quote is None and (i == 0 or text[i - 1] in " \t"):
            return text[:i].strip(), text[i + 1:].strip()
    return text.strip(), ""


def key_docs(path: Path) -> dict[str, KeyDoc]:
    """Every key of one YAML file with its description, by dotted name."""
    docs: dict[str, KeyDoc] = {}
    stack: list[tuple[int, str]] = []
    above: list[str] = []
    last: KeyDoc | None = None
    last_indent = -1
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not stripped:
            above, last = [], None
            continue
        indent = len(raw) - len(raw.lstrip())
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            if last is not None and last.comment and indent > last_indent:
                last.comment += " " + text  # a continuation line under the key's inline comment
            else:
                above.append(text)
                last = None
            continue
        if stripped.startswith("- "):
            last = None
            continue
        m = KEY.match(raw)
        if not m:
            last = None
            continue
        name = m.group(2).strip('"')
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k in stack] + [name])
        value, comment = _split_comment(m.group(3) or "")
        if not comment and above:
            comment = " ".join(above)
        last = docs[dotted] = KeyDoc(dotted, value, comment, path, number)
        last_indent = indent
        above = []
        if not value:
            stack.append((indent, name))
    return docs


def option_docs(group: str, name: str, extra_dirs: tuple[Path, ...] = (), seen: tuple[str, ...] = ()
                ) -> dict[str, KeyDoc]:
    """Every key of option `name` of `group` with its description: its own file's keys and those of the blocks
    its `defaults:` list includes (`common/fista@_here_` at the option's level, `common/lam_grid@grid` under
    `grid.`), as config.option_node finds their values. The option's own description of a key wins (bilevel
    writes `grid.points` itself). `--explain solver solver=grid_search` listed `defaults` and `name` alone, and
    `--explain solver.points` asked for a description that common/lam_grid.yaml holds (newuser16)."""
    import yaml

    path = group_file(group, name, extra_dirs)
    if path is None or name in seen:
        return {}
    spec = yaml.safe_load(path.read_text())
    docs: dict[str, KeyDoc] = {}
    for entry in (spec.get("defaults") or []) if isinstance(spec, dict) else []:
        if isinstance(entry, str) and entry != "_self_" and not entry.startswith("/"):
            block, _, package = entry.partition("@")
            prefix = "" if package in ("", "_here_") else package + "."
            for k, d in option_docs(group, block, extra_dirs, (*seen, name)).items():
                docs[prefix + k] = KeyDoc(prefix + k, d.value, d.comment, d.path, d.line)
    for k, d in key_docs(path).items():
        if k != "defaults" and not k.startswith("defaults."):
            if not d.comment and k in docs:  # the value set here, the meaning written in the block
                d = KeyDoc(k, d.value, docs[k].comment, d.path, d.line)
            docs[k] = d
    return docs


def file_description(path: Path) -> str:
    """The first comment of a config file (the lines before its first key), `# @package` lines skipped."""
    lines = []
    for raw in path.read_text().splitlines():
        s = raw.strip()
        if s.startswith("# @package"):
            continue
        if not s.startswith("#"):
            break
        lines.append(s.lstrip("#").strip())
    return " ".join(lines)


def _wrap(text: str, indent: int, width: int = 110) -> str:
    import textwrap

    return textwrap.fill(text, width=width, initial_indent=" " * indent, subsequent_indent=" " * indent)[indent:] \
        if text else ""


_ABBREVIATIONS = ("Fig", "Figs", "Eq", "eq", "sec", "Sec", "App", "e.g", "i.e", "cf", "vs", "No")


def first_sentence(text: str, limit: int = 160) -> str:
    """The first sentence of a description, for one-line listings (`--explain GROUP=NAME` shows it whole).

    A colon does not end it ("Baseline: Levenberg-Marquardt ..." keeps what the label introduces), nor does the
    full stop of an abbreviation ("seed 002 Fig. 1") or anything inside brackets; a semicolon does, and is shown as a
    full stop."""
    end = None
    for m in re.finditer(r"[.;](\s|$)", text):
        inside_brackets = text.count("(", 0, m.start()) > text.count(")", 0, m.start())
        if inside_brackets or text[: m.start()].split(" ")[-1].lstrip("(") in _ABBREVIATIONS:
            continue
        end = m.start()
        break
    short = text if end is None else text[:end] + "."
    return short if len(short) <= limit else short[: limit - 3].rstrip() + "..."


# the groups' headings in `regrun --help` where the plural of the name is not a word ("CIS")
HEADINGS = {"ci": "CI PRESETS"}


def help_text() -> str:
    """`regrun --help`: usage, the groups with their options' descriptions, the top-level keys."""
    root = config_dir() / "config.yaml"
    lines = ["regrun: run, reproduce and extend AD methods for image registration and inverse problems.",
             "",
             "Usage: regrun [group=option ...] [key=value ...]        one run",
             "       regrun -m key=a,b,c ...                           a sweep (docs/sweeps.md)",
             "       regrun --explain KEY [group=option ...]           one key: its description, default, file",
             "       regrun --cfg job [overrides]                      the composed config",
             ""]
    defaults = {k: v for d in OmegaConf.load(root).defaults if isinstance(d, DictConfig) for k, v in d.items()}
    for group in GROUPS:
        options = group_options(group)
        usage = {"experiment": "+experiment=NAME (a paper preset)", "ci": "+ci=NAME (a CI-sized preset)"}
        head = usage.get(group, f"{group}=NAME" + (f" (default {defaults[group]})" if group in defaults else ""))
        lines.append(f"{HEADINGS.get(group, group.upper() + 'S')}  {head}")
        width = max(len(o) for o in options)
        for option in options:
            desc = first_sentence(file_description(config_dir() / group / f"{option}.yaml"))
            if group == "ci":
                desc = ""  # the CI presets are named problem__solver; their descriptions repeat one line
            lines.append(f"  {option:<{width}}  " + _wrap(desc, width + 4) if desc else f"  {option}")
        lines.append("")
    lines.append("KEYS (top level; a group's own keys: regrun --explain solver [solver=NAME], or --explain "
                 "solver.KEY)")
    docs = {k: d for k, d in key_docs(root).items() if not k.startswith(("hydra", "defaults"))}
    width = max(len(k) for k in docs)
    for key, doc in docs.items():
        lines.append(f"  {key:<{width}}  " + _wrap(f"{doc.comment} [default: {doc.value}]".lstrip(), width + 4))
    lines += ["", "The README explains the results file, sweeps (docs/sweeps.md) and paper reproductions.",
              "Hydra's own options: regrun --hydra-help"]
    return "\n".join(lines)


def _shown(value) -> str:
    """A value as a user types it on the command line: YAML's null/true/false (Python's None read as a word to
    type, `problem.resize = None`: ux4), a section as YAML, anything else as Python writes it."""
    if OmegaConf.is_config(value):
        return OmegaConf.to_yaml(value).strip()
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value)


def explain(key: str, overrides: list[str]) -> str:
    """`regrun --explain KEY [overrides]`: the key's value in the composed config, its description and the file
    that sets it; for a group name (`solver`), every key of the chosen option."""
    from .config import compose

    from .errors import UserError

    cfg = compose(overrides)
    group, _, rest = key.partition(".")
    if group in GROUPS and group in cfg and isinstance(cfg[group], DictConfig):
        option = str(cfg[group].get("name", ""))
        path = config_dir() / group / f"{option}.yaml"
        docs = option_docs(group, option)
        if not rest:
            lines = [f"{group}={option}: {file_description(path)}" if path.is_file() else f"{group}={option}"]
            width = max((len(k) for k in docs), default=0)
            for k, d in docs.items():
                value = OmegaConf.select(cfg, f"{group}.{k}", default=d.value)
                prefix = f"  {group}.{k:<{width}} = {_shown(value):<12}  "
                lines.append(prefix + _wrap(d.comment, len(prefix)))
            return "\n".join(lines)
        doc = docs.get(rest)
    else:
        doc = key_docs(config_dir() / "config.yaml").get(key)
        path = config_dir() / "config.yaml"
    missing = object()
    value = OmegaConf.select(cfg, key, default=missing)
    if value is missing and doc is None:
        owners = options_with_key(group, rest) if group in GROUPS and rest else []
        nested = nested_keys(cfg, group, rest) if owners else []
        if nested:  # `--explain solver.points solver=bilevel`: bilevel's is solver.grid.points
            raise UserError(f"{key} is not a key of {group}={cfg[group].get('name', '?')}; did you mean "
                            f"{nested[0]}? (`regrun --explain {nested[0]}` with the same options)")
        if owners:  # `--explain solver.lam problem=ct_fewview`: the key exists, in another option than the chosen
            raise UserError(f"{key} is not a key of {group}={cfg[group].get('name', '?')}; it is one of "
                            f"{', '.join(f'{group}={o}' for o in owners)} (add that to the command)")
        from .config import nearest_keys

        # the nearest keys, as a run's unknown override gets them (`--explain solver.max_iters` named none: userpass3)
        near = nearest_keys(key, cfg)
        hint = f"; did you mean {' or '.join(f'`{k}`' for k in near)}?" if near else ""
        if not rest and group not in GROUPS:
            # a key typed without its group, `--explain lambda_f`, was told that `regrun --explain lambda_f` (the
            # command just typed) lists a group's keys (newuser22): the groups whose options have it
            found = [(g, o) for g in ("problem", "solver") for o in options_with_key(g, key)]
            if found:
                g, o = found[0]
                hint = (f"; it is {g}.{key} of {', '.join(f'{g2}={o2}' for g2, o2 in found)}: `regrun --explain "
                        f"{g}.{key} {g}={o}`")
            raise UserError(f"unknown config key {key!r}{hint} (`regrun --help` lists the groups and top-level "
                            "keys; `regrun --explain problem` lists a group's keys)")
        raise UserError(f"unknown config key {key!r}{hint} (`regrun --help` lists the groups and top-level keys; "
                        f"`regrun --explain {group}` lists a group's keys)")
    lines = [f"{key} = {_shown(value)}"]
    lines.append(f"  {doc.comment}" if doc and doc.comment else "  (no description in the YAML: please add one)")
    if doc is not None:
        lines.append(f"  default {doc.value or '(a section)'} in {doc.path.relative_to(config_dir().parent)}:"
                     f"{doc.line}")
    return "\n".join(lines)


def undocumented(path: Path) -> list[str]:
    """Keys of a YAML file without a description (for the test that every key is documented)."""
    return [k for k, d in key_docs(path).items() if not d.comment and k != "name" and not k.startswith("defaults")]


def _value_here(body: DictConfig, dotted: str) -> str:
    """An interpolated key's value in this composition, as --resolve prints it ("?" where it cannot resolve
    outside a run, e.g. Hydra's own keys)."""
    try:
        value = OmegaConf.select(body, dotted, throw_on_resolution_failure=True)
    except Exception:
        return "?"
    return OmegaConf.to_yaml({"v": value}).strip()[3:] if not isinstance(value, DictConfig) else "{...}"


def job_yaml(overrides: list[str], resolve: bool = False, extra_dirs: tuple[Path, ...] = ()) -> str:
    """`regrun --cfg job`: the composed job config as YAML (as Hydra prints it), each key followed by the first
    sentence of its description from the YAML file that sets it (config.yaml, or the chosen group option)."""
    from .config import compose, searchpath_override

    cfg = compose(searchpath_override(extra_dirs) + list(overrides))
    body = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    docs = {k: d.comment for k, d in key_docs(config_dir() / "config.yaml").items()}
    for group in GROUPS:
        if group in body and isinstance(body[group], DictConfig):
            option = str(body[group].get("name", ""))
            docs.update({f"{group}.{k}": d.comment for k, d in option_docs(group, option, extra_dirs).items()})
    out, stack = [], []
    for line in OmegaConf.to_yaml(body, resolve=resolve).splitlines():
        m = KEY.match(line)
        if m is None:
            out.append(line)
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k in stack] + [m.group(2).strip('"')])
        if not m.group(3):
            stack.append((indent, m.group(2).strip('"')))
        comment = docs.get(dotted)
        if comment and len(comment) > 100:  # the first sentence, or the first 100 characters
            comment = comment.split(". ")[0] if len(comment.split(". ")[0]) <= 100 else comment[:97] + "..."
        if m.group(3) and "${" in line and not resolve:
            # `lambda_f: ${weight_for_data:${.data},1.0e-2}` did not say that a user's frames get auto (newuser15)
            comment = f"= {_value_here(body, dotted)} here" + (f"; {comment}" if comment else "")
        out.append(f"{line}  # {comment}" if comment else line)
    return "\n".join(out)
