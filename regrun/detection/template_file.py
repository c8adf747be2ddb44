"""A template of the user's own: an image and a small YAML file that names its parts (issue 17 §6).

    # robot.yaml -- paths are relative to this file
    image: robot.png              # RGBA: the template is where alpha > 0.5; RGB: where a pixel is not black
    mask: null                    # optional: a mask image of the same size (white = template), instead of the rule above
    root: robot                   # the whole object
    tree:                         # parent: [children]; every node but the root is some parent's child once
      robot: [head, arms]
      arms: [left_arm, right_arm]
    parts:                        # one entry per leaf of the tree
      head: {box: [2, 40, 46, 96], joint: [44, 68], articulation: 10}
      left_arm: {mask: left_arm.png, joint: [52, 30], articulation: 20}

A part is the template's pixels inside its `box` ([top, left, bottom, right], rows and columns in pixels, bottom
and right excluded) or the white pixels of its `mask` image (the template's size); where two parts' boxes overlap,
the part listed first takes the pixels. `joint` is where the part turns (row, col in the template's pixels; it
may lie on the body, outside the part), `articulation` how far it may turn either way (degrees, default 0).
Everything else of the template is the static body. Calibration files for the template are looked up in
`calibrations/` beside the YAML (solvers/hierarchical.py; regrun-calibrate writes them there).

Every mistake is one line naming the file, the key and what is allowed (UserError: exit 2 from the command line).
write_template_file writes the same format (scripts/make_example_template.py uses it for the shipped example).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .crab_data import Template, assemble_template, depth_first_order, part_from_mask, read_rgba

KEYS = ("image", "mask", "root", "tree", "parts")
PART_KEYS = ("box", "mask", "joint", "articulation")
# shipped example templates (problem.template=NAME): NAME.yaml in this folder
EXAMPLES_DIR = Path(__file__).resolve().parent / "templates"


def is_template_file(spec: str) -> bool:
    """Whether problem.template names a template file rather than a built-in crab or a shipped example."""
    return str(spec).endswith((".yaml", ".yml"))


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))


def _read_yaml(path: Path) -> dict:
    import yaml

    if not path.is_file():
        raise UserError(f"template file not found: {path}")
    try:
        body = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise UserError(f"template {path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"template {path}: not a text file (a template is a YAML file naming an image)") from None
    if not isinstance(body, dict):
        raise UserError(f"template {path}: must be a mapping with keys {', '.join(KEYS)}; got {type(body).__name__}")
    unknown = [k for k in body if k not in KEYS]
    if unknown:
        raise UserError(f"template {path}: unknown key {unknown[0]!r}; allowed: {', '.join(KEYS)}")
    for key in ("image", "root", "tree", "parts"):
        if body.get(key) is None:
            raise UserError(f"template {path}: no {key!r} (a template needs {', '.join(k for k in KEYS if k != 'mask')})")
    return body


def _image_path(path: Path, key: str, value) -> Path:
    if not isinstance(value, str) or not value:
        raise UserError(f"template {path}: {key}={value!r} must be an image file name (relative to the YAML's folder)")
    p = Path(value).expanduser()
    p = p if p.is_absolute() else path.parent / p
    if not p.is_file():
        raise UserError(f"template {path}: {key}={value!r}: image not found ({p})")
    return p


def _mask_image(path: Path, key: str, value, size) -> np.ndarray:
    """A mask file as booleans: white (luminance > 1/2, and alpha > 1/2 where it has alpha)."""
    p = _image_path(path, key, value)
    rgb, alpha = read_rgba(p)
    if rgb.shape[1:] != tuple(size):
        raise UserError(f"template {path}: {key}={value!r} is {rgb.shape[1]}x{rgb.shape[2]} px; it must be the "
                        f"image's size, {size[0]}x{size[1]}")
    return (rgb.mean(0) > 0.5) & (alpha > 0.5)


def _name(path: Path, what: str, value) -> str:
    if not isinstance(value, str) or not value or "#" in value or "/" in value:
        raise UserError(f"template {path}: {what} {value!r} must be a non-empty name without '#' or '/'")
    return value


def _tree(path: Path, body: dict) -> tuple[dict[str, tuple[str, ...]], str]:
    root = _name(path, "root", body["root"])
    tree_in = body["tree"]
    if not isinstance(tree_in, dict) or not tree_in:
        raise UserError(f"template {path}: tree must map each parent to its list of children, e.g. "
                        f"{{{root}: [part_a, part_b]}}")
    tree, parent_of = {}, {}
    for parent, kids in tree_in.items():
        parent = _name(path, "tree parent", parent)
        if isinstance(kids, str):
            kids = [kids]
        if not isinstance(kids, list) or not kids:
            raise UserError(f"template {path}: tree.{parent} must be a non-empty list of children; got {kids!r}")
        for kid in kids:
            kid = _name(path, f"child of {parent}", kid)
            if kid == root:
                raise UserError(f"template {path}: the root {root!r} cannot be a child (of {parent!r})")
            if kid in parent_of:
                raise UserError(f"template {path}: {kid!r} is a child of both {parent_of[kid]!r} and {parent!r}; "
                                "each node has one parent")
            parent_of[kid] = parent
        tree[parent] = tuple(kids)
    if root not in tree:
        raise UserError(f"template {path}: the root {root!r} has no children in tree (tree names the parents "
                        f"{', '.join(tree)})")
    for parent in tree:
        if parent != root and parent not in parent_of:
            raise UserError(f"template {path}: unknown parent {parent!r} in tree: it is neither the root {root!r} "
                            "nor a child of another node")
    reached = {n for n, _ in depth_first_order(tree, root)}
    if len(reached) != 1 + len(parent_of):  # every node has one parent, so only a cycle stays unreached
        raise UserError(f"template {path}: the tree has a cycle or nodes not below the root {root!r}")
    return tree, root


def _numbers(path: Path, what: str, value, n: int) -> list[float]:
    ok = isinstance(value, list) and len(value) == n and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value)
    if not ok:
        raise UserError(f"template {path}: {what}={value!r} must be a list of {n} numbers")
    return [float(v) for v in value]


def load_template_file(spec: str | Path) -> Template:
    """The template a YAML file describes (module docstring), checked; a one-line UserError for any mistake."""
    from ..imaging.io import resolve_data_path

    path = resolve_data_path(spec)
    body = _read_yaml(path)
    tree, root = _tree(path, body)
    leaves = [n for n, _ in depth_first_order(tree, root) if n not in tree]
    rgb, alpha = read_rgba(_image_path(path, "image", body["image"]))
    h, w = alpha.shape
    if body.get("mask") is not None:
        support = _mask_image(path, "mask", body["mask"], (h, w))
    elif (alpha < 1).any():
        support = alpha > 0.5
    else:
        support = rgb.max(0) > 0
    if not support.any():
        raise UserError(f"template {path}: the template is empty (no pixel with alpha > 0.5, or all black)")
    parts_in = body["parts"]
    if not isinstance(parts_in, dict):
        raise UserError(f"template {path}: parts must map each leaf of the tree to {{box or mask, joint, "
                        "articulation}}")
    for name in parts_in:
        if name not in leaves:
            where = "a parent in tree: only leaves are parts" if name in tree else "not in tree"
            raise UserError(f"template {path}: part {name!r} is {where} (the leaves are {', '.join(leaves)})")
    for name in leaves:
        if name not in parts_in:
            raise UserError(f"template {path}: leaf {name!r} of the tree has no entry in parts")
    image = torch.from_numpy(rgb * support)
    taken = np.zeros((h, w), dtype=bool)
    parts, articulation = {}, {}
    for name, entry in parts_in.items():  # the file's order: the first listed part takes overlapping pixels
        key = f"parts.{name}"
        if not isinstance(entry, dict):
            raise UserError(f"template {path}: {key} must be a mapping with box or mask, joint, articulation")
        unknown = [k for k in entry if k not in PART_KEYS]
        if unknown:
            raise UserError(f"template {path}: {key} has unknown key {unknown[0]!r}; allowed: {', '.join(PART_KEYS)}")
        if ("box" in entry) == ("mask" in entry):
            raise UserError(f"template {path}: {key} needs exactly one of box: [top, left, bottom, right] or "
                            "mask: FILE")
        if "box" in entry:
            box = _numbers(path, f"{key}.box", entry["box"], 4)
            top, left, bottom, right = box
            if any(v != int(v) for v in box) or not (0 <= top < bottom <= h and 0 <= left < right <= w):
                raise UserError(f"template {path}: {key}.box={entry['box']} is outside the {h}x{w} image or empty; "
                                f"give integers 0 <= top < bottom <= {h}, 0 <= left < right <= {w}")
            shape = np.zeros((h, w), dtype=bool)
            shape[int(top):int(bottom), int(left):int(right)] = True
        else:
            shape = _mask_image(path, f"{key}.mask", entry["mask"], (h, w))
        shape &= support & ~taken
        if not shape.any():
            raise UserError(f"template {path}: {key} covers no pixel of the template (outside it, or taken by "
                            "parts listed before)")
        if "joint" not in entry:
            raise UserError(f"template {path}: {key} has no joint: [row, col] (where the part turns)")
        joint = _numbers(path, f"{key}.joint", entry["joint"], 2)
        if not (0 <= joint[0] <= h - 1 and 0 <= joint[1] <= w - 1):
            raise UserError(f"template {path}: {key}.joint={entry['joint']} is outside the {h}x{w} image")
        art = entry.get("articulation", 0.0)
        if isinstance(art, bool) or not isinstance(art, (int, float)) or not 0 <= art <= 180:
            raise UserError(f"template {path}: {key}.articulation={art!r} must be a number of degrees in [0, 180]")
        taken |= shape
        parts[name] = part_from_mask(image, torch.from_numpy(shape), tuple(joint))
        articulation[name] = float(art)
    return assemble_template(path.stem, image, torch.from_numpy(support.astype(np.float64)), parts, tree, root,
                             articulation, path)


def write_template_file(path: Path, rgb: np.ndarray, alpha: np.ndarray, tree: dict, root: str, parts: dict,
                        header: str = "") -> Path:
    """Write an image (RGB (3, H, W) and alpha (H, W) in [0, 1], as an 8-bit RGBA PNG beside the YAML) and the YAML
    naming its parts (parts: name -> {box or mask: ..., joint, articulation}, as load_template_file reads), after
    `header` (comment lines)."""
    import yaml
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    png = path.with_suffix(".png")
    rgba = np.concatenate((rgb, alpha[None]), 0).transpose(1, 2, 0)
    Image.fromarray(np.round(np.clip(rgba, 0, 1) * 255).astype(np.uint8), "RGBA").save(png)
    body = {"image": png.name, "root": root, "tree": {k: list(v) for k, v in tree.items()},
            "parts": {k: dict(v) for k, v in parts.items()}}
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(comment + yaml.safe_dump(body, sort_keys=False, default_flow_style=None))
    return path
