//! `kassa-loadgen`: the load generator (not built yet; see issue "kassa-loadgen and benchmarks").

fn main() {
    eprintln!("kassa-loadgen is not implemented yet; see BENCHMARKS.md for the criterion benches");
    std::process::exit(2);
}
