//! The config parser on arbitrary text: it returns a map or an error, never panics or hangs.
//! Includes and environment variables resolve to nothing, so every input stands alone.
#![no_main]

use std::io;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use natsd_conf::{parse_str, Host};

struct Nothing;

impl Host for Nothing {
    fn read_file(&self, _: &Path) -> io::Result<String> {
        Err(io::Error::new(io::ErrorKind::NotFound, "fuzzing"))
    }

    fn env_var(&self, _: &str) -> Option<String> {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_str(text, &Nothing);
    }
});
