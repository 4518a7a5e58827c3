//! kassa-benches: criterion benchmarks live in `benches/`.
