//! Backend selection at run time. No code path depends on the backend beyond building the
//! `Device`, so every backend trains the same model with the same code.

use anyhow::Result;
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
    /// CUDA (build with `--features cuda`; needs network access at build time).
    Cuda,
}

pub fn device(backend: Backend) -> Result<Device> {
    match backend {
        Backend::Flex => Ok(Device::flex()),
        Backend::Wgpu => wgpu_device(),
        Backend::Cuda => cuda_device(),
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
    anyhow::bail!("this `train` was built without the `wgpu` feature")
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device> {
    anyhow::bail!(
        "this `train` was built without the `cuda` feature (cargo build -p train --features cuda)"
    )
}
