# Sourced at the start of a call on a lent GPU machine (scripts/gpu_wheels.sh made .whl/ here first): the carried
# wheels and regrun itself (not editable, so that the `regrun` command exists) into /tmp, on top of the image's
# torch. Then: bash scripts/gpu_check.sh
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || return 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir --target /tmp/site2 . \
  >/tmp/regrun_install.log 2>&1 || { cat /tmp/regrun_install.log; return 1; }
export PATH=/tmp/site2/bin:$PATH PYTHONPATH=/tmp/site:/tmp/site2 PYTHONUNBUFFERED=1
# the H200 image wrote no bytecode: every process compiled ~1000 files again (1.5-1.9 s of cProfile'd start-up)
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX=/tmp/pycache
python3 -m compileall -q -j 0 /tmp/site /tmp/site2 >/dev/null 2>&1
python3 -c "import torch, hydra; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-', 'hydra', hydra.__version__)"
