#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry::fuzz::handoff(data));
