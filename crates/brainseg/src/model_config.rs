//! What a model is, as `model.json` and the CLI name it: architecture, width, levels. Free of
//! burn, so that the page (which shows manifests but runs no model) is built without it; the
//! layers themselves are in [`crate::model`] (the `model` feature).

use serde::{Deserialize, Serialize};

/// Most down-sampling levels a model may have.
pub const MAX_LEVELS: usize = 6;
/// Widest base width accepted: 8× the reference's f=32. Wider would need gigabytes of weights,
/// so a manifest asking for it is refused rather than allowed to exhaust memory.
pub const MAX_WIDTH: usize = 256;

/// Most neighbouring slices a model may see on each side (`ModelConfig::context`).
pub const MAX_CONTEXT: usize = 4;

/// Why a model configuration is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("unknown architecture {0:?} (known: unet, resunet, resnext-unet, fpn)")]
    UnknownArch(String),
    #[error(
        "width must be positive and levels 1 to {MAX_LEVELS} (got width {width}, levels {levels})"
    )]
    Shape { width: usize, levels: usize },
    #[error("width {0} is above the widest supported, {MAX_WIDTH}")]
    TooWide(usize),
    #[error(
        "resnext-unet: cardinality {cardinality} must divide the width {width} and half a max width"
    )]
    Cardinality { cardinality: usize, width: usize },
    #[error("context {0} is above the most neighbouring slices a side supported, {MAX_CONTEXT}")]
    Context(usize),
    #[error("max width {max_width} must be 0 (no cap) or at least the width {width}")]
    MaxWidth { max_width: usize, width: usize },
}

/// Architecture names, as the CLI and `model.json` spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    Unet,
    Resunet,
    ResnextUnet,
    Fpn,
}

impl Arch {
    pub const ALL: [Arch; 4] = [Arch::Unet, Arch::Resunet, Arch::ResnextUnet, Arch::Fpn];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Unet => "unet",
            Arch::Resunet => "resunet",
            Arch::ResnextUnet => "resnext-unet",
            Arch::Fpn => "fpn",
        }
    }
}

impl std::str::FromStr for Arch {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        Arch::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| ModelError::UnknownArch(s.to_string()))
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The normalisation after every convolution of the encoder, decoder and heads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Norm {
    /// Batch normalisation (the reference's): the training batch's statistics while training,
    /// their running averages at inference.
    #[default]
    Batch,
    /// Instance normalisation (nnU-Net's): each slice's own per-channel statistics, in training
    /// and at inference alike. The running averages batch norm uses at inference come from
    /// lesion-weighted training batches, not from the volume being segmented; per-volume
    /// statistics at inference (AdaBN, docs/cv) moved faint-lesion patients a lot, both ways.
    /// Same parameters (γ, β) as batch norm, so the layout of the weights is unchanged.
    Instance,
}

impl Norm {
    pub const ALL: [Norm; 2] = [Norm::Batch, Norm::Instance];

    pub fn name(self) -> &'static str {
        match self {
            Norm::Batch => "batch",
            Norm::Instance => "instance",
        }
    }

    fn is_batch(&self) -> bool {
        *self == Norm::Batch
    }
}

impl std::str::FromStr for Norm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Norm::ALL
            .into_iter()
            .find(|n| n.name() == s)
            .ok_or_else(|| format!("unknown normalisation {s:?} (known: batch, instance)"))
    }
}

impl std::fmt::Display for Norm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn default_levels() -> usize {
    4
}
fn default_cardinality() -> usize {
    8
}

