fn main() -> std::process::ExitCode {
    pingyi::cli::main()
}
