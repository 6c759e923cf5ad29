#![no_main]
// brainseg::untrusted::weights: arbitrary bytes as the .bpk weights of a small U-Net.
use std::sync::LazyLock;
static DEVICE: LazyLock<burn::prelude::Device> = LazyLock::new(burn::prelude::Device::flex);
libfuzzer_sys::fuzz_target!(|data: &[u8]| brainseg::untrusted::weights(data, &DEVICE));
