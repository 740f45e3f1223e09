//! Integration tests of the crate as a whole.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod layers;
