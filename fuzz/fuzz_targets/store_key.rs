#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry::fuzz::store_key(data));
