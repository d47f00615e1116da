fn main() -> std::process::ExitCode {
    sigharness::cli::main()
}
