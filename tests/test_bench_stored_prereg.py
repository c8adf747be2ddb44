"""scripts/bench_lambda_sr.py's stored pre-registration answers only for the problem's own model: the pairwise
start's copy.copy views of it register for real (srfinal3: an instance attribute was copied into them, every frame
pair answered with the stored motion, and the bench's auto differed from the user's run by 2.4 dB)."""
import copy

import torch
from script_module import load_script


def load_bench():
    return load_script("bench_lambda_sr")


class Registering:
    """A stand-in model whose preregister answers with the ladder's length and its frames' first value."""

    def __init__(self, frames):
        self.frames = frames

    def preregister(self, thetas=(1.0, 0.1, 0.01), **kwargs):
        return torch.stack((self.frames[0] * 0 + len(thetas), self.frames[0]))


def test_views_of_the_model_register_for_real(device):
    bench = load_bench()
    model = Registering(torch.tensor([5.0, 6.0], dtype=torch.float64, device=device))
    w0 = torch.tensor([0.5, 0.5], dtype=torch.float64, device=device)
    w_alt = torch.tensor([0.25, 0.25], dtype=torch.float64, device=device)
    bench.stored_preregister(model, w0, w_alt)
    assert type(model).preregister.__defaults__[0] == (1.0, 0.1, 0.01)  # superres_start.stopped_ladder reads the ladder so
    assert torch.equal(model.preregister(), w0)
    assert torch.equal(model.preregister(thetas=(1.0, 0.1, 0.01)), w0)
    assert torch.equal(model.preregister(wide_edge=True), w0)
    assert torch.equal(model.preregister(thetas=(1.0, 0.1)), w_alt)
    view = copy.copy(model)  # as superres_pairwise.pairwise_motions makes it, frames reordered
    view.frames = model.frames.flip(0)
    assert view.preregister().tolist() == [3.0, 6.0]
    assert view.preregister(thetas=(1.0,)).tolist() == [1.0, 6.0]
    assert view.preregister().device == w0.device


def test_frames_as_given_answered_with_the_stored_as_given_ladder(device):
    """superres_start.as_given_start swaps model.frames (the level put back) and calls preregister: the bench
    answers with the stored as-given ladder where the pre-registration took it, else w0 (not taken: the same
    distance 0 from the first start); the model's own frames still get w0."""
    bench = load_bench()
    frames = torch.tensor([5.0, 6.0], dtype=torch.float64, device=device)
    w0 = torch.tensor([0.5, 0.5], dtype=torch.float64, device=device)
    w_given = torch.tensor([0.75, 0.75], dtype=torch.float64, device=device)
    model = Registering(frames)
    bench.stored_preregister(model, w0, w_given, w_given)
    model.frames = frames + 100.0
    assert torch.equal(model.preregister(), w_given)
    model.frames = frames
    assert torch.equal(model.preregister(), w0)
    plain = Registering(frames)
    bench.stored_preregister(plain, w0, None)
    plain.frames = frames + 100.0
    assert torch.equal(plain.preregister(), w0)  # nothing stored for the frames as given: not taken
