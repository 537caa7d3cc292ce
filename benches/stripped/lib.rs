//! Empty: the bench is in `benches/stripped.rs`.
