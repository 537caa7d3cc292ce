//! Placeholder until the frame-writer example lands (issue 3).
fn main() {}
