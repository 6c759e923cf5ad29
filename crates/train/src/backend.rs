//! Backend selection at run time. No code path depends on the backend beyond building the
//! `Device`, so every backend trains the same model with the same code.

use anyhow::{Result, bail};
use burn::prelude::Device;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Pure-Rust CPU backend (burn-flex, multi-threaded with rayon, SIMD).
    Flex,
    /// WGPU (Vulkan natively; Mesa lavapipe works without a GPU).
    Wgpu,
    /// CUDA (build with `--features cuda`; at run time it needs an NVIDIA driver and NVRTC).
    Cuda,
    /// LibTorch on the first CUDA GPU (build with `--features tch`; at run time it needs
    /// PyTorch's `torch/lib` on LD_LIBRARY_PATH and an NVIDIA driver).
    Libtorch,
    /// LibTorch on the CPU (build with `--features tch`): checks a LibTorch build on a machine
    /// without a GPU, and PyTorch's CPU kernels beside flex's.
    #[serde(rename = "libtorch-cpu")]
    LibtorchCpu,
}

pub fn device(backend: Backend) -> Result<Device> {
    match backend {
        Backend::Flex => Ok(Device::flex()),
        Backend::Wgpu => wgpu_device(),
        Backend::Cuda => cuda_device(),
        Backend::Libtorch => libtorch_device(),
        Backend::LibtorchCpu => libtorch_cpu_device(),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    let (device, setup) = Device::wgpu_options()
        .init_with_setup()
        .map_err(|e| anyhow::anyhow!("no WGPU adapter could be initialised ({e:?}); on a machine without a GPU install a Vulkan driver (Debian: mesa-vulkan-drivers)"))?;
    // Which adapter wgpu picked is what a run's speed depends on first (a GPU, or a software
    // Vulkan such as lavapipe), so every wgpu run says it in its log.
    let info = setup.adapter.get_info();
    eprintln!(
        "wgpu adapter: {} ({:?}, {:?}; driver {} {}); kernels: {}",
        info.name,
        info.device_type,
        info.backend,
        info.driver,
        info.driver_info,
        kernel_options()
    );
    Ok(device)
}

/// The burn features this binary's GPU kernels were built with: without `autotune` burn-cubecl
/// runs every convolution (and its gradients) as a direct kernel, which on an H200 trained no
/// faster than two CPU cores (docs/gpu.md).
#[cfg(feature = "wgpu")]
fn kernel_options() -> &'static str {
    // cubecl chooses SPIR-V at run time only on a Vulkan adapter with the features it needs.
    if cfg!(feature = "vulkan") {
        "SPIR-V (WGSL where the adapter lacks its features), autotuned, fused"
    } else {
        "WGSL, autotuned, fused"
    }
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    bail!("this `train` was built without the `wgpu` feature")
}

/// The CUDA device, once what it needs is known to be there: cudarc, through which burn's CUDA
/// backend loads the driver and NVRTC, panics on the first kernel when either is missing.
#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device> {
    use cudarc::driver::result as driver;
    let names = |lib: &str| {
        let names = cudarc::get_lib_name_candidates(lib);
        format!("{} or {} other names", names[0], names.len() - 1)
    };
    // SAFETY: loading a shared library runs its initialisers; these are the libraries the CUDA
    // backend loads next in any case.
    let (has_driver, has_nvrtc) = unsafe {
        (
            cudarc::driver::sys::is_culib_present(),
            cudarc::nvrtc::sys::is_culib_present(),
        )
    };
    if !has_driver {
        bail!(
            "--backend cuda: the NVIDIA driver's library ({}) does not load: no NVIDIA driver \
             on this machine, or its folder is not on LD_LIBRARY_PATH",
            names("cuda")
        );
    }
    if !has_nvrtc {
        bail!(
            "--backend cuda: NVRTC, CUDA's run-time compiler ({}), does not load: put the CUDA \
             toolkit's lib folder on LD_LIBRARY_PATH (scripts/gpu/setup-device.sh does on the GPU \
             machine)",
            names("nvrtc")
        );
    }
    driver::init()
        .map_err(|e| anyhow::anyhow!("--backend cuda: the NVIDIA driver does not start: {e:?}"))?;
    let gpus = driver::device::get_count()
        .map_err(|e| anyhow::anyhow!("--backend cuda: cannot count the GPUs: {e:?}"))?;
    if gpus < 1 {
        bail!("--backend cuda: the NVIDIA driver sees no GPU");
    }
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device> {
    bail!(
        "this `train` was built without the `cuda` feature (cargo build -p train --features cuda)"
    )
}

/// LibTorch's CUDA device, once LibTorch sees a GPU (burn-tch would panic on the first tensor).
/// The binary links libtorch_cuda.so (tch's wrapper names two of its symbols), so a machine
/// without PyTorch's libraries on LD_LIBRARY_PATH stops at start with the loader's message.
#[cfg(feature = "tch")]
fn libtorch_device() -> Result<Device> {
    if !tch::Cuda::is_available() {
        bail!("--backend libtorch: LibTorch sees no CUDA GPU (no NVIDIA driver, or no GPU)");
    }
    eprintln!(
        "libtorch: {} CUDA GPU(s), cuDNN {}",
        tch::Cuda::device_count(),
        if tch::Cuda::cudnn_is_available() {
            "available"
        } else {
            "not available"
        }
    );
    // cuDNN's autotuner picks each convolution's algorithm on its first shapes, as PyTorch's
    // reference run does (torch.backends.cudnn.benchmark = True).
    tch::Cuda::cudnn_set_benchmark(true);
    #[allow(deprecated)] // burn-tch is deprecated upstream; it is the GPU path that trains here
    Ok(Device::libtorch_cuda(0))
}

#[cfg(feature = "tch")]
fn libtorch_cpu_device() -> Result<Device> {
    #[allow(deprecated)] // as above
    Ok(Device::libtorch())
}

#[cfg(not(feature = "tch"))]
fn libtorch_cpu_device() -> Result<Device> {
    libtorch_device()
}

#[cfg(not(feature = "tch"))]
fn libtorch_device() -> Result<Device> {
    bail!(
        "this `train` was built without the `tch` feature (source scripts/gpu/libtorch.sh, then \
         cargo build -p train --features tch)"
    )
}
