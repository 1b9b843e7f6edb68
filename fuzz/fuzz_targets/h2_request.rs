#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_cli::fuzz::h2_request(data));
