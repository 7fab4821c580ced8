#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pingyi::allocator::return_freed_pages_at_once();
    pingyi::cli::main()
}
