"""Super-resolution with unknown affine motion (seed 000, section 4; Chung, Haber and Nagy 2006).

Frames d_j = K I_j(w) f, j = 0..q, where f is the reference on a fine grid, I_j(w) exact cubic-spline
interpolation of f at the affinely moved fine cell centres (linear in f, nonlinear in w), K k x k average
pooling. Frame 0 is registered by convention (I_0 = identity), so w has 6q entries. The stacked operator

    A(w) f = [ sqrt(hd) K I_j(w) f  (j = 0..q) ;  lambda_f sqrt(hf) L f ],   b = [ sqrt(hd) d ; 0 ],

with L the forward differences divided by h, is matrix-free with an exact adjoint; ||A(w) f - b||^2 is the
paper's (4.1). Data: the paper's hands case, a synthetic phantom (no inverse crime), or any image file.
"""
from __future__ import annotations

import difflib
import functools
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from ..config import option_node
from ..errors import UserError, check_bool, check_choice, check_float, check_int, check_numbers, check_truth_varies
from ..imaging.grid import Grid
from ..imaging.spline import EXTENSIONS
from ..imaging.io import (
    FRAMES_FORMS,
    ARRAY_SUFFIXES,
    IMAGE_SUFFIXES,
    fair_data_dir,
    frame_files,
    full_scale,
    jpeg_dc_share,
    mixed_jpeg_warning, palette_warning,
    from_fair_layout,
    luminance,
    luminance_weights,
    read_frames,
    read_gain,
    read_image,
    read_motion,
    read_truth,
    resolve_data_path,
    write_png16,
)
from ..imaging.hot_pixels import fill_hot_pixels, find_hot_pixels, mosaic_share
from ..imaging.synthetic import block_sample, spline_frames, textured_phantom
from ..imaging.transforms import affine, affine_about
from ..linalg.differences import pool
from ..metrics import psnr, ssim, truth_scale
from ..optim.parameter_choice import check_weight, curve_figure, noise_std_images
from ..plots import convergence, image_grid
from ..record import FROM_PREFIX, LEARNED_LAM, weight_setting
from ..registration.superres_check import bicubic_upsample, unsampled_phase_warning
from ..registration.superres_cv import CVSettings
from ..registration.superres_model import OUTSIDE, SuperResModel
from ..registration.superres_model_choice import choice_line, choose_motion_model
from ..registration.superres_motion import (AREA_PLAUSIBLE, MOTION_MODELS, MotionModel, area_scales,
                                            motion_range_warning)
from ..registration.superres_small import frames_checks
from ..registration.superres_small import caution as small_frames_caution
from ..registration.superres_weight import RechooseSettings, floor_gamma, frame_weight_settings
from ..registry import register_problem
from ..solve_result import SolveResult
from .base import Problem

HANDS_OMEGA = (0.0, 20.0, 0.0, 25.0)
# True motions of the paper's frames 1-3 (notes section 3: getRandomAffine seeds 2, 3, 4; rotation and
# scaling about (10, 12.5), the drawn translation never applied). Rows: A11, A12, A21, A22, b1, b2.
HANDS_MOTIONS = (
    (1.00144, -0.40129, 0.46135, 0.87108, 5.00179, -3.00202),
    (1.11308, -0.27131, 0.25883, 1.16672, 2.26050, -4.67236),
    (0.93041, -0.78968, 0.89132, 0.82431, 10.5669, -6.71718),
)
MOTION_KINDS = ("auto", "paper", "random")
DATA_WORDS = ("synthetic", "hands", "frames")  # problem.data's words; anything else is an image file's path
CHANNELS = ("auto", "luminance")  # problem.channels (configs/problem/superres.yaml)
GAIN_ANCHORS = ("frame0", "mean")  # problem.gain_anchor (configs/problem/superres.yaml)
# frames_check_ratio (registration/superres_check.py) at which the run warns: the answer's held-out prediction
# error as large as bicubic's, i.e. no better than the image a user has without regrun
FRAMES_CHECK_WARN = 1.0
# Your frames with problem.gain=false: their exposure likely varies, so the run solves again with gains
# (problem.gain_again) or warns, where the frames' mean brightness against the answer's prediction varies over the
# frames by this standard deviation or more (exposure_std) ... Chosen on 62 dev sets (srgain2): gain-free sets
# 0.0000-0.0040 (the largest three misregistered by 1.5-2.3 px, or a PET slice; chessboards 0.0003-0.0008), gains of
# +-1% 0.0053-0.0061 (gain=true -0.24 to +0.63 dB), of +-1.5-3% 0.0068-0.0151 (-0.17 to +2.3 dB; GX's +-3% set 0.0070,
# +1.25 dB): between the two. docs/superres.md, "Small exposure gains on your frames: which statistic? (srgain2)".
EXPOSURE_STD = 0.0065
# ... or where the moved frames' least-squares brightness spans this share or more (exposure_moved_range): what sees
# gains the motion's scale takes up from the frames' means (an object on a dark background: GX's +-5% phantom, std
# 0.0033, range 0.0281, +0.87 dB). Gain-free sets 0.0002-0.0208 (the largest a 20^2 crop misregistered by 1.5 px),
# gains of +-5% or more 0.028-0.17. Frame 0 is left out: its prediction alone is not resampled, and on sharp
# chessboards its brightness alone differs (srwide's photo_chess 1.6% from frame 0 with the moved ones within 0.1%;
# a 32^2 checkerboard's 3.1%, where the rule before, max_j |g_j / g_0 - 1| >= 0.02, solved again and lost 0.99 dB).
EXPOSURE_MOVED = 0.025
# On JPEG frames both bars rise by these times frames_jpeg_dc_share (io.jpeg_dc_share: the share of the frames'
# mean that the quantised block means move it by): on dark scenes that error read as an exposure change and the
# re-solve with gains lost 0.17-1.26 dB. Chosen on 20 dev JPEG sets (srjpeggain): dark ones share 0.0009-0.0104, where
# gain=true lost even with true gains of +-1.5-5% (0.00-1.11 dB) and these stop 14 of their 15 re-solves; bright
# ones 0.0002-0.0008 with gains of +-1.5-3% still fire (texture's +-1.5%: 0.00718 against a bar of 0.00707;
# moon's +-3% +0.45 dB). The moved range's factor clears hubble q70's 0.1655 at share 0.0094 (docs/superres.md).
JPEG_STD_FACTOR = 2.5
JPEG_MOVED_FACTOR = 16.0


