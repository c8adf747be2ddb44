"""Start N identical `regrun` runs at the same moment and check that each left its own complete results file.

    python scripts/concurrent_runs.py 20 [OUT_DIR] [-- extra overrides]

Each run is the default problem at a tiny size; prints one line per run (folder, status, exit code) and the
count of complete files, and exits 1 unless all N runs completed into N different folders, each with its own
/config, /data and run_id. Each run's console output is kept in OUT_DIR/console/run<i>.out and .err.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

TINY = ["problem.synthetic.size=16", "solver.max_iter=2", "progress=false", "figures=false"]


def main() -> int:
    args = sys.argv[1:]
    extra = args[args.index("--") + 1:] if "--" in args else []
    args = args[:args.index("--")] if "--" in args else args
    count = int(args[0]) if args else 20
    out = Path(args[1]) if len(args) > 1 else Path(tempfile.mkdtemp(prefix="regrun_concurrent_"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    logs = out / "console"  # every run's stdout and stderr kept, so that a failure can be read afterwards
    logs.mkdir(exist_ok=True)
    handles = [(open(logs / f"run{i}.out", "w"), open(logs / f"run{i}.err", "w")) for i in range(count)]
    procs = [subprocess.Popen([sys.executable, "-m", "regrun.cli", *TINY, *extra], cwd=out, stdout=o, stderr=e)
             for o, e in handles]
    for p in procs:
        p.wait()
    wall = time.perf_counter() - t0
    for o, e in handles:
        o.close()
        e.close()
    outs = [((logs / f"run{i}.out").read_text(), (logs / f"run{i}.err").read_text()) for i in range(count)]

    from regrun.record import load

    complete = 0
    folders = sorted((out / "outputs").glob("*/*"))
    for folder in folders:
        try:
            res = load(folder / "results.h5")
            ok = (res["attrs"]["status"] == "completed" and res["attrs"]["out_dir"] == str(folder)
                  and "resolved" in res.get("config", {}) and bool(res.get("data")) and len(res["attrs"]["run_id"]) == 64)
            note = res["attrs"]["status"]
        except (OSError, KeyError) as exc:
            ok, note = False, f"unreadable: {exc}"
        complete += ok
        print(f"{folder.name}  {note}  {'complete' if ok else 'INCOMPLETE'}")
    for i, (p, (stdout, stderr)) in enumerate(zip(procs, outs)):
        if p.returncode != 0:
            print(f"run {i}: exit {p.returncode}\n{stdout[-2000:]}\n{stderr[-2000:]}")
    codes = [p.returncode for p in procs]
    print(f"{count} runs started together in {out}: {len(folders)} folders, {complete} complete files, "
          f"exit codes {sorted(set(codes))}, {wall:.1f} s wall")
    return 0 if complete == count == len(folders) and set(codes) == {0} else 1


if __name__ == "__main__":
    sys.exit(main())
