#!/bin/bash
# Before a call on a lent GPU machine (whose image has torch, numpy, scipy, h5py, matplotlib, pytest, xdist but
# not hydra): the wheels it lacks, for its Python 3.12, into .whl/ (ignored by git; name it in the call's
# `carry`). The versions are this machine's, so both sides run the same hydra. On the device, first:
#     source scripts/gpu_setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
version() { python -c "import importlib.metadata as m; print(m.version('$1'))"; }
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 -d .whl "hydra-core==$(version hydra-core)" "omegaconf==$(version omegaconf)" \
  "hydra-joblib-launcher==$(version hydra-joblib-launcher)"
# antlr4's 4.9 runtime (hydra 1.3's pin) is published as a source archive only: build its pure-Python wheel here
python -m pip wheel -q --no-deps -w .whl "antlr4-python3-runtime==$(version antlr4-python3-runtime)"
ls .whl
