"""Held-out batch of newuser6 (a run's whole life: progress, interruptions, results, odd data): each case run once
through the CLI of the code at --repo; prints one JSON row per case (docs/sweeps.md, "A new user's day (newuser6)").

    python scripts/newuser6_heldout.py --repo PATH --work DIR [--shared ../shared] [--only NAME ...]

Data made here from seed 22061 (never used before; nothing is tuned on them), with numpy, Pillow and scikit-image
only (never regrun's generators):
- crab_4000: the authors' crab.png turned by an angle drawn from the seed, pasted at a place drawn from the seed on a
  4000 x 4000 JPEG (scikit-image's coffee resized); judged: the detection found, and every ETA the detection's
  plain progress lines say in its first 120 s against the detection's time then left (said / left);
- burst: 8 grey 8-bit frames 48 x 48 of a 96 x 96 camera crop (shifts <= 2 fine px, 2 x 2 average, 1% noise),
  factor 2; its runs: term_solve (SIGTERM 8 s in), kill9_solve (SIGKILL 8 s in, then regrun-collect of its folder),
  int_early (SIGINT 1 s after the start), readonly_mid (the run folder made read-only 6 s in), rerun_dir (the same
  hydra.run.dir twice), sweep_one_fails (-m problem.n_frames=4,9 sweep_check=false: 9 > 8 frames fails at run
  time), h5_meaning (a completed run: the datasets of /metrics, /history, /result without a description attribute);
  judged: exit, the results file's name and status, summary.md, nothing lost, one stderr line for a mistake;
- rundir_file: hydra.run.dir under a regular file; judged: one line, exit 2;
- odd data: pair_constant (a template of one grey level), pair_1px (a 1 x 64 pair), frames_1px (8 frames 1 px wide),
  frames_constant (8 frames of one level), sino_neg_counts (raw counts 60 views x 64 bins with negative values);
  judged: exit 2 and one line naming the file and what is allowed, or a completed run.
"""
from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ux6_heldout import run_case, seeded_pass  # noqa: E402  (one runner and command line for every pass)

SEED = 22061
CLI = [sys.executable, "-c", "from regrun.cli import main; main()"]


