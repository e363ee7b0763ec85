//! The pipevideo command: generate videos, wait for them, inspect usage, verify webhooks.
#![forbid(unsafe_code)]

fn main() {}
