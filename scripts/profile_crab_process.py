"""Where one whole `regrun` process spends its CPU time, by phase (docs/detection.md, detfast2): process CPU-s
(user + sys, getrusage) marked after the start-up's imports, the override checks and composition, Hydra's own
composition, and around the run's phases (data, extraction, detection, evaluation, figures), with no profiler.
The process ends as the `regrun` command does (no module teardown, start-up without the collector); the last line
is the CPU-s at the last atexit hook, so the whole process (`/usr/bin/time`) adds only the interpreter's exit.

    OMP_NUM_THREADS=1 python scripts/profile_crab_process.py problem=crab_detection problem.template=refine_crab \
        problem.scene.source=file problem.scene.path=PHOTO.png hydra.run.dir=OUT/profile
"""
from __future__ import annotations

import atexit
import contextlib
import resource
import sys


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


MARKS = [("interpreter", cpu())]


def mark(name: str) -> None:
    MARKS.append((name, cpu()))


def report() -> None:
    mark("last atexit hook")
    prev = 0.0
    for name, c in MARKS:
        print(f"{c:7.2f} {c - prev:+6.2f}  {name}", file=sys.stderr)
        prev = c


def main() -> None:
    import torch  # noqa: F401  (timed on its own: most of the start-up)

    mark("import torch")
    import hydra

    mark("import hydra")
    from regrun import cli, monitor
    from regrun import run as _run  # noqa: F401

    mark("import regrun.cli, regrun.run")
    from regrun.detection.detector import HierarchicalDetector
    from regrun.solvers import hierarchical

    def timed(owner, name, label):
        f = getattr(owner, name)

        def g(*a, **k):
            try:
                return f(*a, **k)
            finally:
                mark(label)
        setattr(owner, name, g)

    timed(cli, "_check_composes", "overrides checked, config composed")
    timed(hierarchical, "cached_extract", "motif cache read (or extraction)")
    timed(HierarchicalDetector, "detect", "detection")
    phase = monitor.Reporter.phase

    def marked_phase(self, name, *a, **k):
        @contextlib.contextmanager
        def m():
            mark(f"before {name}")
            with phase(self, name, *a, **k) as x:
                yield x
            mark(name)
        return m()

    monitor.Reporter.phase = marked_phase
    task = cli._task

    def marked_task(cfg):
        mark("Hydra's composition and job set-up")
        return task(cfg)

    cli._app = hydra.main(config_path=str(cli.config_dir()), config_name="config", version_base="1.3")(marked_task)
    cli._console_script = lambda: True  # end as the `regrun` command does
    atexit.register(report)
    sys.argv = ["regrun", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
