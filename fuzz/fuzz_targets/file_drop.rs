#![no_main]
// brainseg::untrusted::file_drop on arbitrary bytes (see that module for what it covers).
libfuzzer_sys::fuzz_target!(|data: &[u8]| brainseg::untrusted::file_drop(data));
