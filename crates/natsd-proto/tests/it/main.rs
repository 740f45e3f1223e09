#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chunking;
mod corpus;
mod parser;