def _affine_axes(w: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """imaging.transforms.affine's two components apart, each by its own operations in its order (the same bits)."""
    return (w[..., 0] * x1 + w[..., 1] * x2 + w[..., 4], w[..., 2] * x1 + w[..., 3] * x2 + w[..., 5])


def _unknown_data(data: str) -> UserError:
    """problem.data that is neither one of its words nor an image file: a mistyped word (`problem.data=frame`) was
    read as an image path, "image file not found: frame"."""
    near = difflib.get_close_matches(data.lower(), DATA_WORDS, n=1)
    return UserError(f"problem.data={data!r}: image file not found, and it is none of the words "
                     f"{', '.join(DATA_WORDS)}" + (f"; did you mean problem.data={near[0]}?" if near else ""))


# The largest super-resolution measured here (docs/superres.md, "Scaling": whole process, one thread, lambda_f fixed
# at 0.1): a 512x512 image from 8 frames, 51.6 CPU-s and 2060 MB peak. Larger runs are told so before they start:
# 8 frames of 1024x1024 ran 106 s (53 CPU-s, 3.1 GB resident) without leaving the pre-registration or a word of
# what it would cost (newuser12)
MEASURED_IMAGE_PX, MEASURED_FRAMES, MEASURED_CPU_S, MEASURED_PEAK_MB = 512 * 512, 8, 51.6, 2060


def beyond_measured_line(count: int, width: int, height: int, m1: int, m2: int) -> str:
    """A line before the run where the image is larger than any measured here; '' otherwise."""
    if m1 * m2 <= MEASURED_IMAGE_PX:
        return ""
    times = m1 * m2 / MEASURED_IMAGE_PX
    return (f"regrun: {count} frames of {width}x{height} -> a {m1}x{m2} image: {times:.3g}x the pixels of the largest "
            f"run measured here (a 512x512 image from {MEASURED_FRAMES} frames: {MEASURED_CPU_S:g} CPU-s, "
            f"{MEASURED_PEAK_MB / 1000:.1f} GB peak at a fixed lambda_f; docs/superres.md \"Scaling\"), so expect "
            "more time and memory than that, by how much not measured; a crop of the frames runs faster")


def frames_layout_warning(name: str, fair_shape) -> str:
    """Where an array of frames read as (frames, rows, columns) could as well be (rows, columns, frames), the
    layout numpy.dstack and MATLAB write: the reading and the way out. The layout check refuses frames last only
    where the last axis is 4x under both others, which 8 frames of 24x36 are not: they ran as 24 frames of 36x8
    and ended diverged, blamed on "the motion or lambda_f" (newuser10-12), and a rule on the values could not tell
    the two apart on held-out data (newuser11), so this names the reading instead of refusing it. Said where the
    columns are fewer than both the rows and the frames; '' otherwise."""
    count, width, height = (int(n) for n in fair_shape)  # FAIR's layout: (frames, columns, rows)
    if not (width < height and width < count):
        return ""
    return (f"{name}, shape ({count}, {height}, {width}), was read as (frames, rows, columns): {count} frames of "
            f"{width}x{height} pixels (width x height); if it holds {width} frames of {height}x{count}, stacked last "
            "as numpy.dstack and MATLAB do, save numpy.moveaxis(frames, -1, 0)")


@register_problem("superres")
class SuperRes(Problem):
    offers = frozenset({"separable", "superres"})

    def __init__(self, cfg, ctx, announce: bool = True):
        super().__init__(cfg, ctx)
        # a candidate motion model's copy (with_changes) reads the same frames again: its data lines were said a
        # second and third time, after the run's evaluation (newuser18)
        self.announce = announce
        data = str(cfg.data)
        frames = cfg.frames
        if frames is not None and not isinstance(frames, str):
            # the old spelling of the count (problem.frames=4), kept as an alias: one key, one meaning
            self.say(f"regrun: WARNING: problem.frames={frames} as a count is deprecated; write "
                     f"problem.n_frames={frames} (problem.frames is the path of your frames)", err=True)
            count, frames = frames, None
        else:
            count = cfg.n_frames
        if data == "frames":
            if frames is None:
                raise UserError(f"problem.data=frames needs problem.frames=PATH ({FRAMES_FORMS})")
        elif frames is not None:
            if data not in DATA_WORDS and not resolve_data_path(data).exists():
                # `problem.data=frame problem.frames=DIR` was told to "add problem.data=frames" (newuser8)
                raise _unknown_data(data)
            raise UserError(f"problem.frames={frames!r} is a path: add problem.data=frames to read your frames "
                            "(problem.n_frames is the number of frames to generate)")
        else:
            self.n_frames = check_int("problem.n_frames", count, 2)
        self.factor = check_int("problem.factor", cfg.factor, 1)
        # lambda_f: None is auto (chosen by the solver from the data); bounds far beyond any useful value, where
        # lambda_f^2 or the noise would overflow or swamp the data
        # a number, auto (None: chosen from the frames) or from:RUN (the weight another super-resolution run
        # learned or chose from its frames, carried to these)
        self.lam_from = None
        if isinstance(cfg.lambda_f, str) and cfg.lambda_f.startswith(FROM_PREFIX):
            self.lam, self.lam_from = weight_setting("problem.lambda_f", cfg.lambda_f,
                                                     names=(LEARNED_LAM, "lam_chosen"), problem="superres")
        else:
            self.lam = check_weight("problem.lambda_f", cfg.lambda_f)
        if self.lam is not None:
            check_float("problem.lambda_f", self.lam, 0.0, maximum=1e6)
        self.weight_settings = frame_weight_settings(cfg)  # checked even at a fixed weight
        self.weight_warning = tiny_weight_warning(self.lam, self.weight_settings.lo)
        if self.weight_warning:  # said before the solve it spoils, and with the warnings at the end
            self.say_once(self.weight_warning)
        # a candidate motion model's copy is given the answer's weight: its search settings are the run's, not typed
        self.unused_warning = unused_search_warning(cfg, self.lam, self.lam_from) if announce else ""
        if self.unused_warning:
            self.say_once(self.unused_warning)
        floor_gamma(cfg)
        self.rechoose = RechooseSettings.from_config(cfg)
        self.weight_cv = CVSettings.from_config(cfg)  # auto: the cross-validation's walk at the final motion
        self.weight_cv_metrics = {}  # its metrics (superres_cv.frames_cv)
        # auto: GCV's one-standard-error walk at the final motion (superres_se), its bar; None: off
        self.weight_se_t = (None if cfg.lam_se_t is None
                            else check_float("problem.lam_se_t", cfg.lam_se_t, 0.0, maximum=1e3))
        self.frames_check = check_bool("problem.frames_check", cfg.frames_check)
        # auto, colour frames: the chroma's weight over the luminance's (solve_channels)
        self.lam_chroma_factor = check_float("problem.lam_chroma_factor", cfg.lam_chroma_factor, 1.0, maximum=100.0)
        self.lam_chroma_share_max = check_float("problem.lam_chroma_share_max", cfg.lam_chroma_share_max, 0.0,
                                                allow_inf=True)
        # auto, colour frames at or above that share: the rule reads the channels' misfit, not the luminance's
        self.lam_channels_saturated = check_bool("problem.lam_channels_saturated", cfg.lam_channels_saturated)
        self.weight_quasi_optimal = check_bool("problem.lam_quasi_optimal", cfg.lam_quasi_optimal)
        self.weight_quasi_optimal_small = check_bool("problem.lam_quasi_optimal_small", cfg.lam_quasi_optimal_small)
        self.weight_stay_climb = check_bool("problem.lam_split_stay_climb", cfg.lam_split_stay_climb)
        self.weight_climb_below_noise = check_bool("problem.lam_quasi_optimal_below_noise",
                                                   cfg.lam_quasi_optimal_below_noise)
        self.lam_probes_cg = check_int("problem.lam_probes_cg", cfg.lam_probes_cg, 1)
        self.weight_choice = None  # set by registration.superres_weight.settle_weight (the weight in use)
        self.weight_searches = []  # every search of lambda_f=auto, in order (settle_weight, then rechoose)
        self.weight_falls = []  # after each search again: the share by which the rule's value fell there
        self.weight_moves = []  # at each solver run's end: fine pixels the motion moved since the last search
        self.weight_search_motion = None  # the motion of the last search
        self.weight_runs = 1  # solver runs (superres_weight.solve_rounds)
        self.weight_restarts = []  # each run again's two starts: (1 if the first start's run was kept, objectives)
        self.weight_image_solves = 0  # image solves of every search and weight in use (superres_weight.Evaluator)
        self.weight_last_search = None  # (motion, evaluate) of the last search, for superres_weight.recheck
        self.weight_final_factor = None  # (motion, weight, factor) from superres_weight.recheck, for the check
        check_choice("problem.outside", cfg.outside, OUTSIDE)
        check_choice("problem.motion_model", cfg.motion_model, MOTION_MODELS + ("auto",))
        # auto: the affine answer first, then the model chosen from the frames (solve_again)
        self.motion_auto = cfg.motion_model == "auto"
        self.motion_z = check_float("problem.motion_model_z", cfg.motion_model_z, 0.0, strict=True)
        self.motion_auto_max = check_int("problem.motion_model_auto_max", cfg.motion_model_auto_max, 0)
        ratio = cfg.motion_model_ratio  # superres_model_choice.pick's; None: z alone decides
        self.motion_ratio = (None if ratio is None
                             else check_float("problem.motion_model_ratio", ratio, 1.0, strict=True))
        shift = cfg.motion_model_shift_ratio  # superres_model_choice.pick's; None: off
        self.motion_shift_ratio = (None if shift is None
                                   else check_float("problem.motion_model_shift_ratio", shift, 1.0, strict=True))
        gap = cfg.motion_model_gap_ratio  # superres_model_choice.gap_dropped's; None: off
        self.motion_gap_ratio = (None if gap is None
                                 else check_float("problem.motion_model_gap_ratio", gap, 0.0, strict=True))
        check_choice("problem.motion_model_noise", cfg.motion_model_noise,
                     ("images", "smaller", "fit", "larger", "residual"))
        self.motion_noise = cfg.motion_model_noise
        factor = cfg.motion_model_check_factor  # keep_first's; None: the smaller model's answer always stands
        self.motion_check_factor = (None if factor is None
                                    else check_float("problem.motion_model_check_factor", factor, 1.0, allow_inf=True))
        check_choice("problem.gain", cfg.gain, (True, False))
        check_choice("problem.gain_again", cfg.gain_again, (True, False))
        check_choice("problem.gain_anchor", cfg.gain_anchor, GAIN_ANCHORS)
        check_choice("problem.channels", cfg.channels, CHANNELS)
        self.colour = None  # (frames, channels, m1, m2) of a colour burst (problem.channels=auto)
        self.levels_warning = ""  # a user's frames of few distinct values (few_levels_warning)
        self.border_warning = ""  # a border of one value in every frame (fixed_border_warning)
        self.overlay_warning = ""  # a patch at an edge of one value in every frame (fixed_overlay_warning)
        self.hot_warning = ""  # a camera's hot or dead pixels named, problem.hot_pixels=keep (_hot_pixels)
        self.hot_pixels = None  # their (row, column) as stored, (n, 2), where any were found
        self.mosaic_warning = ""  # grey frames holding a colour filter array's 2x2 pattern (hot_pixels.mosaic_share)
        self.repeat_warning = ""  # frames that are the same pixels (repeated_frames_warning)
        self.clip_warning = ""  # a frame clipped far more than the others (clipped_frames_warning)
        self.layout_warning = ""  # an array file whose shape reads as frames last too (frames_layout_warning)
        self.truth_warning = ""  # a user's truth in other units than the frames (metrics.truth_scale)
        self.truth_scale_off: float | None = None  # ... and the answer's scale against it, for the figures
        self.truth_rescaled: float | None = None  # a truth file of another bit depth, read at the frames' (truth_rescale)
        self.truth_colour = None  # (channels, m1, m2)
        self.frame_names = None  # a frames folder's file names in the order used (recorded as /data/frame_files)
        self.jpeg_dc = 0.0  # JPEG frames: their quantised block means' share of the frames' mean (jpeg_dc_share)
        self.gain_true = None  # (q,) known gains of frames 1.. relative to frame 0 (problem.true_motion's "gain")
        self.outside = str(cfg.outside)
        check_choice("problem.extension", cfg.extension, EXTENSIONS)
        self.extension = str(cfg.extension)
        self.outside_rounds = check_int("problem.outside_rounds", cfg.outside_rounds, 0)
        self.motion_weight = check_float("problem.motion_weight", cfg.motion_weight, 0.0, strict=True, maximum=1.0)
        check_choice("problem.reanchor", cfg.reanchor, (True, False))
        self.reanchor = bool(cfg.reanchor)  # varpro_cg: frame 0 anchored again after LM (superres_anchor.py)
        check_choice("problem.common_from_start", cfg.common_from_start, (True, False))
        self.common_from_start = bool(cfg.common_from_start)  # varpro_cg, with reanchor: superres_anchor.py
        self.noise = check_float("problem.noise", cfg.noise, 0.0, maximum=1e3)
        if data == "frames" and self.noise > 0:  # the key simulates noise: on a user's frames it spoiled them
            raise UserError(  # without a word (problem.noise=2 meant as 2%: 40.7 -> 20.8 dB, newuser13)
                f"problem.noise={cfg.noise} would add simulated Gaussian noise, {cfg.noise} times the frames' "
                "standard deviation, to your frames (it is for generated ones); your frames' noise is estimated "
                "from them, or give its level as problem.lam_noise=SIGMA in the frames' units")
        # a fraction typed as a percentage (2 for 2%) buried generated frames in noise without a word (newuser13)
        self.noise_warning = (f"problem.noise={cfg.noise} is the noise's standard deviation relative to the "
                              f"frames' (0.02 is 2%): the frames' noise is {cfg.noise} times the scene's spread"
                              if self.noise >= 1 else "")
        check_choice("problem.motion.kind", cfg.motion.kind, MOTION_KINDS)
        self.final_iters = check_int("problem.final_cg_iters", cfg.final_cg_iters, 1)
        self.final_rtol = check_float("problem.final_cg_rtol", cfg.final_cg_rtol, 0.0)
        self.final_pcg_rtol = check_float("problem.final_pcg_rtol", cfg.final_pcg_rtol, 0.0)
        self.lam_rtol = check_float("problem.lam_cg_rtol", cfg.lam_cg_rtol, 0.0, maximum=1e-3)
        size = cfg.size
        self.gen = ctx.generator(int(cfg.data_seed))
        if data == "frames":
            truth, frames = self._user_frames(cfg)
        elif data == "synthetic":
            size = check_int("problem.size", 32 if size is None else size, 4)
            self._check_size(size)
            self.label = f"synthetic {size}x{size}"
            self.omega = (0.0, 1.0, 0.0, 1.0) if cfg.omega is None else check_numbers("problem.omega", cfg.omega, 4)
            self.fine = Grid(self.omega, (size, size))
            self.w_true = self._motions(cfg.motion, paper_ok=False)
            truth, frames = self._synthetic_frames()
        else:
            path = (fair_data_dir(str(cfg.data_dir)) / "hands-R.jpg") if data == "hands" else resolve_data_path(data)
            if data != "hands" and not path.exists():
                raise _unknown_data(data)
            size = check_int("problem.size", 20 if size is None else size, 4)
            self._check_size(size)
            self.label = f"{'hands' if data == 'hands' else Path(data).name} {size}x{size}"
            default_omega = HANDS_OMEGA if data == "hands" else (0.0, float(size), 0.0, float(size))
            self.omega = default_omega if cfg.omega is None else check_numbers("problem.omega", cfg.omega, 4)
            self.fine = Grid(self.omega, (size, size))
            truth = torch.as_tensor(read_image(path, resize=size), dtype=torch.float64, device="cpu")
            self.w_true = self._motions(cfg.motion, paper_ok=(data == "hands"))
            # as the paper: the model generates its own data (an inverse crime, kept for the reproduction)
            frames = spline_frames(truth, self.fine, self.w_true, self.factor)
        if self.noise > 0:
            frames = frames + self.noise * frames.std() * torch.randn(frames.shape, generator=self.gen,
                                                                       dtype=torch.float64)
        self.truth = None if truth is None else ctx.tensor(truth)
        self.w_true = None if self.w_true is None else ctx.tensor(self.w_true)
        self.level = frames_level(cfg, frames)
        if self.level:  # the model's frames: the user's less their level (the answer gets it back: evaluate)
            frames = frames - self.level
        self.model = SuperResModel(ctx.tensor(frames), self.fine, self.factor, 0.0 if self.lam is None else self.lam,
                                   self.outside, gain=bool(cfg.gain), extension=self.extension,
                                   gain_anchor=str(cfg.gain_anchor))
        # problem.lam_gcv_gamma_small reads the frames' size
        self.weight_settings = frame_weight_settings(cfg, max(self.model.coarse.m))
        self.weight_floor_gamma = floor_gamma(cfg, max(self.model.coarse.m))  # and its second search's gamma
        self.motion = MotionModel("affine" if self.motion_auto else str(cfg.motion_model), self.fine.centre,
                                  self.model.q, gain=bool(cfg.gain))
        if self.colour is not None:
            self.colour = ctx.tensor(self.colour)
            self.truth_colour = None if self.truth_colour is None else ctx.tensor(self.truth_colour)
        saturated_move = (None if cfg.lam_rechoose_move_saturated is None else check_float(
            "problem.lam_rechoose_move_saturated", cfg.lam_rechoose_move_saturated, 0.0, maximum=1e3))
        if (saturated_move is not None and self.colour is not None and self.lam is None and self.lam_from is None
                and self.chroma_share() >= self.lam_chroma_share_max):
            # the first search, at the pre-registered motion, left GH's wheel s9651 high though the solver moved it
            # 0.14 px (searched again 0.65 -> 0.45, +1.18 dB); opt-in, as held-out GW's coffee lost 0.58 dB by it
            # (docs/superres.md, "The weight on saturated colour frames (srwheel)")
            self.rechoose = replace(self.rechoose, move=saturated_move)
        if self.gain_true is not None:
            self.gain_true = ctx.tensor(self.gain_true)

    def _user_frames(self, cfg):
        """The user's frames (frame 0 the reference pose), on a fine grid `factor` times finer than the
        frames; omega defaults to fine-pixel units, [0, factor m1] x [0, factor m2]. The truth (the fine
        image) and the true motion are optional and only used to judge the result. Colour frames
        (problem.channels=auto): the motion (and gains) are estimated on their luminance, which is the model's
        frames, and every channel's image is solved at that motion (evaluate)."""
        frames = torch.as_tensor(read_frames(cfg.frames, colour=cfg.channels == "auto", key=str(cfg.frames_key)),
                                 dtype=torch.float64)
        total = frames.shape[0]
        if cfg.n_frames is not None:
            # ux7: a count typed beside the user's frames is honoured (the first N, frame 0 stays the reference),
            # as problem.views=N picks N of a user's sinogram's views; it was ignored without a word
            count = check_int("problem.n_frames", cfg.n_frames, 2)
            if count > total:
                raise UserError(f"problem.n_frames={count} but {Path(str(cfg.frames)).name} holds only {total} "
                                f"frames: give at most {total}, or problem.n_frames=null for every frame")
            frames = frames[:count]
            self.say(f"regrun: problem.n_frames={count}: the first {count} of the {total} frames in "
                     f"{Path(str(cfg.frames)).name}")
        folder = resolve_data_path(cfg.frames)
        key_said = unused_frames_key_warning(cfg.frames_key, folder)
        if key_said:
            self.unused_warning = "; ".join(w for w in (self.unused_warning, key_said) if w)
            self.say_once(key_said)
        if folder.is_dir():  # the order used, in the results file; said where by name alone it would differ
            every = [f.name for f in frame_files(folder)]
            names = self.frame_names = every[:frames.shape[0]]
            # a frame saved as .webp or .heic beside the others was left out without a word (newuser10)
            other = sorted(f.name for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")
                           and f.name not in every)
            if other:
                shown = other if len(other) <= 6 else [*other[:5], f"and {len(other) - 5} more"]
                self.say(f"regrun: not read as frames (not {', '.join(IMAGE_SUFFIXES)}): "
                         f"{', '.join(shown)} in {folder.name}")
            if every != sorted(every):
                shown = names if len(names) <= 6 else [*names[:3], "...", *names[-2:]]
                self.say(f"regrun: frames in the order of the numbers in their names: "
                         f"{', '.join(shown)} (/data/frame_files)")
        elif folder.suffix.lower() in ARRAY_SUFFIXES and frames.dim() == 3:
            self.layout_warning = frames_layout_warning(folder.name, frames.shape)
            if self.layout_warning:  # said now too: it came only after the solve, 22 s on 8 small frames (newuser18)
                self.say_once(self.layout_warning)
        frames = self._hot_pixels(frames, cfg)
        # on the frames as stored: the alternating sums' signs and order are the file's rows and columns
        mosaic = mosaic_share(np.stack([from_fair_layout(f) for f in frames.numpy()])) if frames.dim() == 3 else None
        if mosaic is not None:
            self.mosaic_warning = (
                f"every frame holds a 2x2 pattern fixed to the sensor: its rows and its columns alternate in level "
                f"({mosaic[0]:+.3f} and {mosaic[1]:+.3f} of the mean, in every frame), as a colour filter array's "
                f"sites do: a raw Bayer mosaic read as one grey channel? regrun solves it as a grey scene, each "
                f"colour's level drawn as detail; demosaic the frames to RGB first (or bin each 2x2 cell into one RGB "
                f"pixel)")
            self.say_once(self.mosaic_warning)
        if frames.dim() == 4:  # (frames, channels, m1, m2)
            self.colour = frames
            frames = torch.as_tensor(luminance(frames.numpy()), dtype=torch.float64)
        self.n_frames = frames.shape[0]
        if folder.is_dir():
            self.jpeg_dc = jpeg_dc_share(frame_files(folder)[:self.n_frames], frames.numpy())
            for said in (mixed_jpeg_warning(frame_files(folder)[:self.n_frames]),
                         palette_warning(frame_files(folder)[:self.n_frames])):
                if said:
                    self.say_once(said)
        elif folder.suffix.lower() in IMAGE_SUFFIXES and self.colour is not None:
            said = palette_warning([folder])  # an animated GIF's pages, each snapped to its palette (newuser26)
            if said:
                self.say_once(said)
        flat = [k for k in range(self.n_frames) if float(frames[k].max()) == float(frames[k].min())]
        if flat:  # no edge to register and nothing to super-resolve; the motion would be undetermined
            # a folder's frame by its file's name, and what to do: "frame 3 is constant" left the user to count
            # files in the order regrun reads them (newuser15)
            name = f" ({self.frame_names[flat[0]]})" if self.frame_names else ""
            more = (f" (and {len(flat) - 1} more: {', '.join(map(str, flat[1:4]))}{', ...' if len(flat) > 4 else ''})"
                    if len(flat) > 1 else "")
            raise UserError(f"problem.frames={cfg.frames}: frame {flat[0]}{name} is constant (every pixel "
                            f"{float(frames[flat[0]].flatten()[0]):g}){more}; frames must show the scene: leave a "
                            "blank or saturated frame out")
        two_levels(frames if self.colour is None else self.colour, str(cfg.frames))
        self.levels_warning = few_levels_warning(frames if self.colour is None else self.colour)
        self.border_warning = fixed_border_warning(frames)
        self.overlay_warning = fixed_overlay_warning(frames)
        if self.overlay_warning:  # said now too: a 128^2 burst's run takes minutes, and the crop is the user's
            self.say_once(self.overlay_warning)
        self.repeat_warning = repeated_frames_warning(frames, self.frame_names)
        self.clip_warning = clipped_frames_warning(frames, self.frame_names)
        m1, m2 = (self.factor * s for s in frames.shape[1:])
        if cfg.size is not None and cfg.size != m1:
            raise UserError(f"problem.size={cfg.size} does not match the frames: {frames.shape[1]} pixels times "
                            f"problem.factor={self.factor} is {m1} (leave problem.size unset with data=frames)")
        size_line = beyond_measured_line(self.n_frames, frames.shape[1], frames.shape[2], m1, m2)
        if size_line:
            self.say(size_line)
        # the frames' size beside the result's: "8 frames, 20x20" read as eight 20x20 frames
        self.label = (f"{Path(str(cfg.frames)).name}: {self.n_frames} frames of {frames.shape[1]}x{frames.shape[2]}"
                      f" -> {m1}x{m2}") + (
            f", {self.colour.shape[1]} channels" if self.colour is not None else "")
        self.omega = ((0.0, float(m1), 0.0, float(m2)) if cfg.omega is None
                      else check_numbers("problem.omega", cfg.omega, 4))
        self.fine = Grid(self.omega, (m1, m2))
        truth = None
        if cfg.get("truth"):
            truth = torch.as_tensor(read_truth(cfg.truth, colour=self.colour is not None), dtype=torch.float64)
            if tuple(truth.shape[-2:]) != (m1, m2):
                # a truth 2x the frames with problem.factor=3 typed: the factor that fits it, not the sizes alone
                # (newuser23)
                k = truth.shape[-2] // frames.shape[1]
                fits = (f": the truth is {k} times the frames a side, problem.factor={k}" if k >= 2 and
                        tuple(truth.shape[-2:]) == (k * frames.shape[1], k * frames.shape[2]) else "")
                raise UserError(f"problem.truth is {truth.shape[-2]}x{truth.shape[-1]} pixels (width x height); "
                                f"the frames at problem.factor={self.factor} give {m1}x{m2}{fits}")
            if self.colour is not None:
                if truth.dim() != 3 or truth.shape[0] != self.colour.shape[1]:
                    raise UserError(f"problem.truth={cfg.truth} has {1 if truth.dim() == 2 else truth.shape[0]} "
                                    f"channel(s), the frames {self.colour.shape[1]}: give a truth with the frames' "
                                    "channels, or problem.channels=luminance")
                self.truth_colour = truth
                truth = torch.as_tensor(luminance(truth.numpy()), dtype=torch.float64)  # the solvers' history
            # after its size and channels, which name the likelier mistake first
            check_truth_varies(f"problem.truth={cfg.truth}", self.truth_colour if self.colour is not None else truth)
            found = truth_rescale(cfg.frames, frames, cfg.truth, truth, self.truth_colour, (m1, m2))
            if found is not None:
                self.truth_rescaled, words = found
                truth = truth * self.truth_rescaled
                if self.truth_colour is not None:
                    self.truth_colour = self.truth_colour * self.truth_rescaled
                self.say(f"regrun: problem.truth={Path(str(cfg.truth)).name} holds {words}: the truth read at the "
                         f"frames' scale, times {self.truth_rescaled:g} (/metrics/truth_rescaled)")
        self.w_true = None
        if cfg.get("true_motion"):
            w = torch.as_tensor(read_motion(cfg.true_motion), dtype=torch.float64).reshape(-1)
            if w.numel() == 6 * (total - 1):  # the motion of every frame in the file: that of the first n_frames
                w = w[:6 * (self.n_frames - 1)]
            if w.numel() != 6 * (self.n_frames - 1):
                raise UserError(f"problem.true_motion has {w.numel()} values; {self.n_frames} frames need "
                                f"{6 * (self.n_frames - 1)} (6 per frame after frame 0)")
            self.w_true = w
            g = read_gain(cfg.true_motion)
            if g is not None:
                g = g[:self.n_frames] if g.size == total else g
                if g.size != self.n_frames or g[0] == 0:
                    raise UserError(f"problem.true_motion's gain has {g.size} values (first {g[0]:g}); "
                                    f"{self.n_frames} frames need {self.n_frames}, frame 0's nonzero")
                self.gain_true = torch.as_tensor(g[1:] / g[0], dtype=torch.float64)
        return truth, frames

    def _check_size(self, size: int) -> None:
        if size % self.factor:
            raise UserError(f"problem.size={size} must be a multiple of problem.factor={self.factor}")

    def _motions(self, m, paper_ok: bool) -> torch.Tensor:
        """6q true parameters: the paper's for the hands with 4 frames (kind auto or paper), else random
        rotations and scalings about the domain centre plus shifts within the configured ranges."""
        q = self.n_frames - 1
        if m.kind == "paper" or (m.kind == "auto" and paper_ok and q == len(HANDS_MOTIONS)):
            if not paper_ok or q != len(HANDS_MOTIONS):
                raise UserError("problem.motion.kind=paper needs problem.data=hands and problem.n_frames=4")
            return torch.tensor(HANDS_MOTIONS, dtype=torch.float64, device="cpu").reshape(-1)
        angle = check_float("problem.motion.angle", m.angle, 0.0)
        lo, hi = (float(v) for v in m.scale)
        if not 0 < lo <= hi:
            raise UserError(f"problem.motion.scale={list(m.scale)} must be [lo, hi] with 0 < lo <= hi")
        shift = check_float("problem.motion.shift", m.shift, 0.0)
        width = (self.omega[1] - self.omega[0], self.omega[3] - self.omega[2])
        rand = lambda *s: torch.rand(*s, generator=self.gen, dtype=torch.float64)  # noqa: E731
        out = []
        for _ in range(q):
            u = rand(5)
            a = angle * (2 * u[0] - 1)
            sc = (lo + (hi - lo) * float(u[1]), lo + (hi - lo) * float(u[2]))
            sh = (shift * width[0] * (2 * float(u[3]) - 1), shift * width[1] * (2 * float(u[4]) - 1))
            out.append(affine_about(float(a), sc, sh, self.fine.centre, device="cpu"))
        return torch.cat(out)

    def _synthetic_frames(self):
        """A continuous phantom, cell-averaged: the truth on the fine grid, each frame over the moved fine
        cells then pooled, so no spline model reproduces the frames exactly."""
        lo1, hi1, lo2, hi2 = self.omega
        scale = torch.tensor([hi1 - lo1, hi2 - lo2], dtype=torch.float64, device="cpu")
        origin = torch.tensor([lo1, lo2], dtype=torch.float64, device="cpu")
        f_unit, _ = textured_phantom(self.gen)
        f = lambda x: 100.0 * f_unit((x - origin) / scale)  # noqa: E731
        truth = block_sample(f, self.fine)
        moved = [block_sample(f, self.fine, pullback=lambda z, j=j: affine(self.w_true[6 * j:6 * j + 6], z))
                 for j in range(self.n_frames - 1)]
        return truth, pool(torch.stack([truth, *moved]), self.factor)

    # --- judging a solution -------------------------------------------------------------------------
    def motion_error(self, w: torch.Tensor) -> float:
        """RMS distance between estimated and true moved fine cell centres, over all frames (domain units);
        NaN when the true motion is unknown (a user's frames without problem.true_motion)."""
        if self.w_true is None:
            return math.nan
        # LM asks for it at every iteration (its history's column): the true points (q, npts) per axis are made once,
        # and the estimate's per axis, not stacked (q, npts, 2): the same sums in the same order as
        # (warp_points(w) - true).pow(2).sum(-1).mean(), so the same bits, for ~45% less time (256^2, 16 frames:
        # 0.56 CPU-s a run; docs/superres.md, "srfast3")
        kept = getattr(self, "_true_points", None)
        if kept is None or kept[0] is not self.w_true or kept[1] is not self.model.x:
            x1, x2 = self.model.x[:, 0].contiguous(), self.model.x[:, 1].contiguous()
            t = self.w_true.reshape(self.model.q, 1, 6)
            self._true_points = kept = (self.w_true, self.model.x, x1, x2, *_affine_axes(t, x1, x2))
        x1, x2, t1, t2 = kept[2:]
        e1, e2 = _affine_axes(self.model.split(w.detach())[0].reshape(self.model.q, 1, 6), x1, x2)
        e1 -= t1
        e2 -= t2
        return float((e1.pow_(2) + e2.pow_(2)).mean().sqrt())

    def rel_error(self, f: torch.Tensor) -> float:
        """||f - truth|| / ||truth||; NaN without a truth."""
        if self.truth is None:
            return math.nan
        return float((f.reshape(-1) + self.level - self.truth.reshape(-1)).norm() / self.truth.norm())

    def frames(self) -> torch.Tensor:
        """The frames as given (the model's plus the level taken off them: frames_level)."""
        return self.model.frames + self.level if self.level else self.model.frames

    def data_rows(self) -> torch.Tensor:
        """The model's data rows (b's first n_data: sqrt(h_d) times the kept pixels) of the frames as given."""
        b = self.model.b[: self.model.n_data]
        return b + self.level * self.model.sqrt_hd * self.model.data_mask().reshape(-1) if self.level else b

    def inputs(self):
        out = {"frames": self.frames().cpu().numpy()}
        if self.colour is not None:
            out["frames_colour"] = self.colour.cpu().numpy()
            if self.truth_colour is not None:
                out["reference_colour"] = self.truth_colour.cpu().numpy()
        if self.gain_true is not None:
            out["gain_true"] = self.gain_true.cpu().numpy()
        if self.truth is not None:
            out["reference"] = self.truth.cpu().numpy()
        if self.w_true is not None:
            out["w_true"] = self.w_true.cpu().numpy()
        if self.frame_names is not None:
            out["frame_files"] = np.array(self.frame_names)
        if self.hot_pixels is not None:
            out["hot_pixels"] = self.hot_pixels
        return out

    def evaluate(self, result: SolveResult):
        w = result.solution["w"]
        # a solver that already solved by preconditioned CG hands its image on as the warm start
        warm = result.solution.get("f") if result.stats.get("linear") == "pcg" else None
        # its bar: final_pcg_rtol (what PSNR can tell; beyond the paper's sizes), else the paper's final_cg_rtol
        rtol = self.final_rtol if warm is None else self.final_pcg_rtol
        # many: the final solve (40-50 PCG iterations at 256^2 from 16 frames), the frames check's refit and the
        # colour channels all solve at this w, more products than GRAM_AFTER: its Gram matrix at the first
        final = self.model.solve(w, self.final_iters, rtol, x0=warm, many=True)
        f_hat = final.x.reshape(self.fine.m)
        est = (f_hat + self.level if self.level else f_hat).cpu().numpy()
        # the final solve's own operator (PCG: the merged stencil the solver's last projection built at this w)
        r = self.model.residual(w, final.x, fixed=warm is not None)
        data_r = r[: self.model.n_data]
        metrics = {
            "objective": float(r @ r),
            # the frames' misfit relative to the frames (data rows only, without the regulariser)
            "data_rel_residual": float(data_r.norm() / self.data_rows().norm()),
            "final_cg_iters": float(final.n_iter),
            "final_cg_rel_residual": final.rel_residual,
        }
        if self.frames_check:  # without the truth: the answer's prediction of unseen frames against bicubic's
            kept, self.weight_final_factor = self.weight_final_factor, None  # used once, then let go (n x n)
            same = kept is not None and kept[1] == self.model.lam and torch.equal(kept[0], w.detach())
            factor = kept[2] if same else None
            # with, on frames of <= 16 px, every moved frame held out: it grades how far the answer beats bicubic there
            metrics.update(frames_checks(self.model, w, factor, f=final.x))
        # which starts the pre-registration weighed and took (superres_start.start_params), and where the solver also
        # ran from a second start, whether that run's answer was kept (superres_weight.second_run)
        metrics.update(getattr(self, "start_taken", {}))
        kept = getattr(self, "second_start_kept", float("nan"))
        if not math.isnan(kept):  # NaN: no second start ran
            metrics["second_start_kept"] = kept
        if getattr(self, "second_start_refused", 0.0) > 0:  # out of the plausible range (plausible_second_start)
            metrics["second_start_refused"] = self.second_start_refused
        if str(self.cfg.data) == "frames":  # the level taken off the frames for the solve (frames_level; 0: none)
            metrics["frames_level"] = self.level
        if self.motion_auto:  # the affine answer's areas: keep_first does not keep an implausible one
            metrics.update(area_scales(self.model, w))
        w_affine = self.model.affine_part(w)
        arrays = {"reconstruction": est, "w": w_affine.cpu().numpy(),
                  "data_residual": (data_r / self.model.sqrt_hd).reshape(self.model.frames.shape).cpu().numpy()}
        if str(self.cfg.data) == "frames":  # the frame the answer fits worst, against the others (frame_misfits)
            metrics.update(frame_misfits(arrays["data_residual"]))
        gains = self.model.gains(w)
        if gains is None and self.cfg.data == "frames":  # an exposure change the model leaves out (problem.gain=false)
            data = self.data_rows()
            pred = data_r + data
            metrics.update(exposure_measures(pred, data, self.model.frames.shape[0]))
            if self.jpeg_dc > 0:  # the exposure check's bars allow for it (exposure_varies)
                metrics["frames_jpeg_dc_share"] = self.jpeg_dc
        if gains is not None:  # every frame's gain, frame 0's (the reference exposure) first
            arrays["gain"] = torch.cat((gains.new_ones(1), gains)).cpu().numpy()
            if self.gain_true is not None:
                metrics["gain_error"] = float((gains - self.gain_true).pow(2).mean().sqrt())
        if self.w_true is not None:
            metrics["motion_error"] = self.motion_error(w)
            metrics["w_error"] = float((w_affine - self.w_true).norm() / self.w_true.norm())
        if self.colour is not None:
            arrays["reconstruction_luminance"] = est
            est = self.solve_channels(w, final.x, rtol).reshape(-1, *self.fine.m).cpu().numpy()
            arrays["reconstruction"] = est
            if self.lam is None and self.lam_chroma_factor != 1.0:  # the chroma's weight (solve_chroma) and its gate
                metrics["lam_chroma"] = self.chroma_factor() * self.model.lam
                metrics["chroma_share"] = self.chroma_share()
        truth = self.truth if self.truth_colour is None else self.truth_colour
        if truth is not None:
            tru = truth.cpu().numpy()
            err = (self.rel_error(f_hat) if self.colour is None
                   else float(np.linalg.norm(est - tru) / np.linalg.norm(tru)))
            # SSIM is a 2-D measure: per channel, then the mean; PSNR over all channels with the truth's range
            score = (np.mean([ssim(e, t) for e, t in zip(est, tru)]) if est.ndim == 3 else ssim(est, tru))
            metrics.update(rel_error=err, psnr=psnr(est, tru), ssim=float(score))
            if str(self.cfg.data) == "frames":
                # the baseline the answer is held to, scored as the answer is: a user with a truth got regrun's PSNR
                # and no bicubic beside it, as CT gives FBP's (newuser20)
                frame0 = self.colour[0] if self.colour is not None else self.frames()[0]
                metrics["psnr_bicubic"] = psnr(bicubic_upsample(frame0, tuple(self.fine.m)).cpu().numpy(), tru)
            # frames scaled to 0-1 beside a truth of 0-255 read PSNR 3.0 dB, bicubic's the same, without a word
            # (newuser10); the CT truth file's check (newuser9)
            if self.truth_rescaled is not None:
                metrics["truth_rescaled"] = self.truth_rescaled
            found = truth_scale(est, tru) if self.cfg.truth is not None else None
            if found is not None:
                scale, as_given, scaled = found
                self.truth_scale_off = scale
                metrics["truth_scale"] = scale  # the console marks the metrics that compare the two scales
                self.truth_warning = (
                    f"the answer is {scale:.4g} times problem.truth (rel_error {scaled:.3g} against the truth so "
                    f"scaled, {as_given:.3g} as given): the frames are not in the truth's units (8-bit frames hold "
                    f"0-255, 16-bit ones 0-65535, a float file what it was saved with), so psnr, ssim and rel_error "
                    f"compare two scales")
            if "f" in result.solution:
                metrics["rel_error_solver_f"] = self.rel_error(result.solution["f"])
            arrays["error"] = est - tru
        self._evaluated = arrays
        return metrics, arrays

    def solve_again(self, metrics: dict[str, float], result: SolveResult | None = None,
                    solver=None) -> tuple[dict, str] | None:
        """Your frames solved without gains whose brightness varies (exposure_varies): again with problem.gain=true
        (problem.gain_again). On 62 dev sets (srgain2) it fires on every one with gains of 1.5% or more but one whose
        gains the motion's scale took up (+-2%: gain=true +0.10 dB), on no gain-free one, and on none of three at
        +-1% (docs/superres.md, "Small exposure gains on your frames: which statistic? (srgain2)").
        Else with problem.motion_model=auto (varpro_cg, frames of at most motion_model_auto_max px a side): the
        motion model chosen from the frames (superres_model_choice), its scores added to `metrics`; a smaller one
        than the affine answer's is solved again from the start (docs/superres.md, "The motion model chosen from
        the frames (srmodel)"); an affine answer whose areas are implausible is not among those scored ("srlock2")."""
        why = exposure_varies(metrics) if self.cfg.gain_again else None
        if why is not None:
            return {"gain": True}, (f"{why}: solved again with problem.gain=true (problem.gain_again=false keeps the "
                                    "first answer)")
        if not self.motion_choice_applies(result, solver):
            if self.motion_auto and result is not None:  # the run's log says why the affine answer stands unchosen
                self.ctx.reporter.line("regrun: problem.motion_model=auto: the affine model, not chosen ("
                                       + (f"frames over problem.motion_model_auto_max={self.motion_auto_max} px)"
                                          if getattr(solver, "name", None) == "varpro_cg"
                                          else "the choice runs with solver=varpro_cg only)"))
            return None
        # its candidates' solves are a phase of their own: their pre-registration lines came after the evaluation
        # with no word of what they belonged to (newuser18)
        with self.ctx.phase("motion model choice"):
            chosen, scores = choose_motion_model(self, result, solver, self.with_changes, self.motion_z,
                                                 locked=not areas_plausible(metrics), ratio=self.motion_ratio,
                                                 shift_ratio=self.motion_shift_ratio,
                                                 gap_ratio=self.motion_gap_ratio)
        metrics.update(scores)
        line = choice_line(chosen, scores, self.motion_z, self.motion_ratio, self.motion_shift_ratio,
                           self.motion_gap_ratio)
        if chosen == "affine":
            self.ctx.reporter.line(f"regrun: {line}")
            return None
        return {"motion_model": chosen}, f"{line}: solved again with it"

    def keep_first(self, before: dict[str, float], after: dict[str, float]) -> tuple[dict[str, float], str | None]:
        """After problem.motion_model=auto's smaller model was solved again (solve_again; `before`: the affine
        answer's metrics, `after`: the smaller model's): the metrics to record (the rise of the held-out frames check
        from the affine answer to the smaller model's, first) and the log line where the affine answer is kept,
        None where the smaller model's stands. Kept where the rise is over
        problem.motion_model_check_factor: on the 44 dev sets where a smaller model answered, 3.9-17x on the six
        wrong rigid choices on affine-drawn terrain (z just under the bar: the frames' noise estimate reads its
        texture) and at most 1.57 on the 38 right ones (docs/superres.md, "srmodelcheck"). Not kept where the affine
        answer's area scales leave [1/AREA_PLAUSIBLE, AREA_PLAUSIBLE] (motion_model_affine_implausible; "srlock")."""
        chosen = before.get("motion_model_chosen")
        a, b = before.get("frames_check_ratio", math.nan), after.get("frames_check_ratio", math.nan)
        if chosen is None or chosen == MOTION_MODELS.index("affine") or not (a > 0 and math.isfinite(b)):
            return {}, None  # no smaller model answered, or no check to read (problem.frames_check=false)
        rise = b / a
        record = {"motion_model_check_rise": rise}
        factor = self.motion_check_factor
        if factor is None or not rise > factor:
            return record, None
        if not areas_plausible(before):
            # the affine answer locked (retina s8408: 9.0 px off, areas 0.71-3.13) predicts held-out frames better
            # than the smaller model's right one (1.75 px): the check's rise then says nothing ("srlock")
            return {**record, "motion_model_affine_implausible": 1.0}, None
        return {**record, "motion_model_kept_affine": 1.0}, (
            f"motion model {MOTION_MODELS[int(chosen)]} (problem.motion_model=auto): its answer predicts the held-out "
            f"frames {rise:.3g}x worse than the affine answer (frames_check_ratio {b:.3g} against {a:.3g}; over "
            f"problem.motion_model_check_factor={factor:g}): the affine answer kept, the smaller model's discarded")

    def motion_choice_applies(self, result: SolveResult | None, solver) -> bool:
        """problem.motion_model=auto chooses here: varpro_cg's answer (the only solver with every model) on frames
        of at most problem.motion_model_auto_max px a side."""
        return (self.motion_auto and result is not None and getattr(solver, "name", None) == "varpro_cg"
                and max(self.model.coarse.m) <= self.motion_auto_max)

    def with_changes(self, changes: dict) -> "SuperRes":
        """The same frames as a new problem under these config changes (a candidate motion model's)."""
        return SuperRes(OmegaConf.merge(self.cfg, changes), self.ctx, announce=False)

    def say(self, text: str, err: bool = False) -> None:
        """A line about the frames as read, on the console and in regrun.log, once per run (not per copy)."""
        if self.announce:
            self.ctx.reporter.line(text, err=err)

    def _hot_pixels(self, frames: torch.Tensor, cfg) -> torch.Tensor:
        """A camera's hot or dead pixels (imaging/hot_pixels.py): named (/data/hot_pixels, rows and columns as
        stored), and with problem.hot_pixels=fill each replaced by its neighbours' median in every frame."""
        check_choice("problem.hot_pixels", cfg.hot_pixels, ("keep", "fill"))
        hot = find_hot_pixels(frames.numpy())
        if not hot.any():
            return frames
        rows, cols = np.nonzero(from_fair_layout(hot))
        self.hot_pixels = np.stack((rows, cols), axis=1)
        shown = ", ".join(f"({r}, {c})" for r, c in zip(rows[:8], cols[:8])) + (
            f" and {rows.size - 8} more" if rows.size > 8 else "")
        what = (f"{rows.size} pixel{'s' if rows.size != 1 else ''} of the frames, at (row, column) {shown} (row 0 at "
                f"the top), read far above or below {'their' if rows.size != 1 else 'its'} 8 neighbours in every "
                f"frame: a camera's hot or dead pixel{'s' if rows.size != 1 else ''}, fixed to the sensor while the "
                f"scene moves (/data/hot_pixels)")
        if cfg.hot_pixels == "fill":
            self.say(f"regrun: problem.hot_pixels=fill: {what}, each replaced by its neighbours' median in every "
                     f"frame")
            return torch.as_tensor(fill_hot_pixels(frames.numpy(), hot), dtype=frames.dtype)
        self.hot_warning = (f"{what}; the answer draws them as scene: problem.hot_pixels=fill replaces each by its "
                            f"neighbours' median")
        self.say_once(self.hot_warning)
        return frames

    def say_once(self, text: str) -> None:
        """A warning said before the solve, not again when a second look builds the problem anew."""
        if text not in self.ctx.said:
            self.ctx.said.add(text)
            self.say(f"regrun: WARNING: {text}", err=True)

    def warnings(self, metrics: dict[str, float]) -> list[str]:
        """lambda_f's search at the edge of its range (range_edge_warning), then the held-out frames check
        (frames_check_warnings) and, on small frames, its caution where the answer may be no better than bicubic
        (registration/superres_small.caution; silent where the check already warned)."""
        check = self.frames_check_warnings(metrics)
        ratio = metrics.get("frames_misfit_worst_ratio", 0.0)
        if check and ratio >= STRAY_FRAME_RATIO:
            check = [check[0] + f"; {worst_frame(metrics, self.frame_names)}: a frame of another scene, or with a "
                     f"blur or a flash? leave it out and run again"]
        stray = ([f"{worst_frame(metrics, self.frame_names)}, though the frames check passes: a frame with a blur, a "
                  f"flash or something crossing it (a hand, a bird) pulls the answer; leave it out and run again"]
                 if not check and ratio >= STRAY_FRAME_ALONE_RATIO else [])
        return ([w for w in (self.weight_warning, self.unused_warning, self.noise_warning, self.levels_warning, self.border_warning,
                                self.overlay_warning, self.hot_warning, self.mosaic_warning, self.repeat_warning,
                                self.clip_warning,
                                self.truth_warning, self.layout_warning) if w]
                + motion_range_warning(metrics)
                + self.range_edge_warning(metrics)
                + exposure_warning(metrics) + check + stray + ([] if check else small_frames_caution(metrics)))

    def range_edge_warning(self, metrics: dict[str, float]) -> list[str]:
        """lam_at_range_edge = 1 (the search's log grid lowest at an end of problem.lam_range) was recorded without a
        word (newuser3). The flag is the first log grid's (before golden-section steps, which may then find a
        minimum inside the range: 1.87 of [0.001, 3] on newuser3's moon burst), so the warning says "grid". Worded by
        what was measured (docs/sweeps.md, "Rough edges newuser3 left (newuser4)"): on
        4 bursts flagged at the top end (moon and smooth camera crops, 64^2 frames, 8 of them, 1% noise) the range
        widened 10x up chose weights 0.1-1.7 higher and lost 0.08-0.70 dB of PSNR against the truth: the flag did
        not mean a worse pick there; the bottom end was not met, so nothing is claimed for it."""
        if metrics.get("lam_at_range_edge", 0.0) != 1.0 or "lam_chosen" not in metrics:
            return []
        lo, hi = self.weight_settings.lo, self.weight_settings.hi
        lam = metrics["lam_chosen"]
        if lam >= math.sqrt(lo * hi):
            return [f"lambda_f's search grid was lowest at its top end, problem.lam_range=[{lo:g},{hi:g}] "
                    f"(lam_at_range_edge 1, lambda_f {lam:.4g}): no weight above {hi:g} was tried; on 4 such bursts "
                    f"a range 10x wider chose 0.1-1.7 higher and lost 0.1-0.7 dB, so this one is likely fine; "
                    f"to check, run again with problem.lam_range=[{lo:g},{10 * hi:g}]"]
        return [f"lambda_f's search grid was lowest at its bottom end, problem.lam_range=[{lo:g},{hi:g}] "
                f"(lam_at_range_edge 1, lambda_f {lam:.4g}): the best weight may lie below it; run again with "
                f"problem.lam_range=[{lo / 10:g},{hi:g}]"]

    @staticmethod
    def frames_check_warnings(metrics: dict[str, float]) -> list[str]:
        """The held-out frames check (problem.frames_check): the answer predicts the held-out frames, all together
        or any one of them, no better than bicubic upsampling of frame 0 does. Any one: the sum weighs each frame
        by bicubic's error, so a held-out frame that neither predicts (one of another scene: its ratio ~1 and
        its residual 50x the other's) swamps the sum and hides the other frame's failure (1.68 under a sum of
        0.99: docs/superres.md, "Thirteenth round (srcheck)")."""
        if "frames_check_ratio" not in metrics:
            return []
        ratio = metrics["frames_check_ratio"]
        frames = {int(k.rsplit("_", 1)[1]): v for k, v in metrics.items() if k.startswith("frames_check_ratio_")}
        worst = max(frames, key=lambda k: math.inf if math.isnan(frames[k]) else frames[k], default=None)
        if ratio < FRAMES_CHECK_WARN and (worst is None or frames[worst] < FRAMES_CHECK_WARN):
            return []  # NaN (a frame set bicubic predicts exactly) warns too
        phase = unsampled_phase_warning(metrics, FRAMES_CHECK_WARN)  # a frame's phase no other frame samples
        if phase:
            return [phase]
        frame = "" if worst is None else f", frame {worst}'s {frames[worst]:.3g}"
        return [f"the answer predicts held-out frames no better than bicubic upsampling of frame 0 "
                f"(frames_check_ratio {ratio:.3g}{frame}; warning at {FRAMES_CHECK_WARN:g} and above, for all or any "
                f"one): the motion or lambda_f is likely wrong, or a frame is not of this scene, and the answer may "
                f"be worse than bicubic"]

    def solve_channels(self, w: torch.Tensor, f_lum: torch.Tensor, rtol: float) -> torch.Tensor:
        """Every channel's image (channels, n) at the final motion (and gains), given the luminance's f_lum (solved
        to the relative residual rtol, as the channels are).
        The luminance frames are the fixed combination sum_c a_c (channel c's frames) and the operator is linear
        and the same for all: f_lum = sum_c a_c f_c, so the channel of largest a_c follows from the others (its
        error at most the solves' over a_c: 1.7x for Rec. 601's green, 4x for 4 channels' mean), and the others
        are one multi-right-hand-side PCG from f_lum (each product one pass for all of them: ~10% less per
        column than one by one; a start scaled to the channel's mean, or with frame 0's chroma added, saves
        under 2 of ~130 iterations at 1e-12). RGB 256^2 from 16 frames: 3 channel solves 6.2 -> 3.7 CPU-s
        (docs/superres.md, "srcolour"). With lambda_f=auto and problem.lam_chroma_factor != 1 the others are
        instead the luminance's image plus their chroma's at that factor times the weight (solve_chroma)."""
        channels = self.colour.shape[1]
        a = luminance_weights(channels)
        last = max(range(channels), key=lambda c: a[c])
        others = [c for c in range(channels) if c != last]
        # every channel less the luminance's level (the luminance weights sum to 1: f_lum's level is theirs)
        frames = self.colour[:, others].movedim(1, 0) - self.level  # (channels - 1, frames, m1, m2)
        out = torch.empty(channels, f_lum.numel(), dtype=f_lum.dtype, device=f_lum.device)
        factor = self.chroma_factor()
        if others and factor != 1.0:
            out[others] = f_lum + self.solve_chroma(w, frames + self.level, factor, rtol)
        elif others:
            b = torch.stack([self.model.rhs(d) for d in frames])
            out[others] = self.model.solve(w, self.final_iters, rtol, x0=f_lum, b=b).x
        out[last] = (f_lum - sum(a[c] * out[c] for c in others)) / a[last]
        return out + self.level if self.level else out

    def chroma_factor(self) -> float:
        """The chroma's weight over the luminance's (solve_channels): problem.lam_chroma_factor with lambda_f=auto,
        unless the frames' chroma carries problem.lam_chroma_share_max or more of the luminance's gradient energy
        (chroma_share): there the colour is the picture's content, not a smooth wash over it, and smoothing it
        more lost (FC s9576 2.8: -2.81 dB; held-out GH 2.4-3.9: -0.24 to -2.06; photos 0.03-0.95; docs/superres.md,
        "A gate for the chroma's weight (srcolour2)"). A typed weight is the user's for every channel."""
        if self.lam is not None or self.lam_chroma_factor == 1.0:
            return 1.0
        return 1.0 if self.chroma_share() >= self.lam_chroma_share_max else self.lam_chroma_factor

    def weight_channels(self) -> torch.Tensor | None:
        """The colour channels' frames as the weight's rule reads them (channels, data: each as
        superres_weight.frame_data reads the luminance's), where problem.lam_channels_saturated is on, lambda_f=auto
        and the frames' chroma share is at or above problem.lam_chroma_share_max: there the colour is the picture's
        content and the luminance carries little of its detail (docs/superres.md, "The weight on saturated colour
        frames (srwheel)"); else None (the luminance's misfit, as before)."""
        if (self.colour is None or not self.lam_channels_saturated or self.lam is not None
                or self.lam_from is not None or self.chroma_share() < self.lam_chroma_share_max):
            return None
        mask = self.model.data_mask()
        return ((self.colour.movedim(1, 0) - self.level) * mask).reshape(self.colour.shape[1], -1)

    def chroma_share(self) -> float:
        """The frames' chroma (every channel less the luminance) against their luminance: the sum of squared
        differences between neighbours, across and along, over all frames; inf where the luminance is flat. The
        frames' noise moves it under 0.03 on 27 dev sets at 0.5-3% (it is read from the frames as they come)."""
        a = luminance_weights(self.colour.shape[1])
        lum = sum(ac * self.colour[:, c] for c, ac in enumerate(a))

        def energy(x):
            return float((x[..., 1:] - x[..., :-1]).pow(2).sum() + (x[..., 1:, :] - x[..., :-1, :]).pow(2).sum())

        e_lum = energy(lum)
        e_chroma = sum(energy(self.colour[:, c] - lum) for c in range(self.colour.shape[1]))
        return e_chroma / e_lum if e_lum > 0 else math.inf

    def solve_chroma(self, w: torch.Tensor, frames: torch.Tensor, factor: float, rtol: float) -> torch.Tensor:
        """The chroma's images (k, n) at the final motion and factor times the luminance's weight: the frames of
        each channel (k, frames, m1, m2) less the luminance's, solved as one multi-right-hand-side PCG. The operator
        is linear and the same for every channel, so a channel's image is the luminance's plus its chroma's; the
        luminance's weight is chosen on the luminance, where the fine detail is, and the chroma of a photo is
        smoother (what chroma subsampling and demosaicking rely on), so it wants more smoothing (docs/superres.md,
        "The colour image's weight (srcolour)"). From zero, to the bar the channels are solved to (the same fixed
        initial image's residual): the chroma's absolute error that of main's channels."""
        a = luminance_weights(self.colour.shape[1])
        lum = sum(ac * self.colour[:, c] for c, ac in enumerate(a))  # the luminance the weight was chosen on
        b = torch.stack([self.model.rhs(d - lum) for d in frames])
        lam = self.model.lam
        self.model.set_weight(factor * lam)
        try:
            return self.model.solve(w, self.final_iters, rtol, x0=b.new_zeros(math.prod(self.fine.m)), b=b).x
        finally:
            self.model.set_weight(lam)

    def answer(self, arrays):
        """Your frames' answer as you would open it, in the frames' orientation (results.h5 holds it in FAIR's
        layout, which a user saving /result/reconstruction got turned a quarter): rows from the top, columns[,
        channels]; the run writes it as reconstruction.npy (regrun.imaging.answer)."""
        if self.cfg.data != "frames":
            return None
        image = from_fair_layout(np.asarray(arrays["reconstruction"]))
        return np.moveaxis(image, 0, -1) if image.ndim == 3 else image  # (channels, rows, columns) -> channels last

    def _answer_png(self, image: np.ndarray, fig_dir: Path) -> Path:
        """figures/reconstruction.png: `image` (answer's layout) at the frames' depth (16 bits where a frame exceeds
        255, else 8; frames of at most 1 read as fractions of full scale), clipped to its range. An array's channels
        other than RGB(A) are drawn as their luminance (their mean): a PNG holds 1, 3 or 4 samples a pixel, and 2
        read as grey and alpha (newuser20: 5 channels solved, then failed here, exit 1, "Cannot handle this data
        type")."""
        if image.ndim == 3 and image.shape[-1] not in (3, 4):
            image = luminance(image, axis=-1)
        frames = self.colour if self.colour is not None else self.frames()
        top = float(frames.max())
        full = 65535 if top > 255 else 255
        values = np.clip(np.rint(image * (full if top <= 1 else 1)), 0, full)
        path = fig_dir / "reconstruction.png"
        if full == 65535:
            write_png16(path, values)
        else:
            from PIL import Image

            Image.fromarray(values.astype(np.uint8)).save(path)
        return path

    def _scores(self, metrics) -> str:
        """PSNR beside bicubic's, the numbers a reader of the figure compares first: the panel said the relative
        error alone, and the figure did not say which weight made the image (newuser23). None against a truth in
        other units, whose PSNR compares two scales (truth_warning)."""
        if self.truth_scale_off is not None or not math.isfinite(metrics.get("psnr", math.nan)):
            return ""
        bicubic = metrics.get("psnr_bicubic")
        return f"PSNR {metrics['psnr']:.2f} dB" + (f" (bicubic {bicubic:.2f})" if bicubic is not None else "") + ", "

    def _weight_words(self, metrics) -> str:
        """', lambda_f 0.573 (auto)': the weight the image was solved at, and how it was set (fixed: typed, or
        generated data's default)."""
        lam = metrics.get("lam_chosen", self.lam)
        if lam is None:
            return ""
        how = "auto" if "lam_chosen" in metrics and self.lam is None else f"from {self.lam_from}" if self.lam_from \
            else "fixed"
        return f", lambda_f {lam:.3g} ({how})"

    def figures(self, result, metrics, fig_dir: Path):
        arrays = getattr(self, "_evaluated", None) or self.evaluate(result)[1]
        # colour runs are drawn by their luminance (the motion's frames); the channels are in the results file
        est = np.asarray(arrays.get("reconstruction_luminance", arrays["reconstruction"]))
        # a truth in other units than the frames (truth_warning) keeps its own grey range: on the truth's, a 0-1
        # truth beside 8-bit frames drew the answer and every frame white, and on the answer's the colour truth
        # black; the error is then against the truth so scaled (newuser18)
        scale = self.truth_scale_off
        if self.truth is not None:
            tru = self.truth.cpu().numpy()
            tmin, tmax = float(tru.min()), float(tru.max())
            vmin, vmax = (tmin, tmax) if scale is None else (float(est.min()), float(est.max()))
            error_title = ("error (reconstruction - truth)" if scale is None else
                           f"error (reconstruction - {scale:.4g} x truth: other units)")
            panels = [dict(image=tru, omega=self.omega, title="reference (truth)", vmin=tmin, vmax=tmax),
                      dict(image=est, omega=self.omega, vmin=vmin, vmax=vmax,
                           title=f"reconstruction, {self._scores(metrics)}rel. error {metrics['rel_error']:.3f}"
                                 f"{self._weight_words(metrics)}"),
                      dict(image=est - (tru if scale is None else scale * tru), omega=self.omega, title=error_title,
                           cmap="RdBu_r")]
        else:  # a user's frames without a truth: the reconstruction and how well it explains the frames
            vmin, vmax = float(est.min()), float(est.max())
            res = np.asarray(arrays["data_residual"])
            panels = [dict(image=est, omega=self.omega, vmin=vmin, vmax=vmax,
                           title=f"reconstruction{self._weight_words(metrics)}"),
                      dict(image=res[0], omega=self.omega, title="data residual, frame 0", cmap="RdBu_r",
                           colorbar=True),
                      dict(image=res[-1], omega=self.omega, title=f"data residual, frame {res.shape[0] - 1}",
                           cmap="RdBu_r", colorbar=True)]
        frames = self.frames().cpu().numpy()
        # a folder's frame by its file's name too: "frame 3" left the user to count files in regrun's order
        # (shot1.png ... shot8.png were frames 0-7; newuser18)
        names = self.frame_names if self.frame_names and len(self.frame_names) == len(frames) else None
        for j, d in enumerate(frames):  # every frame the title counts
            panels.append(dict(image=d, omega=self.omega, title=f"frame {j}" + (f": {names[j]}" if names else "")
                               + (" (reference pose)" if j == 0 else ""), vmin=vmin, vmax=vmax))
        paths = [image_grid(panels, fig_dir / "superres.png", ncols=3, suptitle=self.label)]
        image = self.answer(arrays)
        if image is not None:
            paths.append(self._answer_png(image, fig_dir))
        if self.colour is not None:  # the colour images themselves: truth, reconstruction, frame 0 (RGB)
            rgb = np.moveaxis(np.asarray(arrays["reconstruction"]), 0, -1)[..., :3]
            lo, hi = float(rgb.min()), float(rgb.max())
            cpanels = [dict(image=rgb, omega=self.omega, title="reconstruction (colour)", vmin=lo, vmax=hi),
                       dict(image=np.moveaxis(self.colour[0].cpu().numpy(), 0, -1)[..., :3], omega=self.omega,
                            title="frame 0", vmin=lo, vmax=hi)]
            if self.truth_colour is not None:
                shown = np.moveaxis(self.truth_colour.cpu().numpy(), 0, -1)[..., :3]
                tlo, thi = (lo, hi) if scale is None else (float(shown.min()), float(shown.max()))
                cpanels.insert(0, dict(image=shown, omega=self.omega, title="reference (truth)", vmin=tlo, vmax=thi))
            paths.append(image_grid(cpanels, fig_dir / "colour.png", ncols=3, suptitle=self.label))
        if result.history:
            paths.append(convergence(result.history, fig_dir / "convergence.png", keys=("J", "grad_norm"),
                                     title=f"{self.label}: {result.solution.get('label', '')}"))
        if self.weight_choice is not None:
            paths.append(curve_figure(self.weight_choice, fig_dir / "lam_curve.png",
                                      setting="problem.lambda_f"))
        return paths


# a frame fitted this many times worse (RMS residual) than the median of the others is named in the frames check's
# warning (only where that warning fires). newuser19: a burst of 8 with one frame of another scene (camera, 28x20)
# put that frame at 2.81x the others' median (the other frames 0.95-1.15x the median of all eight); the same burst
# clean: its worst frame 1.11x; with frame 3 blurred 5 px along the rows instead, 3.35x
STRAY_FRAME_RATIO = 2.0
# ... and named where the check passes at this many times: at real sizes one bad frame among many leaves the answer
# above bicubic, so the check passes and the frame went unnamed (newuser26: 12 frames of 128^2, frame 7 blurred 5 px
# along the rows, 4.57x, 31.50 dB against 33.94 with it left out; a hand across 13% of frame 5, 5.95x, 31.10 against
# 33.99); clean frames: 1.01-1.05 on newuser26's 13 clean sets of 90x144 to 256^2, 1.11 on newuser19's
STRAY_FRAME_ALONE_RATIO = 3.0


def worst_frame(metrics: dict[str, float], names: list[str] | None) -> str:
    """'frame K (NAME) is fitted R times worse ...': the frame the answer fits worst (frame_misfits), for a warning."""
    worst = int(metrics["frames_misfit_worst"])
    name = f" ({names[worst]})" if names and worst < len(names) else ""
    return (f"frame {worst}{name} is fitted {metrics['frames_misfit_worst_ratio']:.3g} times worse (RMS residual) than "
            f"the median of the other frames (frames_misfit_worst)")


def frame_misfits(residual: np.ndarray) -> dict[str, float]:
    """The frame the answer fits worst (RMS of its residual, frames (n, rows, columns)) and that RMS over the median
    of the other frames' (frames_misfit_worst, frames_misfit_worst_ratio)."""
    rms = np.sqrt((np.asarray(residual, dtype=np.float64) ** 2).reshape(residual.shape[0], -1).mean(axis=1))
    worst = int(np.argmax(rms))
    others = float(np.median(np.delete(rms, worst)))
    return {"frames_misfit_worst": float(worst),
            "frames_misfit_worst_ratio": float(rms[worst] / others) if others > 0 else math.inf}


def areas_plausible(metrics: dict[str, float]) -> bool:
    """Whether an auto run's affine answer's area scales (motion_area_min / _max) lie in [1/AREA_PLAUSIBLE,
    AREA_PLAUSIBLE]; outside, the answer locked: 6.5-51 px off on every such frame seen (srscale)."""
    return 1.0 / AREA_PLAUSIBLE <= metrics.get("motion_area_min", 1.0) <= metrics.get("motion_area_max", 1.0) \
        <= AREA_PLAUSIBLE


def frames_level(cfg, frames: torch.Tensor) -> float:
    """The level taken off a user's frames before the solve and added back to the answer (problem.frames_level):
    their mean, for data=frames with outside=drop and without gains; else 0 (generated frames: the model's own, zero
    beyond the field of view; outside=keep: every pixel kept, those beyond the field of view predicted from the
    extension, which a scene on a dark ground has right at zero (a 12^2 phantom from 6x6 frames: 35.37 -> 33.37 dB
    with the level); with gains a level would be scaled by each frame's gain, unknown before the solve).
    Why: the moved frames are read from the image's cubic spline, whose coefficients are zero beyond the fine grid,
    so near its edge the spline of a constant c is not c (1.07 c half a fine pixel inside the outermost centre).
    The data term keeps frame pixels from OUTSIDE_MARGIN = 1 fine pixel inside, so a kept edge pixel's prediction
    errs by up to a few percent of the frames' level. On a nearly flat crop (cameraman's sky: level 207, spread 3)
    that error is larger than the scene: GCV and the marginal likelihood fall to the range's bottom, fitting it
    into directions the frames barely see (-8.11 dB). Less the level, the spline's extension is the frames' mean
    and the error scales with the scene's spread, not its level. Opt-in: where the scene is dark at the edge the
    mean is the worse extension (a retina's black corner 48^2 -0.94 dB; docs/superres.md, "srsky")."""
    on = check_bool("problem.frames_level", cfg.frames_level)
    if not on or str(cfg.data) != "frames" or bool(cfg.gain) or str(cfg.outside) != "drop":
        return 0.0
    return float(frames.mean())


def exposure_measures(prediction: torch.Tensor, data: torch.Tensor, n_frames: int) -> dict[str, float]:
    """How the frames' brightness varies at the fitted motion, from P_j (the model's prediction of frame j) and d_j
    (the frame) over the data rows (pixels left out by outside=drop are zero in both). The model without gains fits
    a compromise exposure, so an unmodelled gain shows as frames brighter or darker than the others:

    - exposure_std: the standard deviation over the frames of m_j / mean(m), m_j = sum d_j / sum P_j the ratio of
      frame j's mean brightness to its prediction's. A gain scales the whole frame, so its mean; a misfit of edges
      or texture hardly moves the mean (the chessboards 0.0003-0.0008). Blind to a gain that the motion's scale takes
      up (an object on a dark background, whose frame sum grows with det A);
    - exposure_moved_range: (max - min) / mean over the moved frames (1..) of g_j = <P_j, d_j> / <P_j, P_j>, their
      least-squares brightness, which sees that gain too (but also a misfit that correlates with P_j);
    - exposure_spread: max_j |g_j / g_0 - 1| (srwide's; frame 0's least-squares brightness alone differs on sharp
      chessboards, by 1.6-3.1% with no gain: recorded, not acted on)."""
    pred, d = prediction.reshape(n_frames, -1), data.reshape(n_frames, -1)
    g = (pred * d).sum(-1) / (pred * pred).sum(-1).clamp_min(torch.finfo(pred.dtype).tiny)
    # a frame the motion moved wholly outside (every pixel dropped) has no brightness to compare: left out of
    # exposure_std, which was NaN there and marked a sound run diverged (hubble20 s8924, a locked first answer)
    sums = pred.sum(-1)
    m = d.sum(-1)[sums != 0] / sums[sums != 0]
    moved = g[1:]
    return {"exposure_spread": float((g / g[0] - 1).abs().max()),
            "exposure_std": float((m / m.mean()).std()) if m.numel() > 1 else 0.0,
            "exposure_moved_range": float((moved.max() - moved.min()) / moved.mean()) if n_frames > 2 else 0.0}


def exposure_varies(metrics: dict[str, float]) -> str | None:
    """Why the frames' exposure likely varies (exposure_std at EXPOSURE_STD or exposure_moved_range at
    EXPOSURE_MOVED), in words; None where neither says so or neither was recorded (problem.gain=true, generated
    data)."""
    std, moved = metrics.get("exposure_std"), metrics.get("exposure_moved_range")
    jpeg = metrics.get("frames_jpeg_dc_share", 0.0)
    std_bar, moved_bar = EXPOSURE_STD + JPEG_STD_FACTOR * jpeg, EXPOSURE_MOVED + JPEG_MOVED_FACTOR * jpeg
    if std is not None and std >= std_bar:
        return (f"the frames' mean brightness against the answer's prediction varies by {std:.2%} over the frames "
                f"(standard deviation, exposure_std {std:.3g} >= {std_bar:.3g})")
    if moved is not None and moved >= moved_bar:
        return (f"the moved frames' brightness against the answer's prediction spans {moved:.1%} "
                f"(exposure_moved_range {moved:.3g} >= {moved_bar:.3g})")
    return None


# A user's frames of at most FEW_LEVELS distinct values whose quantisation noise, step / sqrt(12), is at least
# LEVELS_NOISE_SHARE of their noise estimate (or whose estimate is 0) are warned. newuser8 warned on the count alone
# (<= 16): a text crop at 17 values lost 5.8 dB and coins at 24 values 2.7 dB without a word, while frames whose
# noise dithers the steps lose nothing. On newuser9's dev bursts (camera, grass, clock; 8 frames 24^2, factor 2,
# 0.5% noise and 2% more, cast to 3-53 values; scripts/newuser9_levels.py, seed 25911) the ratio warned all 8 stacks
# losing >= 1.5 dB and 1 of the 6 losing <= 0.5 dB; the count <= 16 warned 7 and 2. The count keeps noise-free
# 8-bit frames, whose rounding is all the noise they show at a loss of 0.07 dB (newuser8), out of it.
FEW_LEVELS = 64
LEVELS_NOISE_SHARE = 0.5


def levels_noise(frames: torch.Tensor) -> tuple[float, float]:
    """The noise the frames' quantisation adds, step / sqrt(12) with step the median gap between their distinct
    values, and their noise estimate (noise_std_images), both over the frames' range."""
    values = torch.unique(frames)
    span = float(values[-1] - values[0])
    step = float(torch.median(torch.diff(values))) if values.numel() > 1 else 0.0
    grey = frames if frames.dim() == 3 else frames.mean(1)
    return step / math.sqrt(12) / span, noise_std_images(grey.to(torch.float64)) / span


def repeated_frames_warning(frames: torch.Tensor, names: list[str] | None) -> str:
    """Frames that hold exactly the same pixels: a camera's frames never do (their noise differs), a folder exported
    twice under two names does (f0.png and f000.png: 6 frames read as 12, without a word: newuser11). Each such
    frame counts twice in the fit and adds no sample of the scene; where every frame is the same, a UserError."""
    flat = frames.reshape(frames.shape[0], -1)
    seen: dict[bytes, int] = {}
    pairs = []
    for k in range(flat.shape[0]):
        key = flat[k].numpy().tobytes()
        if key in seen:
            pairs.append((seen[key], k))
        else:
            seen[key] = k
    if not pairs:
        return ""
    name = (lambda k: names[k]) if names and len(names) == frames.shape[0] else (lambda k: f"frame {k}")  # noqa: E731
    shown = [f"{name(a)} = {name(b)}" for a, b in pairs[:4]] + ([f"and {len(pairs) - 4} more"] if len(pairs) > 4 else [])
    if len(seen) == 1:  # two copies of one frame ran 19 s to an answer at lam_range's edge, 8 copies 42 s (newuser13)
        raise UserError(f"all {frames.shape[0]} frames hold the same pixels ({', '.join(shown)}): one picture of the "
                        "scene; super-resolution needs at least 2 frames that see it from different sub-pixel "
                        "positions (copies of one frame add nothing)")
    return (f"{len(pairs)} of the {frames.shape[0]} frames repeat another's pixels exactly ({', '.join(shown)}): a "
            f"frame saved twice (an export run twice under other names?) counts twice in the fit and adds nothing; "
            f"leave the copies out")


CLIP_SHARE = 0.05  # clipped_frames_warning: a frame with at least this share of its pixels at the stack's end value
CLIP_RATIO = 4.0  # ... and this many times the median frame's share of them


def clipped_frames_warning(frames: torch.Tensor, names: list[str] | None) -> str:
    """A frame over-exposed (or under-exposed) and clipped ran with a warning that named the frames the check held
    out, never the clipped one (newuser15: one frame of 16 at 2x exposure, clipped, 33.14 against 36.91 dB without
    it): clipped pixels do not follow the scene. Names the frames with a share of pixels at the stack's highest (or
    lowest) value far above the median frame's; a scene whose every frame clips alike (a bright sky) is not flagged."""
    flat = frames.reshape(frames.shape[0], -1)
    found = []
    for end, word in ((flat.max(), "highest"), (flat.min(), "lowest")):
        share = (flat == end).double().mean(1)
        typical = float(share.median())
        for k in torch.nonzero((share >= CLIP_SHARE) & (share >= CLIP_RATIO * typical)).flatten().tolist():
            found.append((k, float(share[k]), word, float(end), typical))
    if not found:
        return ""
    name = (lambda k: names[k]) if names and len(names) == frames.shape[0] else (lambda k: f"frame {k}")  # noqa: E731
    shown = [f"{name(k)}: {100 * sh:.0f}% of its pixels at the frames' {word} value {end:g} (the median frame "
             f"{100 * typ:.1f}%)" for k, sh, word, end, typ in found[:4]]
    more = f", and {len(found) - 4} more" if len(found) > 4 else ""
    return (f"{len(found)} of the {frames.shape[0]} frames look clipped ({'; '.join(shown)}{more}): clipped pixels "
            f"(over- or under-exposed) do not follow the scene and pull the answer; leave such frames out")


@functools.lru_cache(maxsize=1)
def _shipped() -> dict:
    return option_node("problem", "superres", [])  # read once: a read per key took 1.2 s at a typed weight


def shipped_default(key: str):
    """problem.KEY's value in configs/problem/superres.yaml, as written (None where it has none)."""
    return _shipped().get(key)


# problem.lam_* that only lambda_f=auto reads; lam_noise is not among them: the motion model's choice
# (problem.motion_model=auto) scores its misfits against it at any weight
SEARCH_ONLY_EXCEPT = ("lam_noise",)


def unused_search_warning(cfg, lam: float | None, lam_from: str | None) -> str:
    """The search's settings (problem.lam_*) set away from superres.yaml's values while lambda_f is a number or
    from:RUN, which they do not touch; '' otherwise. newuser22's problem.lam_rule=discrepancy beside
    problem.lambda_f=0.5 ran as if not typed, and on generated frames, whose lambda_f is 1e-2 unless typed, the rule
    typed alone chose nothing (newuser23)."""
    if lam is None:
        return ""
    changed = []
    for key in cfg:
        if not str(key).startswith("lam_") or key in SEARCH_ONLY_EXCEPT:
            continue
        value = cfg[key]
        value = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        if value != shipped_default(str(key)):
            changed.append(f"problem.{key}={value}")
    if not changed:
        return ""
    fixed = f"from {lam_from}" if lam_from else f"problem.lambda_f={lam:g}"
    return (f"{' and '.join(changed)} {'is' if len(changed) == 1 else 'are'} not used: the weight is fixed "
            f"({fixed}), and the problem.lam_* settings choose it only with problem.lambda_f=auto")


def unused_frames_key_warning(key, path: Path) -> str:
    """problem.frames_key set away from superres.yaml's value for frames that are no .npz/.h5 file, which has no
    names to pick from; '' otherwise (newuser22: on a .npy, one array, it was ignored without a word)."""
    if str(key) == str(shipped_default("frames_key")) or path.suffix.lower() in (".npz", ".h5", ".hdf5"):
        return ""
    what = ("a folder of image files" if path.is_dir() else
            "a .npy file, one array without a name" if path.suffix.lower() == ".npy" else "one image file")
    return (f"problem.frames_key={key} is not used: it names an array inside a .npz or .h5 file, and {path.name} is "
            f"{what}, read whole")


TINY_WEIGHT_FACTOR = 1e-3  # a typed lambda_f under this times lam_range's bottom is warned: its regulariser,
# lambda_f^2 ||L f||^2, is then a millionth or less of its weight at the smallest weight auto tries, in effect off
# (newuser21's lambda_f=1e-30 ran without a word; 0 is the user's plain "no regulariser" and is not warned)


def tiny_weight_warning(lam: float | None, lo: float) -> str:
    """A typed lambda_f > 0 far below the weights auto searches (TINY_WEIGHT_FACTOR); '' otherwise."""
    if lam is None or not 0.0 < lam < TINY_WEIGHT_FACTOR * lo:
        return ""
    return (f"problem.lambda_f={lam:g} is under {TINY_WEIGHT_FACTOR:g} of problem.lam_range's bottom ({lo:g}, the "
            f"smallest weight lambda_f=auto tries): the regulariser lambda_f^2 ||L f||^2 is in effect off, so the "
            f"image fits the frames' noise (lambda_f=0 says so plainly; lambda_f=auto chooses a weight from the frames)")


def two_levels(frames: torch.Tensor, name: str) -> None:
    """Frames of two values at most (a bool array, 1-bit PNGs, a folder of 0/255 masks) are a mask or a thresholded
    picture, not intensities: the few-levels warning came after the whole solve (54 s on newuser21's 12 frames of
    43x31, a burst thresholded at half its range) and the answer was an image of a mask. A camera's frames hold
    more values (their noise alone gives them); three levels and more keep the warning."""
    if torch.unique(frames[0]).numel() > 2:
        return
    values = torch.unique(frames)
    if values.numel() <= 2:
        shown = " and ".join(f"{float(v):g}" for v in values)
        raise UserError(f"problem.frames={name}: every frame holds only the values {shown}: a mask or a thresholded "
                        "(boolean, 1-bit) picture, not the scene's grey levels, from which super-resolution reads "
                        "the detail between pixels; give the frames as the camera saved them (8/16-bit or float)")


def few_levels_warning(frames: torch.Tensor) -> str:
    """Frames of a bool array, or cast to integers from values in [0, 1] (numpy's astype(int) drops the fraction),
    ran as numbers without a word (newuser7, newuser8): the grey levels the answer is made of were gone. Frame 0's
    values first, so a large stack of real frames costs one frame's sort."""
    if torch.unique(frames[0]).numel() > FEW_LEVELS:
        return ""
    values = torch.unique(frames)
    if values.numel() > FEW_LEVELS:
        return ""
    quantisation, sigma = levels_noise(frames)
    if sigma > 0 and quantisation < LEVELS_NOISE_SHARE * sigma:  # the frames' noise dithers the steps
        return ""
    shown = ", ".join(f"{float(v):g}" for v in values[:4]) + (", ..." if values.numel() > 4 else "")
    share = (f"{quantisation / sigma:.2g}x the frames' noise estimate" if sigma > 0 else
             "hidden by no noise (the frames' noise estimate is 0)")
    return (f"the frames hold only {values.numel()} distinct values ({shown}), and their steps' noise (step/sqrt(12), "
            f"{quantisation:.2g} of their range) is {share}: the detail super-resolution "
            f"recovers is in the frames' grey levels, and frames quantised this coarsely keep little of it; frames "
            f"that are thresholded, boolean, or cast to integers from values in [0, 1] (astype(int) drops the "
            f"fraction) give a poor answer: save the frames as measured (16-bit images or floats)")


def _fixed_lines(frames: torch.Tensor) -> int:
    """How many leading lines (along dim 1) of frames (n, a, b) hold one value in every frame."""
    k = 0
    while k < frames.shape[1] - 1 and bool((frames[:, k] == frames[0, k, 0]).all()):
        k += 1
    return k


# truth_rescale: the truth's least-squares scale to bicubic of frame 0 within this share of the two files' full scales'
# ratio. newuser28: 16-bit PNG frames beside a float32 TIFF truth in [0, 1] printed psnr -97.16 (the answer 65514
# times the truth), 8-bit frames beside a 16-bit PNG truth -0.80 (0.00389 = 1/257), each under truth_scale's
# warning; read at the frames' scale both give the 37.46 of the truth at the frames' depth. The files' depths say
# the ratio; the fit only confirms it, so a truth that is another picture, or was saved stretched to its own range,
# keeps the warning
TRUTH_RESCALE_TOLERANCE = 0.1
FULL_SCALE_WORDS = {255.0: "8-bit values (0-255)", 65535.0: "16-bit values (0-65535)", 1.0: "floats in [0, 1]"}


def truth_rescale(frames_path, frames: torch.Tensor, truth_path, truth: torch.Tensor, truth_colour, fine_m
                  ) -> tuple[float, str] | None:
    """(the factor the truth is read at, the words for it) where the frames' and the truth's image files hold
    different full scales (io.full_scale: 8 bits, 16 bits, floats in [0, 1]) and the truth fits bicubic of frame 0
    at their ratio; else None. `frames` (frames, m1, m2) the luminance, `truth` the luminance (FAIR's layout)."""
    into = full_scale(frames_path, frames.numpy())
    given = full_scale(truth_path, (truth if truth_colour is None else truth_colour).numpy())
    if into is None or given is None or into == given:
        return None
    ratio = into / given
    t = truth.numpy()
    power = float((t * t).sum())
    if power <= 0:
        return None
    fitted = float((bicubic_upsample(frames[0], tuple(fine_m)).cpu().numpy() * t).sum()) / power
    if abs(fitted / ratio - 1.0) > TRUTH_RESCALE_TOLERANCE:
        return None
    return ratio, (f"{FULL_SCALE_WORDS.get(given, f'values up to {given:g}')}, the frames "
                   f"{FULL_SCALE_WORDS.get(into, f'values up to {into:g}')}")


def fixed_border_warning(frames: torch.Tensor) -> str:
    """Frames with a dark border in the same place in each (a mask, a frame, vignetting clipped to black) ran without
    a word of it, and the exposure check then read the border as the frames' brightness varying ("solved again with
    problem.gain=true", newuser9: 6 frames 21x33 with a black border 2-3 px wide): the border is fixed to the
    camera, no part of the moving scene. Names the widths of the edges that hold one value in every frame."""
    t = frames.transpose(1, 2)
    widths = [_fixed_lines(frames), _fixed_lines(frames.flip(1)), _fixed_lines(t), _fixed_lines(t.flip(1))]
    if not any(widths):
        return ""
    return (f"the frames' outer {max(widths)} px on {sum(w > 0 for w in widths)} of their 4 edges "
            f"({', '.join(str(w) for w in widths)} px) hold one value in every frame: a border fixed to the camera "
            f"(a mask, a frame, vignetting clipped to black) is no part of the moving scene, and the motion and the "
            f"exposure check read it as scene: crop it from the frames")


# fixed_overlay_warning: pixels that hold one value in every frame, touching an edge of the frames, at least this many
# and at most OVERLAY_MAX_SHARE of a frame. newuser26: a timestamp burnt into the corner of 12 frames of 128^2 (a
# black box, white digits, the seconds changing) took the answer from 34.03 dB to 22.97 (32.13 against 34.61 on the
# rows away from the box) with no word, the frames check passing at 0.91; cropped away: 34.31. A camera's noise
# makes each frame's pixels differ; a larger share is a noise-free drawing's flat ground, not an overlay
OVERLAY_MIN_PIXELS = 20
OVERLAY_MAX_SHARE = 0.05


def fixed_overlay_warning(frames: torch.Tensor) -> str:
    """A patch fixed to the camera (a timestamp, a logo, a scale bar burnt into every frame) ran without a word and
    pulled the motion toward none (newuser26). Names the rows and columns of the pixels that hold one value in
    every frame, where they touch an edge, are few (OVERLAY_MIN_PIXELS to OVERLAY_MAX_SHARE of a frame) and hold two
    values or more (a box and its text): an area clipped in every frame holds the frames' end value alone. Lines
    fixed along a whole edge are fixed_border_warning's."""
    from scipy import ndimage

    fixed = from_fair_layout((frames == frames[:1]).all(0).cpu().numpy())
    image = from_fair_layout(frames[0].cpu().numpy())
    # the largest patch (a box's text joined to it across 2 px): a bright scene's few pixels clipped in every frame
    # elsewhere stretched the named rows (78-127 for a box in rows 114-127)
    patches, count = ndimage.label(ndimage.binary_dilation(fixed, iterations=2))
    if count:
        sizes = np.bincount(patches[fixed], minlength=count + 1)
        fixed = fixed & (patches == int(np.argmax(sizes)))
    rows, cols = np.nonzero(fixed)
    count, (h, w) = rows.size, fixed.shape
    if not OVERLAY_MIN_PIXELS <= count <= OVERLAY_MAX_SHARE * h * w or np.unique(image[fixed]).size < 2:
        return ""
    r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
    if (r1 - r0 + 1 == h or c1 - c0 + 1 == w) or not (r0 == 0 or c0 == 0 or r1 == h - 1 or c1 == w - 1):
        return ""
    return (f"{count} pixels of the frames, in rows {r0}-{r1} and columns {c0}-{c1} (row 0 at the top), hold one "
            f"value in every frame, which a camera's noise never gives: an overlay burnt into the frames (a timestamp, "
            f"a logo, a scale bar) is fixed to the camera, no part of the moving scene, and pulls the motion toward "
            f"none: crop it from the frames (rows or columns past it)")


def exposure_warning(metrics: dict[str, float]) -> list[str]:
    """Your frames' brightness varies beyond what noise and misfit give (exposure_varies) and problem.gain is off."""
    why = exposure_varies(metrics)
    if why is None:
        return []
    return [f"{why}: their exposure likely varies, which this model leaves out; run again with problem.gain=true"]
