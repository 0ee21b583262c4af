//! Criterion benches live under `benches/`; this library is empty.
