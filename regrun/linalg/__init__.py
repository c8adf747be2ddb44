"""Matrix-free linear algebra: operators, the adjoint test, CG and its differentiation modes."""
