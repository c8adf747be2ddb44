"""The frames check on small frames (at most SMALL_FRAME_MAX pixels a side): every moved frame held out, and a
caution where the answer predicts them little better than bicubic upsampling of frame 0 (issue 16).

On smooth scenes seen through 10-12 px frames the answer can fall below bicubic, and no weight, edge margin or
motion setting measured lifts it (docs/superres.md, "Motion on smooth 10-px frames (srtiny)", "The edge margin on
small frames (sredge)"). Whether the frames can tell was measured on 60 seen sets at 20^2-32^2 (docs/superres.md,
"Below bicubic on 10-px frames: a check without the truth (srsmall)"): they cannot rank the answer against bicubic.
The answer predicts frames it was not fitted on 1.7-67x better than bicubic's image does on every one of them,
also where its PSNR is 2.3 dB under bicubic's. Most of the answer's error on these images lies in the 2 fine
pixels at the image's edge (36-90% of it where the answer is under bicubic), which the moved frames' kept pixels
do not see. So the check does not replace the answer. The ratio over every moved frame (which costs 0.03-0.5
CPU-s at these sizes) only grades the evidence: at CAUTION_RATIO or above (seen: 3 of the 5 sets under bicubic
and 7 of the 55 over it, those +0.7 to +4.0 dB) the run says that the answer may be no better than bicubic.
"""
from __future__ import annotations

import math

import torch

from .superres_check import bicubic_residuals, closed_form_factor, held_out_frames, held_out_residuals

# Frames of at most this many pixels a side get the check: no seen set with larger frames is below bicubic in
# docs/superres.md's tables (P at 48^2-128^2 +2.88 dB or more, N +6.31 or more, docs/status.md), and above it the
# all-frames closed form costs as much as the weight search (48^2/16: 4.3 CPU-s a weight, "srcv"); so at 256^2
# it costs nothing.
SMALL_FRAME_MAX = 16
# frames_check_all_ratio at which the run cautions. Chosen on the seen sets' table (docs/superres.md, "srsmall"):
# at 0.15 it flags 3 of the 5 seen sets under bicubic and 7 of the 55 over it; at 0.10 4 of 5 and 18 of 55;
# at 0.20 1 of 5 and 5 of 55. Returning bicubic's image where it flags would lose 12.0 dB summed (7 sets, up to
# 4.0 dB each) for 3.8 gained, so the run only cautions.
CAUTION_RATIO = 0.15


def small_frames(model) -> bool:
    """Whether all_frames_check runs: a moved frame, frames of at most SMALL_FRAME_MAX pixels a side."""
    return model.q >= 1 and max(model.coarse.m) <= SMALL_FRAME_MAX


def frames_checks(model, w: torch.Tensor, factor: torch.Tensor | None = None,
                  f: torch.Tensor | None = None) -> dict[str, float]:
    """The shipped check's metrics (superres_check.held_out_frames) and, on small frames, all_frames_check's, with
    one factor of the normal matrix for both: without the weight search's (a typed weight, or a search not repeated
    at the final motion) each check formed and factored the same matrix at the same w and weight, the second time
    for nothing (32^2 from 8 frames, a typed weight: the evaluation 0.39-0.42 -> 0.34-0.36 CPU-s; docs/superres.md,
    "(autocost)").
    The factor is the same bits either way, so are the metrics."""
    if factor is None and small_frames(model):
        factor = closed_form_factor(model, w)
    return {**held_out_frames(model, w, factor, f=f), **all_frames_check(model, w, factor)}


def all_frames_check(model, w: torch.Tensor, factor: torch.Tensor | None = None) -> dict[str, float]:
    """{frames_check_all_ratio, frames_check_all_frames}: the frames check's ratio (superres_check.held_out_frames)
    with every moved frame held out: sum_k ||d_k - P_k f_-k||^2 / sum_k ||d_k - P_k f_bicubic||^2. {} on frames
    over SMALL_FRAME_MAX pixels a side or without a moved frame. factor: the dense normal matrix's Cholesky factor
    at w and the model's weight where the caller has it."""
    if not small_frames(model):
        return {}
    frames = list(range(1, model.q + 1))
    # the dense closed form whatever the weight search's limit: at most 32^2 fine pixels here
    answer = sum(held_out_residuals(model, w, frames, factor, dense_max=model.n))
    bicubic = sum(bicubic_residuals(model, w, frames))
    return {"frames_check_all_ratio": answer / bicubic if bicubic > 0 else math.nan,
            "frames_check_all_frames": float(len(frames))}


def caution(metrics: dict[str, float]) -> list[str]:
    """The warning where frames_check_all_ratio is at or above CAUTION_RATIO (NaN too); [] otherwise."""
    ratio = metrics.get("frames_check_all_ratio")
    if ratio is None or ratio < CAUTION_RATIO:
        return []
    return [f"on frames this small the answer predicts the frames it was not fitted on only {1 / ratio:.3g}x better "
            f"than bicubic upsampling of frame 0 does (frames_check_all_ratio {ratio:.3g}, every moved frame held "
            f"out; caution at {CAUTION_RATIO:g}): the frames may hold no detail beyond bicubic. On such seen sets "
            f"(smooth scenes, 10-16 px frames) 3 of 10 answers were under bicubic (by up to 2.3 dB) and 7 over it "
            f"(+0.7 to +4.0 dB); the frames cannot tell which, so compare with bicubic upsampling of frame 0"]
