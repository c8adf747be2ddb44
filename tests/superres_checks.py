"""One check shared by the super-resolution model tests: the operator's motion derivatives against AD."""
import torch


def assert_operator_derivatives_match_ad(m, w, f, r, rtol=1e-12):
    """dA f, dA^T r and A^T dA f from SuperResModel.operator_derivatives against torch.func.jacfwd."""
    dA_f, dAT_r, AT_dA_f = m.operator_derivatives(w, f, r)
    ref_f = torch.func.jacfwd(lambda u: m.operator(u).matvec(f))(w)
    ref_r = torch.func.jacfwd(lambda u: m.operator(u).rmatvec(r))(w)
    ref_at = m.operator(w).rmatvec(ref_f.T).T
    for got, ref in ((dA_f, ref_f), (dAT_r, ref_r), (AT_dA_f, ref_at)):
        assert float((got - ref).abs().max() / ref.abs().max()) < rtol
