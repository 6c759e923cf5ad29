//! `--precision` of `train ship` and `train cv-ensemble`: the core's `Precision`, which knows
//! nothing of clap, less f32 (what training writes: nothing to convert).

use brainseg::manifest::Precision;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoredPrecision {
    F16,
    Q8,
    Q4,
}

impl From<StoredPrecision> for Precision {
    fn from(p: StoredPrecision) -> Self {
        match p {
            StoredPrecision::F16 => Precision::F16,
            StoredPrecision::Q8 => Precision::Q8,
            StoredPrecision::Q4 => Precision::Q4,
        }
    }
}
