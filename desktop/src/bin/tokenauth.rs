//! `tokenauth`: API tokens kept in the OS keychain, handed to scripts (see `cli.rs`).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(u8::try_from(tokenauth_desktop::cli::main()).unwrap_or(1))
}
