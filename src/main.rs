fn main() -> std::process::ExitCode {
    vieagent::cli::main()
}
