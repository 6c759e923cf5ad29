#![no_main]
// brainseg::untrusted::slice_tiff on arbitrary bytes (see that module for what it covers).
libfuzzer_sys::fuzz_target!(|data: &[u8]| brainseg::untrusted::slice_tiff(data));