def env_for(repo: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def make_data(work: Path, shared: Path, rng, huge: bool) -> None:
    from PIL import Image
    from skimage import data
    cam = data.camera().astype(float)
    r0, c0 = rng.integers(100, 380, 2)
    (work / "burst").mkdir(exist_ok=True)
    for k in range(8):
        dy, dx = (0, 0) if k == 0 else rng.integers(-2, 3, 2)
        crop = cam[r0 + dy:r0 + dy + 96, c0 + dx:c0 + dx + 96]
        low = crop.reshape(48, 2, 48, 2).mean((1, 3)) + rng.normal(0, 2.55, (48, 48))
        Image.fromarray(np.clip(low, 0, 255).round().astype(np.uint8)).save(work / "burst" / f"f{k:02d}.png")
    Image.fromarray(np.full((64, 64), 120, np.uint8)).save(work / "const_T.png")
    Image.fromarray(cam[200:264, 200:264].astype(np.uint8)).save(work / "R64.png")
    Image.fromarray(cam[300:301, 100:164].astype(np.uint8)).save(work / "line_R.png")
    Image.fromarray(cam[300:301, 103:167].astype(np.uint8)).save(work / "line_T.png")
    for name, frame in (("frames_1px", lambda k: cam[100:132, 200 + k:201 + k]),
                        ("frames_constant", lambda k: np.full((32, 32), 90.0))):
        (work / name).mkdir(exist_ok=True)
        for k in range(8):
            Image.fromarray(frame(k).astype(np.uint8)).save(work / name / f"f{k:02d}.png")
    counts = rng.poisson(2000.0 * np.exp(-rng.uniform(0, 2, (60, 64)))).astype(float) - 30.0
    counts[rng.integers(0, 60, 5), rng.integers(0, 64, 5)] = -12.0  # a dark-subtracted detector's negative counts
    np.save(work / "sino_neg_counts.npy", counts)
    (work / "a_file").write_text("not a folder\n")
    if huge:
        bg = Image.fromarray(data.coffee()).resize((4000, 4000), Image.Resampling.BICUBIC).convert("RGBA")
        angle = float(rng.uniform(-180, 180))
        row, col = (int(v) for v in rng.integers(600, 3400, 2))
        crab = Image.open(shared / "refine_data" / "crab.png").convert("RGBA").rotate(angle, Image.BICUBIC, expand=True)
        bg.paste(crab, (col - crab.width // 2, row - crab.height // 2), crab)
        bg.convert("RGB").save(work / "crab_4000.jpg", quality=92)
        (work / "crab_4000_truth.json").write_text(json.dumps({"angle_ccw_deg": angle, "row": row, "col": col}))


BURST = "problem=superres problem.data=frames problem.factor=2 problem.frames={w}/burst"
CASES = [
    ("h5_meaning", BURST),
    ("rundir_file", BURST.replace("{w}/burst", "{w}/burst") + " hydra.run.dir={w}/a_file/run"),
    ("pair_constant", "problem.data=files problem.template={w}/const_T.png problem.reference={w}/R64.png"),
    ("pair_1px", "problem.data=files problem.template={w}/line_T.png problem.reference={w}/line_R.png"),
    ("frames_1px", "problem=superres problem.data=frames problem.factor=2 problem.frames={w}/frames_1px"),
    ("frames_constant", "problem=superres problem.data=frames problem.factor=2 problem.frames={w}/frames_constant"),
    ("sino_neg_counts", "problem=ct_fewview problem.data=file solver=fbp problem.size=64 "
                        "problem.sinogram={w}/sino_neg_counts.npy"),
]


def status_of(folder: Path) -> dict:
    import h5py
    row = {"files": sorted(p.name for p in folder.glob("results.h5*")) if folder.exists() else [],
           "summary": (folder / "summary.md").exists()}
    for f in (folder / "results.h5", folder / "results.h5.partial"):
        if f.exists():
            try:
                with h5py.File(f, "r") as h:
                    row["status"] = str(h.attrs["status"])
                    row["message"] = str(h.attrs.get("message", ""))[:200]
            except OSError as exc:
                row["status"] = f"unreadable: {exc}"
    return row


def signalled(repo: Path, work: Path, name: str, sig, after: float, args: str = BURST) -> dict:
    folder = work / "runs" / name
    p = subprocess.Popen([*CLI, *args.format(w=work).split(), f"hydra.run.dir={folder}"], cwd=work,
                         env=env_for(repo), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    if sig == "readonly":
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    else:
        p.send_signal(sig)
    out, err = p.communicate(timeout=600)
    if sig == "readonly":
        folder.chmod(stat.S_IRWXU)
    lines = [x for x in err.splitlines() if x.strip()]
    row = {"case": name, "exit": p.returncode, "traceback": "Traceback" in err,
           "last_err": (lines[-1] if lines else "")[:240], **status_of(folder)}
    if name == "kill9_solve":
        c = subprocess.run([sys.executable, "-c",
                            "from regrun.collect import main; main()", str(folder), "--no-plots"],
                           cwd=work, env=env_for(repo), capture_output=True, text=True, timeout=300)
        row["collect_exit"], row["collect_out"] = c.returncode, (c.stdout + c.stderr)[-400:]
    return row


def rerun_dir(repo: Path, work: Path) -> dict:
    folder = work / "runs" / "rerun_dir"
    rows = [run_case(repo, work, "rerun_dir", BURST + " solver.max_iter=2", {}) for _ in range(2)]
    return {"case": "rerun_dir", "exits": [r["exit"] for r in rows], "first": status_of(folder),
            "second": status_of(folder.with_name("rerun_dir_2"))}


def sweep_one_fails(repo: Path, work: Path) -> dict:
    sweep = work / "runs" / "sweep_one_fails"
    p = subprocess.run([*CLI, "-m", *BURST.format(w=work).split(), "problem.n_frames=4,9", "sweep_check=false",
                        f"hydra.sweep.dir={sweep}"], cwd=work, env=env_for(repo), capture_output=True, text=True,
                       timeout=900)
    jobs = {d.name: status_of(d) for d in sorted(sweep.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    return {"case": "sweep_one_fails", "exit": p.returncode, "jobs": jobs,
            "summary_txt": (sweep / "sweep_summary.txt").exists(), "tail": (p.stdout + p.stderr)[-500:]}


def h5_meaning(work: Path) -> dict:
    import h5py
    missing, total = [], 0
    with h5py.File(work / "runs" / "h5_meaning" / "results.h5", "r") as f:
        for group in ("metrics", "history", "result", "stats"):
            for key in f.get(group, {}):
                total += 1
                if "description" not in f[group][key].attrs:
                    missing.append(f"{group}/{key}")
    return {"case": "h5_meaning_attrs", "datasets": total, "without_description": len(missing),
            "examples": missing[:8]}


def crab_eta(repo: Path, work: Path, shared: Path) -> dict:
    """Every plain progress line of the detection, with the seconds since the process started."""
    folder = work / "runs" / "crab_4000"
    args = (f"problem=crab_detection problem.template=refine_crab problem.data_dir={shared}/refine_data "
            f"problem.scene.source=file problem.scene.path={work}/crab_4000.jpg hydra.run.dir={folder}")
    t0 = time.perf_counter()
    p = subprocess.Popen([*CLI, *args.split()], cwd=work, env=env_for(repo), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    trace = []
    for line in p.stdout:
        trace.append((time.perf_counter() - t0, line.rstrip()))
    p.wait()
    end = next((t for t, ln in trace if re.search(r"detection.* done in ", ln)), None)
    etas = []
    for t, ln in trace:
        m = re.search(r"detection: .*, ETA (?:<= )?([^,]+)", ln)
        if m and end and t < end:
            said = sum(float(v) * {"h": 3600, "min": 60, "s": 1}[u] for v, u in re.findall(r"([\d.]+) (h|min|s)",
                                                                                      m.group(1)))
            etas.append({"t": round(t, 1), "said_s": round(said, 1), "left_s": round(end - t, 1),
                         "ratio": round(said / max(end - t, 1e-9), 2)})
    return {"case": "crab_4000", "exit": p.returncode, "detection_end_s": end and round(end, 1),
            "etas_first_120s": [e for e in etas if e["t"] - etas[0]["t"] <= 120] if etas else [],
            "truth": json.loads((work / "crab_4000_truth.json").read_text()),
            "detections": [ln for _, ln in trace if "detection 1:" in ln or "detected" in ln][:3], **status_of(folder)}


def main() -> None:
    a, work = seeded_pass(__doc__, SEED)
    rng = np.random.default_rng(a.seed)
    huge = not a.only or "crab_4000" in a.only
    make_data(work, a.shared.resolve(), rng, huge)
    (work / "runs").mkdir(exist_ok=True)
    repo = a.repo.resolve()

    def want(name):
        return not a.only or name in a.only

    for name, args in CASES:
        if want(name):
            print(json.dumps(run_case(repo, work, name, args, {})), flush=True)
    if want("h5_meaning"):
        print(json.dumps(h5_meaning(work)), flush=True)
    for name, sig, after in (("term_solve", signal.SIGTERM, 8), ("kill9_solve", signal.SIGKILL, 8),
                             ("int_early", signal.SIGINT, 1.0), ("readonly_mid", "readonly", 6)):
        if want(name):
            print(json.dumps(signalled(repo, work, name, sig, after)), flush=True)
    if want("rerun_dir"):
        print(json.dumps(rerun_dir(repo, work)), flush=True)
    if want("sweep_one_fails"):
        print(json.dumps(sweep_one_fails(repo, work)), flush=True)
    if huge:
        print(json.dumps(crab_eta(repo, work, a.shared.resolve())), flush=True)


if __name__ == "__main__":
    main()
