#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry::check::fuzz_request(data));
