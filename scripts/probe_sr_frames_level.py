#!/usr/bin/env python
"""srlevel's measurement without a solve: for bench_lambda_sr.py frame sets (KIND,SIZE,FRAMES), frame 0's outer
ring of pixels (1 px) against the frames' mean and spread, noise-free (frame 0 is the unmoved reference, so the
motion's draw does not change it; colour: the channels' average). It says where a level taken from the frames'
border would differ from their mean (problem.frames_level; docs/superres.md, "srlevel").

    PYTHONPATH=. python scripts/probe_sr_frames_level.py sk:clock@40:60,20,16 fair:PET-CT-PET@20:10,32,16
"""
from __future__ import annotations

import sys

import torch
from bench_lambda_sr import frame_set  # scripts/bench_lambda_sr.py


def main(argv=None):
    for spec in sys.argv[1:] if argv is None else argv:
        kind, size, frames = spec.split(",")[:3]
        _, stack, _, _ = frame_set(kind, int(size), int(frames), 0.0, 1, supersample=8, motion="translation")
        s = torch.as_tensor(stack)
        s = s if s.ndim == 3 else s.mean(1)
        ring = torch.ones_like(s[0], dtype=torch.bool)
        ring[1:-1, 1:-1] = False
        print(f"{spec}: ring {float(s[0][ring].mean()):.1f} mean {float(s.mean()):.1f} spread {float(s.std()):.1f}")


if __name__ == "__main__":
    main()
