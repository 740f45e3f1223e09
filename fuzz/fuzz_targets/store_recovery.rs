//! Arbitrary bytes as a file store block (see `store_check`).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod store_check;

fuzz_target!(|data: &[u8]| {
    let _ = store_check::check(data);
});
