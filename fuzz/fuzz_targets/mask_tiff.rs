#![no_main]
// brainseg::untrusted::mask_tiff on arbitrary bytes (see that module for what it covers).
libfuzzer_sys::fuzz_target!(|data: &[u8]| brainseg::untrusted::mask_tiff(data));
