# Sourced by prepare.sh (and by hand before `cargo build -p train --features tch`): LibTorch for
# burn's LibTorch backend, from the PyPI wheel of the PyTorch the GPU machine has (2.11.0, CUDA
# 13): its headers and libraries to build against here, and CUDA's runtime and CUPTI, which
# libtorch_cpu.so needs to load even on the CPU, for `--backend libtorch-cpu` on this machine.
# Idempotent: downloads (≈ 545 MB) and unpacks only what is missing. Sets LIBTORCH and the
# variables torch-sys reads; `libtorch_env` prints the LD_LIBRARY_PATH to run the binary here:
#   source scripts/gpu/libtorch.sh && export "$(libtorch_env)"
# tch 0.22 expects PyTorch 2.9: the check is bypassed, as the wrapper is compiled here against
# 2.11's own headers (and it builds; the C++ API it uses did not change).
LIBTORCH_HOME=${LIBTORCH_HOME:-$HOME/.cache/brainseg-libtorch}
TORCH_VERSION=2.11.0
(
  set -euo pipefail
  mkdir -p "$LIBTORCH_HOME"
  cd "$LIBTORCH_HOME"
  if [ ! -f torch/.unpacked ]; then
    ls torch-$TORCH_VERSION-*.whl >/dev/null 2>&1 || pip download "torch==$TORCH_VERSION" --no-deps -d .
    rm -rf torch
    # Only what a build links against: the Python modules stay in the wheel.
    unzip -q -o torch-$TORCH_VERSION-*.whl 'torch/include/*' 'torch/lib/*' 'torch/share/*' -d .
    touch torch/.unpacked
  fi
  # libtorch_cuda.so needs cuDNN, cuBLAS, NCCL … (GBs), none of which a CPU run uses: here the
  # binary loads a stand-in that has the two symbols tch's wrapper names and aborts if either is
  # called. Never carried to the GPU machine, which has the real library.
  if [ ! -f cpu-stub/libtorch_cuda.so ]; then
    mkdir -p cpu-stub
    printf '%s\n' '#include <stdlib.h>' \
      'void *_ZN2at4cuda24getCurrentCUDABlasHandleEv(void) { abort(); }' \
      'int _ZN2at4cuda9warp_sizeEv(void) { abort(); }' > cpu-stub/stub.c
    gcc -shared -fPIC -o cpu-stub/libtorch_cuda.so -Wl,-soname,libtorch_cuda.so cpu-stub/stub.c
  fi
  if [ ! -f nvidia/.unpacked ]; then
    mkdir -p wheels
    pip download "cuda-toolkit[cudart,cupti]==13.0.2" -d wheels
    for w in wheels/nvidia_*.whl; do unzip -q -o "$w" -d .; done
    touch nvidia/.unpacked
  fi
) || return 1
export LIBTORCH=$LIBTORCH_HOME/torch
export LIBTORCH_BYPASS_VERSION_CHECK=1 LIBTORCH_CXX11_ABI=1
# The library path for `--backend libtorch-cpu` on this machine (with the stand-in above).
libtorch_env() { echo "LD_LIBRARY_PATH=$LIBTORCH_HOME/cpu-stub:$LIBTORCH/lib:$LIBTORCH_HOME/nvidia/cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; }
