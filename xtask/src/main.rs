//! Maintainer automation: cargo xtask ci, release, bump-check.
#![forbid(unsafe_code)]

fn main() {}
