#!/usr/bin/env python
"""A fused template for the super-resolution pre-registration on sharp drawings through 22-32 px frames (issue 16;
docs/superres.md "A fused template for sharp drawings (srtemplate)").

New scenes (as scripts/diag_superres_prereg.py's, added to its SCENES by name so bench_lambda_sr's --set takes
them): text in fonts and sizes no earlier batch used (matplotlib's bundled fonts, so every machine draws the same):
text_italic (DejaVu Serif Italic 12 px), text_stix (STIX General 13 px), text_cmr (Computer Modern Roman 16 px),
text_oblique (DejaVu Sans Oblique 14 px), text_cmtt (Computer Modern Typewriter 12 px).

    python scripts/diag_superres_template.py bench <bench_lambda_sr.py's options>   # the bench with the scenes
    python scripts/diag_superres_template.py draw --out OUT/scenes                 # the scenes as PNGs
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_lambda_sr  # noqa: E402  (scripts/bench_lambda_sr.py)
import diag_superres_prereg as prereg  # noqa: E402  (scripts/diag_superres_prereg.py: its scenes, its ladders)

NEW_SCENES = {
    "text_italic": lambda u: prereg._text(u, "DejaVuSerif-Italic.ttf", 12, 16, 15.5, 38),
    "text_stix": lambda u: prereg._text(u, "STIXGeneral.ttf", 13, 16, 15.0, 40),
    "text_cmr": lambda u: prereg._text(u, "cmr10.ttf", 16, 12, 20.0, 30),
    "text_oblique": lambda u: prereg._text(u, "DejaVuSans-Oblique.ttf", 14, 14, 17.5, 30),
    "text_cmtt": lambda u: prereg._text(u, "cmtt10.ttf", 12, 16, 15.0, 36),
}
prereg.SCENES.update(NEW_SCENES)  # prereg.source_image looks SCENES up at call time


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("bench", "draw"):
        raise SystemExit("usage: diag_superres_template.py bench|draw ...")
    if argv[0] == "bench":
        return bench_lambda_sr.main(argv[1:])
    return prereg.draw(Path(argv[argv.index("--out") + 1]) if "--out" in argv else Path("outputs/scenes"))


if __name__ == "__main__":
    main()
