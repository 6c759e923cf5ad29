//! Backend selection at run time. No code path depends on the backend beyond building the
//! `Device`, so every backend trains the same model with the same code.

use anyhow::{Result, bail};
use burn::prelude::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
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
    Device::wgpu_options()
        .init()
        .map_err(|e| anyhow::anyhow!("no WGPU adapter could be initialised ({e:?}); on a machine without a GPU install a Vulkan driver (Debian: mesa-vulkan-drivers)"))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    bail!("this `train` was built without the `wgpu` feature")
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device> {
    bail!("this `train` was built without the `cuda` feature (cargo build --release -p train --features cuda)")
}
