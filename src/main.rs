/// mimalloc: the profile of a loaded gateway spent ~14 % of its samples in
/// glibc malloc/free; mimalloc gave +17–20 % calls/s at concurrency 64 in
/// an A/B/A/B benchmark (README "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vieagent::cli::main()
}
