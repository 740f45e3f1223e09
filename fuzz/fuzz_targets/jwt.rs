//! User JWTs as a client presents them in CONNECT (see `jwt_check`). Run with
//! `cargo fuzz run jwt` from this directory; `corpus/jwt` is replayed by a plain test.
#![no_main]

mod jwt_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = jwt_check::check(data);
});
