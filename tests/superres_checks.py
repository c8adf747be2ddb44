"""Checks shared by the super-resolution model tests: the operator's motion derivatives against AD, and a Taylor
test of a residual's Jacobian, and the operator's forms against the matrix-free one."""
import torch

from regrun.linalg.direct import normal_matrix


def assert_operator_derivatives_match_ad(m, w, f, r, rtol=1e-12):
    """dA f, dA^T r and A^T dA f from SuperResModel.operator_derivatives against torch.func.jacfwd."""
    dA_f, dAT_r, AT_dA_f = m.operator_derivatives(w, f, r)
    ref_f = torch.func.jacfwd(lambda u: m.operator(u).matvec(f))(w)
    ref_r = torch.func.jacfwd(lambda u: m.operator(u).rmatvec(r))(w)
    ref_at = m.operator(w).rmatvec(ref_f.T).T
    for got, ref in ((dA_f, ref_f), (dAT_r, ref_r), (AT_dA_f, ref_at)):
        assert float((got - ref).abs().max() / ref.abs().max()) < rtol


def assert_taylor_orders(residual, x, r, jv, v, hs=(4e-3, 2e-3, 1e-3, 5e-4)):
    """Taylor test along v: |res(x + hv) - r| falls as h (order 1) and |res(x + hv) - r - h Jv| as h^2 (order 2)."""
    e0 = [float((residual(x + h * v) - r).norm()) for h in hs]
    e1 = [float((residual(x + h * v) - r - h * jv).norm()) for h in hs]
    for a, b in zip(e0, e0[1:]):
        assert 1.7 < a / b < 2.3
    for a, b in zip(e1, e1[1:]):
        assert 3.4 < a / b < 4.6


def assert_operator_forms_agree(m, w, x):
    """The dense and fixed operators' products, the Gram matrix and the fixed operator's normal product against the
    matrix-free operator A(w) (rows of x); returns the Gram matrix."""
    ref = m.operator(w).matvec(x)
    for op in (m.dense_operator(w), m.operator(w, fixed=True)):
        assert float((op.matvec(x) - ref).abs().max() / ref.abs().max()) < 1e-12
    gram, dense = m.normal_matrix(w), normal_matrix(m.operator(w), chunk=64)
    assert float((gram - dense).abs().max() / dense.abs().max()) < 1e-12
    return gram
