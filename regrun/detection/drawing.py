"""Drawing primitives for procedural templates (textured regions, ellipses, thick segments), shared by the
synthetic crab (crab_data.py) and the example template drawn by scripts/make_example_template.py (draw_robot).

Everything is CPU float64 and deterministic for a given torch.Generator, so a seed gives the same drawing on every
machine; (rr, cc) are the row/col index grids of the canvas.
"""
from __future__ import annotations

import math

import torch

from ..imaging.gaussian import gaussian_filter


def texture(gen: torch.Generator, shape, base, contrast: float, sigma: float) -> torch.Tensor:
    """Coloured smooth noise: base colour (3,) plus contrast x band-passed noise, one pattern for all channels
    scaled per channel so that colour and luminance both vary."""
    noise = torch.randn(1, *shape, generator=gen, dtype=torch.float64, device="cpu")
    noise = gaussian_filter(noise, sigma) - gaussian_filter(noise, 3 * sigma)
    noise = noise / noise.std()
    tint = 0.6 + 0.8 * torch.rand(3, 1, 1, generator=gen, dtype=torch.float64, device="cpu")
    return (torch.tensor(base, dtype=torch.float64, device="cpu")[:, None, None] + contrast * tint * noise).clamp(0.02, 1.0)


def ellipse(rr, cc, c, axes, angle=0.0):
    ca, sa = math.cos(angle), math.sin(angle)
    u = ((rr - c[0]) * ca + (cc - c[1]) * sa) / axes[0]
    v = (-(rr - c[0]) * sa + (cc - c[1]) * ca) / axes[1]
    return u * u + v * v <= 1


def segment(rr, cc, p, q, width):
    p, q = torch.tensor(p, dtype=rr.dtype, device="cpu"), torch.tensor(q, dtype=rr.dtype, device="cpu")
    d = q - p
    t = (((rr - p[0]) * d[0] + (cc - p[1]) * d[1]) / (d @ d)).clamp(0, 1)
    return (rr - p[0] - t * d[0]) ** 2 + (cc - p[1] - t * d[1]) ** 2 <= (width / 2) ** 2


def grid(h: int, w: int):
    """(rr, cc): the row and column index of every pixel of an h x w canvas."""
    r = torch.arange(h, dtype=torch.float64, device="cpu")
    c = torch.arange(w, dtype=torch.float64, device="cpu")
    return torch.meshgrid(r, c, indexing="ij")


def _colour(rgb) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float64, device="cpu")[:, None, None]


def paint_parts(gen: torch.Generator, image: torch.Tensor, body: torch.Tensor, specs, decorate, what: str):
    """Paint each articulated part of a procedural template over `image` and name it as a template file does.
    specs: (name, shape, colour, contrast, texture scale, joint, articulation) per part; decorate(name, texture)
    adds a part's own marks (eyes, spots) to its texture. Returns (image, alpha, parts), parts: name -> {box [top,
    left, bottom, right], joint [row, col], articulation}; a box that holds pixels of another part is an error, since
    extraction would then learn that part twice."""
    parts, support, shapes = {}, body.clone(), {}
    for name, shape, colour, contrast, sigma, joint, art in specs:
        image = torch.where(shape, decorate(name, texture(gen, shape.shape, colour, contrast, sigma)), image)
        support |= shape
        shapes[name] = shape
        rows = torch.nonzero(shape.any(1)).flatten()
        cols = torch.nonzero(shape.any(0)).flatten()
        parts[name] = {"box": [int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1],
                       "joint": list(joint), "articulation": art}
    for name, shape in shapes.items():
        (r0, c0, r1, c1) = parts[name]["box"]
        assert not (support & ~shape)[r0:r1, c0:c1].any(), f"the {name}'s box holds pixels of other parts of the {what}"
    alpha = support.to(torch.float64)
    return image * alpha, alpha, parts


