# Sourced by device.sh, bench.sh and bench-train.sh on the GPU machine (P, WORK, and a `step`
# function set): shows the GPU, sets up Vulkan for the WGSL binary and the CUDA libraries for the
# CUDA one, and unpacks the carried `train` binaries into $WORK/bin. Without an NVIDIA Vulkan
# driver it stops (exit 3) unless NEED_VULKAN=0 (bench.sh: the CUDA binary and PyTorch need
# none) or CASES is set (a rehearsal on lavapipe). A second sourcing in the same call (one
# script running another) sets the variables again but skips the unpacking.
first_setup=1
[ -f "$WORK/bin/.unpacked" ] && [ "$WORK/bin/.unpacked" -nt "$P/train.tar.xz" ] && first_setup=0
if [ "$first_setup" = 1 ]; then
  step "GPU and Vulkan"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "(no nvidia-smi)"
fi
# The loader and libglvnd, unpacked over / (as the device README advises; they are plain
# libraries), then the NVIDIA ICD: the image's, the driver mount's, or one written for the
# driver's libGLX_nvidia.
if [ "$first_setup" = 1 ] && [ -d "$P/gl" ] && [ "${GL:-1}" = 1 ]; then  # GL=0: keep this machine's own (rehearsal)
  for f in "$P"/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/nvidia/share/vulkan/icd.d/*.json 2>/dev/null | grep -i nvidia | head -1)
if [ -z "$icd" ]; then
  lib=$(ldconfig -p | awk '/libGLX_nvidia.so.0 / { print $NF; exit }')
  if [ -n "$lib" ]; then
    icd=$WORK/nvidia_icd.json
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$lib" > "$icd"
    echo "wrote $icd for $lib"
  fi
fi
if [ -n "$icd" ]; then
  export VK_ICD_FILENAMES=$icd VK_DRIVER_FILES=$icd
  [ "$first_setup" = 1 ] && echo "Vulkan ICD: $icd" && cat "$icd"
elif [ -z "${CASES:-}" ] && [ "${NEED_VULKAN:-1}" = 1 ]; then
  echo "no NVIDIA Vulkan driver found: stopping rather than training on a software Vulkan"
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>&1
  ldconfig -p | grep -i -E 'nvidia|vulkan' | head -20
  exit 3
fi

# The CUDA binary loads libcuda (the driver's) and NVRTC at run time (cudarc, dynamic loading):
# put the directories holding NVRTC (the CUDA toolkit's, or PyTorch's wheel's) on the search path.
# Each folder named on stdin first on LD_LIBRARY_PATH, once (a second sourcing adds nothing).
prepend_lib_path() {
  local d
  while read -r d; do
    case ":${LD_LIBRARY_PATH:-}:" in *":$d:"*) ;; *) LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} ;; esac
  done
}
prepend_lib_path < <(find /usr/local/cuda* /opt/torch -name 'libnvrtc.so*' -not -path '*/stubs/*' -printf '%h\n' 2>/dev/null | sort -u)
# The LibTorch binary links PyTorch's libraries (libtorch_cuda, libtorch_cpu, libc10): the
# machine's PyTorch install's torch/lib, whose own RUNPATH finds cuDNN and cuBLAS.
prepend_lib_path < <(find /opt/torch -name 'libtorch_cuda.so' -path '*/torch/lib/*' -printf '%h\n' 2>/dev/null | head -1)
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
# cubecl-cuda hands NVRTC the toolkit's include folder ($CUDA_PATH/include; without CUDA_PATH it
# tries /usr/local/cuda, /opt/cuda, /usr, and panics where none exists): the toolkit of the nvcc
# on the PATH when those are missing.
if [ -z "${CUDA_PATH:-}" ] && [ ! -d /usr/local/cuda/include ] && command -v nvcc >/dev/null; then
  export CUDA_PATH=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
fi
# The CUDA binary's kernel cache (cubecl's persistence: compiled kernels and autotune decisions,
# under the working folder's target/environment) as an earlier call left it: NVRTC compiles one
# kernel at a time on one core, and a first training step of the reference model did not finish
# in 550 s of it (session 27), so each call goes on from where the last one stopped.
if [ "$first_setup" = 1 ] && [ -f "$P/kernel-cache.tar" ] && [ ! -d target/environment ]; then
  tar -xf "$P/kernel-cache.tar" && echo "kernel cache from an earlier call: $(du -sh target/environment | cut -f1)"
fi
if [ "$first_setup" = 1 ]; then
  echo "train binaries carried: $(cat "$P/features.txt" 2>/dev/null || echo '?')"
  echo "NVRTC search path: ${LD_LIBRARY_PATH:-none found}; CUDA_PATH: ${CUDA_PATH:-unset (/usr/local/cuda: $([ -d /usr/local/cuda/include ] && echo present || echo absent))}"
  step "unpack"
  rm -rf "$WORK/bin"
  python3 -c "import tarfile; tarfile.open('$P/train.tar.xz').extractall('$WORK')" || exit 4
  chmod +x "$WORK"/bin/*
  # The one GPU binary (features `cuda tch`; not named train-*, which the scripts take as one
  # backend each) under the name of each backend it was carried for.
  if [ -f "$WORK/bin/gpu-train" ]; then
    for be in $(cat "$P/features.txt"); do
      case $be in cuda | libtorch) ln -sfn gpu-train "$WORK/bin/train-$be" ;; esac
    done
  fi
  touch "$WORK/bin/.unpacked"
fi

# The backend a carried binary runs: `train-cuda` burn's CUDA backend, `train-libtorch` burn's
# LibTorch backend on CUDA, the others wgpu.
backend_of() { case "$(basename "$1")" in *cuda*) echo cuda ;; *libtorch*) echo libtorch ;; *) echo wgpu ;; esac; }
# The GPU's load (`nvidia-smi dmon`, $2 one-second samples) $1 seconds from now, in the
# background, labelled $3: low SM use while runs train means they wait on the CPU side (data,
# kernel launches, syncs), not on the GPU.
gpu_load_after() { (sleep "$1"; echo "== GPU load $3 (nvidia-smi dmon)"; nvidia-smi dmon -s u -c "$2" 2>&1) & }
# Waits for each process named, their exit statuses in order in the array `rcs`.
wait_each() {
  rcs=()
  local p
  for p in "$@"; do wait "$p"; rcs+=($?); done
}
# The figure `what` (train or inference) of a `train bench` / torch_unet.py line "… train X img/s,
# inference Y img/s" on stdin; nothing where the line has none.
img_rate() { sed -n "s/.*$1 \([0-9.]*\) img\/s.*/\1/p"; }
