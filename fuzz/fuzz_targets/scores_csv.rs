#![no_main]
// brainseg::untrusted::scores_csv on arbitrary bytes (see that module for what it covers).
libfuzzer_sys::fuzz_target!(|data: &[u8]| brainseg::untrusted::scores_csv(data));
