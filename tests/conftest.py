import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FAIR_DATA = SHARED / "fair_data"

torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def fair_data():
    if not (FAIR_DATA / "hands-T.jpg").is_file():
        pytest.skip("../shared/fair_data is not present")
    return FAIR_DATA


@pytest.fixture
def device():
    """The device tests run on: CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
