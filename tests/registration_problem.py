"""The registration problem built from its YAML with a few settings changed, for the tests of users' images and of
the distances (no Hydra compose: the problem object alone)."""
import torch
from omegaconf import OmegaConf

from regrun.context import RunContext
from regrun.problems.multiscale_affine import MultiscaleAffine


def affine_problem(tmp_path, device, **over) -> MultiscaleAffine:
    cfg = OmegaConf.load("configs/problem/multiscale_affine.yaml")
    for k, v in over.items():
        OmegaConf.update(cfg, k, v)
    return MultiscaleAffine(cfg, RunContext(device, torch.float64, 0, tmp_path))
