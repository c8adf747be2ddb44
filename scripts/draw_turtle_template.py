"""A template of a user's own for the held-out batch heldout16 (docs/detection.md, "Held-out batch heldout16"):
a toy turtle drawn with the same primitives as the robot, written as the image + YAML a user would make
(docs/detection.md, "A template of your own"). Neither the crab nor the robot: a shell and back legs (the static
body), a head turning on its neck (+-10 deg) and two front flippers of different shape and colour (+-20 deg), under
a parent node, so the tree has two levels as the crab's: turtle -> head, flippers -> left_flipper, right_flipper.

    python scripts/draw_turtle_template.py --out OUT/turtle/turtle.yaml
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from regrun.detection.drawing import _colour, ellipse, grid, paint_parts, segment, texture
from regrun.detection.template_file import write_template_file


def draw_turtle(seed: int = 0):
    """(RGB (3, H, W), alpha (H, W), tree, root, parts) of a 150 x 184 turtle seen from above."""
    gen = torch.Generator().manual_seed(seed)
    h, w = 150, 184
    rr, cc = grid(h, w)
    shell = ellipse(rr, cc, (88, 92), (46, 52))
    legs = ellipse(rr, cc, (128, 48), (10, 8), 0.6) | ellipse(rr, cc, (128, 136), (10, 8), -0.6)
    tail = segment(rr, cc, (130, 92), (146, 92), 7)
    body = shell | legs | tail
    image = torch.zeros(3, h, w, dtype=torch.float64, device="cpu")
    image = torch.where(shell, texture(gen, (h, w), (0.42, 0.36, 0.18), 0.15, 2.5), image)
    for c in ((70, 92), (100, 70), (100, 114), (72, 62), (72, 122), (118, 92)):  # darker scutes on the shell
        image = torch.where(ellipse(rr, cc, c, (11, 13)), _colour((0.25, 0.2, 0.1)), image)
    image = torch.where(ellipse(rr, cc, (88, 92), (6, 6)), _colour((0.9, 0.85, 0.3)), image)
    image = torch.where((legs | tail) & ~shell, texture(gen, (h, w), (0.35, 0.5, 0.3), 0.12, 1.5), image)
    head = (ellipse(rr, cc, (22, 92), (18, 14)) | segment(rr, cc, (34, 92), (44, 92), 12)) & (rr < 42)
    left = (segment(rr, cc, (66, 36), (30, 10), 13) | ellipse(rr, cc, (26, 8), (8, 6))) & (cc <= 36)
    right = ellipse(rr, cc, (82, 162), (20, 11), -0.5) & (cc >= 148)
    specs = (("head", head, (0.55, 0.7, 0.3), 0.14, 1.2, (42.0, 92.0), 10.0),
             ("left_flipper", left, (0.45, 0.3, 0.65), 0.2, 1.5, (64.0, 40.0), 20.0),
             ("right_flipper", right, (0.2, 0.6, 0.6), 0.2, 1.2, (72.0, 146.0), 20.0))

    def decorate(name, tex):
        if name == "head":  # one dark eye on the left, a red cheek on the right: no symmetry to confuse the angle
            tex = torch.where(ellipse(rr, cc, (16, 84), (4, 4)), _colour((0.05, 0.05, 0.05)), tex)
            tex = torch.where(ellipse(rr, cc, (22, 101), (4, 3)), _colour((0.85, 0.15, 0.1)), tex)
        if name == "right_flipper":  # a pale spot
            tex = torch.where(ellipse(rr, cc, (86, 164), (5, 4)), _colour((0.95, 0.95, 0.85)), tex)
        return tex

    image, alpha, parts = paint_parts(gen, image, body, specs, decorate, "turtle")
    tree = {"turtle": ("head", "flippers"), "flippers": ("left_flipper", "right_flipper")}
    return image.numpy(), alpha.numpy(), tree, "turtle", parts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0, help="the drawing's random texture")
    ap.add_argument("--out", default="outputs/turtle/turtle.yaml", help="the YAML to write (the PNG goes beside)")
    args = ap.parse_args(argv)
    rgb, alpha, tree, root, parts = draw_turtle(args.seed)
    header = (f"A template of the user's own (docs/detection.md, 'Held-out batch heldout16'): drawn by\n"
              f"scripts/draw_turtle_template.py --seed {args.seed}. Boxes [top, left, bottom, right], joints [row, col].")
    path = write_template_file(Path(args.out), rgb, alpha, tree, root, parts, header)
    print(f"-> {path} and {path.with_suffix('.png')}")


if __name__ == "__main__":
    main()
