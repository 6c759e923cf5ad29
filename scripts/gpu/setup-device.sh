# Sourced by device.sh and bench.sh on the GPU machine (P, WORK, and a `step` function set):
# shows the GPU, sets up Vulkan for the WGSL binary and the CUDA libraries for the CUDA one, and
# unpacks the carried `train` binaries into $WORK/bin. Without an NVIDIA Vulkan driver it stops
# (exit 3) unless NEED_VULKAN=0 (bench.sh: the CUDA binary and PyTorch need none) or CASES is set
# (a rehearsal on lavapipe).
step "GPU and Vulkan"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "(no nvidia-smi)"
# The loader and libglvnd, unpacked over / (as the device README advises; they are plain
# libraries), then the NVIDIA ICD: the image's, the driver mount's, or one written for the
# driver's libGLX_nvidia.
if [ -d "$P/gl" ] && [ "${GL:-1}" = 1 ]; then  # GL=0: keep this machine's own (rehearsal)
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
  echo "Vulkan ICD: $icd"
  cat "$icd"
elif [ -z "${CASES:-}" ] && [ "${NEED_VULKAN:-1}" = 1 ]; then
  echo "no NVIDIA Vulkan driver found: stopping rather than training on a software Vulkan"
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>&1
  ldconfig -p | grep -i -E 'nvidia|vulkan' | head -20
  exit 3
fi

echo "train binaries carried: $(cat "$P/features.txt" 2>/dev/null || echo '?')"

# The CUDA binary loads libcuda (the driver's) and NVRTC at run time (cudarc, dynamic loading):
# put the directories holding NVRTC (the CUDA toolkit's, or PyTorch's wheel's) on the search path.
for d in $(find /usr/local/cuda* /opt/torch -name 'libnvrtc.so*' -printf '%h\n' 2>/dev/null | sort -u); do
  LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
done
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
echo "NVRTC search path: ${LD_LIBRARY_PATH:-none found}"

step "unpack"
rm -rf "$WORK/bin"
python3 -c "import tarfile; tarfile.open('$P/train.tar.xz').extractall('$WORK')" || exit 4
chmod +x "$WORK"/bin/train-*

# The backend a carried binary runs: `train-cuda` burn's CUDA backend, the others wgpu.
backend_of() { case "$(basename "$1")" in *cuda*) echo cuda ;; *) echo wgpu ;; esac; }
