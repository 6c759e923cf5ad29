#![no_main]
// brainseg::untrusted::manifest on arbitrary bytes (see that module for what it covers).
libfuzzer_sys::fuzz_target!(|data: &[u8]| brainseg::untrusted::manifest(data));