/// Everything needed to build a model with the same parameter layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub arch: Arch,
    /// Base width f (channels of the first level).
    pub width: usize,
    /// Down-sampling levels; inputs must be divisible by `2^levels`.
    #[serde(default = "default_levels")]
    pub levels: usize,
    /// Groups of the grouped 3×3 convolutions (`resnext-unet` only).
    #[serde(default = "default_cardinality")]
    pub cardinality: usize,
    /// 2.5-D input: the FLAIR channel of this many neighbouring slices on each side is stacked
    /// after a slice's own 3 channels (lesions are 3-D; a slice alone does not show where one
    /// ends). 0, the reference's: the slice alone. Absent from manifests when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub context: usize,
    /// The normalisation layers. Absent from manifests when batch norm (every model before it
    /// existed).
    #[serde(default, skip_serializing_if = "Norm::is_batch")]
    pub norm: Norm,
    /// Widest level: level i has `min(width · 2^i, max_width)` channels; 0, no cap (every model
    /// before it existed, and absent from manifests then). A fifth level at 256² doubles the
    /// receptive field for the page's budget only if it does not also double the deepest
    /// width (512 channels at f=16 are 3.5 M of a 4.9 M-parameter FPN).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_width: usize,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl ModelConfig {
    pub fn new(arch: Arch, width: usize) -> Self {
        Self {
            arch,
            width,
            levels: default_levels(),
            cardinality: default_cardinality(),
            context: 0,
            norm: Norm::Batch,
            max_width: 0,
        }
    }

    /// f · 2^i, level i's width without the cap. Saturates, so an unvalidated config cannot
    /// overflow.
    fn uncapped_width(&self, i: usize) -> usize {
        u32::try_from(i)
            .ok()
            .and_then(|i| self.width.checked_shl(i))
            .filter(|w| w >> i == self.width)
            .unwrap_or(usize::MAX)
    }

    /// Channels of level i (0: the full-resolution level; f · 2^i up to `max_width`).
    pub fn level_width(&self, i: usize) -> usize {
        let w = self.uncapped_width(i);
        if self.max_width == 0 {
            w
        } else {
            w.min(self.max_width)
        }
    }

    /// Whether the cap narrows any level (the deepest, the widest, is narrowed first).
    pub fn caps_a_level(&self) -> bool {
        self.max_width != 0 && self.max_width < self.uncapped_width(self.levels)
    }

    /// Widths of levels 0 to `levels` (the U-Net's bottleneck and the FPN's deepest encoder).
    pub fn level_widths(&self) -> Vec<usize> {
        (0..=self.levels).map(|i| self.level_width(i)).collect()
    }

    /// Channels of the model's input: the slice's 3, then one FLAIR plane per neighbour.
    pub fn in_channels(&self) -> usize {
        crate::preprocess::CHANNELS + 2 * self.context
    }

    /// Checks every field before anything is built from them (a manifest is user input).
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.width == 0 || self.levels == 0 || self.levels > MAX_LEVELS {
            return Err(ModelError::Shape {
                width: self.width,
                levels: self.levels,
            });
        }
        if self.width > MAX_WIDTH {
            return Err(ModelError::TooWide(self.width));
        }
        if self.context > MAX_CONTEXT {
            return Err(ModelError::Context(self.context));
        }
        if self.max_width != 0 && self.max_width < self.width {
            return Err(ModelError::MaxWidth {
                max_width: self.max_width,
                width: self.width,
            });
        }
        if self.arch == Arch::ResnextUnet {
            // Bottleneck widths are half of each stage's output width: f, 2f, … and, under a
            // cap, half the cap.
            if self.cardinality == 0
                || !self.width.is_multiple_of(self.cardinality)
                || (self.max_width != 0 && !self.max_width.is_multiple_of(2 * self.cardinality))
            {
                return Err(ModelError::Cardinality {
                    cardinality: self.cardinality,
                    width: self.width,
                });
            }
        }
        Ok(())
    }

    /// Input sides must be multiples of this (2^levels). Saturates instead of overflowing for
    /// levels no valid model has, so a side check on an unvalidated config fails cleanly.
    pub fn size_multiple(&self) -> usize {
        u32::try_from(self.levels)
            .ok()
            .and_then(|l| 1usize.checked_shl(l))
            .unwrap_or(usize::MAX)
    }
}
