//! The `pushgate` command: run the server, print its config, and talk to a running server over gRPC.
//! The command line itself lives in `cli/`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