def draw_robot(seed: int = 0):
    """The example template beside the crab (issue 17 §6): a 160 x 176 toy robot drawn here, with a tree of another
    shape than the crab's (one level: robot -> head, left_arm, right_arm). The torso (with a dial) and the legs are
    the static body; the head turns on its neck, each arm at its shoulder. The parts differ in shape and colour
    (a round pincer hand and a square hook hand; two differently coloured eyes and one antenna) so that no part
    matches another at any rotation. Returns (RGB (3, H, W), alpha (H, W), tree, root, parts), parts as a
    template file names them: name -> {box [top, left, bottom, right], joint [row, col], articulation}."""
    gen = torch.Generator().manual_seed(seed)
    h, w = 160, 176
    rr, cc = grid(h, w)
    torso = ellipse(rr, cc, (93, 88), (36, 40)) & (rr >= 60) & (rr <= 126) | \
        ((rr >= 66) & (rr <= 120) & (cc >= 50) & (cc <= 126))
    legs = segment(rr, cc, (124, 72), (150, 66), 11) | segment(rr, cc, (124, 104), (150, 112), 11)
    feet = ellipse(rr, cc, (153, 62), (6, 12)) | ellipse(rr, cc, (153, 116), (6, 12))
    body = torso | legs | feet
    image = torch.zeros(3, h, w, dtype=torch.float64, device="cpu")
    image = torch.where(torso, texture(gen, (h, w), (0.45, 0.5, 0.62), 0.16, 2.0), image)
    image = torch.where((legs | feet) & ~torso, texture(gen, (h, w), (0.3, 0.32, 0.36), 0.14, 1.5), image)
    dial = ellipse(rr, cc, (92, 80), (13, 13))
    image = torch.where(dial, _colour((0.92, 0.9, 0.75)), image)
    image = torch.where(segment(rr, cc, (92, 80), (84, 89), 3) & dial, _colour((0.7, 0.1, 0.1)), image)
    image = torch.where(ellipse(rr, cc, (108, 108), (5, 8)), _colour((0.15, 0.6, 0.25)), image)
    # the parts: (name, shape, colour, contrast, texture scale, joint, articulation)
    head = (ellipse(rr, cc, (30, 88), (19, 24)) | segment(rr, cc, (44, 88), (58, 88), 10)
            | segment(rr, cc, (14, 104), (2, 112), 3) | ellipse(rr, cc, (3, 113), (3, 3)))
    left_arm = (segment(rr, cc, (70, 46), (112, 22), 11) | ellipse(rr, cc, (120, 17), (10, 10))) \
        & ~ellipse(rr, cc, (127, 13), (5, 4), 0.6) & (cc <= 46)
    right_arm = (segment(rr, cc, (70, 130), (98, 154), 10) | segment(rr, cc, (98, 154), (74, 168), 8)
                 | ((rr >= 60) & (rr <= 74) & (cc >= 160) & (cc <= 174))) & (cc >= 130)
    specs = (("head", head & (rr < 60), (0.75, 0.72, 0.7), 0.14, 1.2, (58.0, 88.0), 10.0),
             ("left_arm", left_arm, (0.85, 0.45, 0.15), 0.2, 1.5, (70.0, 48.0), 20.0),
             ("right_arm", right_arm, (0.25, 0.55, 0.7), 0.2, 1.2, (70.0, 128.0), 20.0))

    def decorate(name, tex):
        if name == "head":  # two eyes of different colour and a dark mouth
            tex = torch.where(ellipse(rr, cc, (26, 78), (5, 5)), _colour((0.1, 0.2, 0.9)), tex)
            tex = torch.where(ellipse(rr, cc, (26, 99), (6, 4)), _colour((0.95, 0.8, 0.1)), tex)
            tex = torch.where(segment(rr, cc, (40, 80), (38, 98), 3), _colour((0.1, 0.08, 0.08)), tex)
        return tex

    image, alpha, parts = paint_parts(gen, image, body, specs, decorate, "robot")
    return image.numpy(), alpha.numpy(), {"robot": ("head", "left_arm", "right_arm")}, "robot", parts
