"""A check shared by the detection template tests."""
import torch


def assert_template_decomposes(t):
    """eq. 7: template = body + sum of parts, the parts disjoint and inside the template's support."""
    rebuilt, cover = t.body.clone(), t.body_mask.clone()
    for p in t.parts.values():
        (r, c), (h, w) = p.offset, p.size
        rebuilt[:, r:r + h, c:c + w] += p.image
        cover[r:r + h, c:c + w] += p.mask
    assert torch.allclose(rebuilt, t.image, atol=1e-12)
    assert torch.equal(cover, t.mask)
