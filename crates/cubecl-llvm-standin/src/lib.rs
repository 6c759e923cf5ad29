//! brainseg's offline stand-in for `cubecl-llvm` 0.11.3: the items `cubecl-cuda` 0.11.3 names
//! (`PlironCompiler`, `PlironOptions`, `PlironArtifact`, `NvptxModule`, `LlvmTarget`,
//! `nvptx::ptx_version::PtxVersion`, `shared::lowered_features`), with the same shapes, and no
//! LLVM behind them. The CUDA backend is built with `cubecl/cuda-cpp`, so every kernel goes
//! through CUDA C++ and NVRTC; should anything still ask for the LLVM path, compilation fails
//! with an error naming this crate instead of running something else.

use cubecl_core::ir::DeviceProperties;
#[cfg(feature = "nvptx")]
use cubecl_core::ir::nvidia::SmArch;
use cubecl_core::prelude::KernelDefinition;
use cubecl_environment::backtrace::BackTrace;
use cubecl_runtime::compiler::{CompilationError, Compiler};
use cubecl_runtime::kernel::BufferIOAttr;

/// Which LLVM target a [`PlironCompiler`] would emit for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LlvmTarget {
    #[default]
    Cpu,
    #[cfg(feature = "nvptx")]
    Nvptx,
}

/// The LLVM compiler's handle: it compiles nothing here.
#[derive(Clone, Debug, Default)]
pub struct PlironCompiler {
    pub target: LlvmTarget,
}

/// The options `cubecl-cuda` fills in for the LLVM path (same fields as the real crate's that
/// it names; the rest behind `..Default::default()`).
#[derive(Clone, Debug, Default)]
pub struct PlironOptions {
    pub cpu_buffer_alignment: Option<u32>,
    pub arch: Option<()>,
    #[cfg(feature = "nvptx")]
    pub sm_arch: Option<SmArch>,
    #[cfg(feature = "nvptx")]
    pub ptx_version: Option<nvptx::ptx_version::PtxVersion>,
    pub grid_constants: bool,
}

/// A compiled PTX module, as the CUDA runtime loads it.
#[cfg(feature = "nvptx")]
#[derive(Clone, Debug)]
pub struct NvptxModule {
    /// NUL-terminated PTX assembly.
    pub ptx: Vec<core::ffi::c_char>,
    pub entrypoint: String,
    pub ir: String,
    pub shared_memory_size: usize,
    pub io: Vec<BufferIOAttr>,
}

/// What the LLVM compiler would produce. `Unavailable` stands for the real crate's CPU JIT
/// engine, which needs LLVM too.
#[derive(Clone, Debug)]
pub enum PlironArtifact {
    Unavailable,
    #[cfg(feature = "nvptx")]
    NvptxCode(NvptxModule),
}

impl core::fmt::Display for PlironArtifact {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlironArtifact::Unavailable => f.write_str("(no LLVM in this build)"),
            #[cfg(feature = "nvptx")]
            PlironArtifact::NvptxCode(module) => f.write_str(&module.ir),
        }
    }
}

/// Why every compilation fails: said where the error surfaces (a kernel launch).
pub const NO_LLVM: &str = "cubecl-llvm is brainseg's offline stand-in (crates/cubecl-llvm-standin): \
     no LLVM backend in this build; the CUDA backend runs CUDA C++ through NVRTC (cubecl/cuda-cpp)";

impl Compiler for PlironCompiler {
    type Representation = PlironArtifact;
    type CompilationOptions = PlironOptions;

    fn compile(
        &mut self,
        _kernel: KernelDefinition,
        _options: &Self::CompilationOptions,
    ) -> Result<Self::Representation, CompilationError> {
        Err(CompilationError::Generic {
            reason: NO_LLVM.to_string(),
            backtrace: BackTrace::capture(),
        })
    }

    fn extension(&self) -> &'static str {
        "ll"
    }

    fn lang_tag(&self) -> &'static str {
        "llvm"
    }
}

pub mod nvptx {
    pub mod ptx_version {
        use core::fmt;

        /// A PTX ISA version (`ptx87` is 8.7), as the real crate derives it from the driver.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct PtxVersion(u32);

        impl PtxVersion {
            /// The newest PTX version a driver (`12080` = CUDA 12.8) loads. Only the LLVM path
            /// reads it, but cubecl-cuda computes it for every device.
            pub fn for_driver(driver: i32) -> Option<Self> {
                DRIVER_PTX
                    .iter()
                    .find(|(first_driver, _)| driver >= *first_driver)
                    .map(|(_, ptx)| Self(*ptx))
            }
        }

        impl fmt::Display for PtxVersion {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "ptx{}", self.0)
            }
        }

        /// The real crate's table (cubecl-llvm 0.11.3, `nvptx/ptx_version.rs`).
        const DRIVER_PTX: &[(i32, u32)] = &[
            (13030, 93),
            (13020, 92),
            (13010, 91),
            (13000, 90),
            (12090, 88),
            (12080, 87),
            (12050, 85),
            (12040, 84),
            (12030, 83),
            (12020, 82),
            (12010, 81),
            (12000, 80),
            (11080, 78),
            (11070, 77),
            (11060, 76),
            (11050, 75),
            (11040, 74),
            (11030, 73),
            (11020, 72),
            (11010, 71),
            (11000, 70),
            (10020, 65),
            (10010, 64),
            (10000, 63),
        ];
    }
}

pub mod shared {
    pub mod lowered_features {
        use super::super::DeviceProperties;

        /// The LLVM targets whose lowering narrows a device's advertised features.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum GpuTarget {
            #[cfg(feature = "nvptx")]
            Nvptx,
        }

        /// cubecl-cuda calls this only when the LLVM path is its backend, which the `cuda-cpp`
        /// build never selects: the device keeps every feature the C++ backend advertises.
        pub fn restrict_features(_props: &mut DeviceProperties, _target: GpuTarget) {}
    }
}

#[cfg(all(test, feature = "nvptx"))]
mod tests {
    use super::nvptx::ptx_version::PtxVersion;

    #[test]
    fn a_driver_gets_the_newest_version_it_loads() {
        assert_eq!(PtxVersion::for_driver(13000).unwrap().to_string(), "ptx90");
        assert_eq!(PtxVersion::for_driver(12060).unwrap().to_string(), "ptx85");
        assert_eq!(PtxVersion::for_driver(8000), None);
    }
}
