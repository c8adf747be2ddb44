"""Draw the example template shipped beside the crab (detection/drawing.py: draw_robot, a toy robot whose head and
arms turn) and write it as a template of the user's own would be: an RGBA PNG and the YAML naming its parts.

    python scripts/make_example_template.py                      # -> regrun/detection/templates/robot.{png,yaml}
    python scripts/make_example_template.py --out my/robot.yaml  # elsewhere, e.g. to start a template of your own

The shipped files are this script's output for seed 0 (tests/test_template_file.py checks that they still are).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from regrun.detection.drawing import draw_robot
from regrun.detection.template_file import EXAMPLES_DIR, write_template_file


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0, help="the drawing's random texture")
    ap.add_argument("--out", default=str(EXAMPLES_DIR / "robot.yaml"), help="the YAML to write (the PNG goes beside)")
    args = ap.parse_args(argv)
    rgb, alpha, tree, root, parts = draw_robot(args.seed)
    header = (f"A template of its own kind (docs/detection.md, 'A template of your own'): drawn by\n"
              f"scripts/make_example_template.py --seed {args.seed}. Boxes are [top, left, bottom, right] (bottom, right\n"
              "excluded), joints [row, col], in the PNG's pixels; articulation in degrees either way.")
    path = write_template_file(Path(args.out), rgb, alpha, tree, root, parts, header)
    print(f"-> {path} and {path.with_suffix('.png')}")


if __name__ == "__main__":
    main()
