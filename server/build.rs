//! Link-time layout of the server binary.
//!
//! `link/startup.order` lists the functions that run from exec to an idle
//! server (`tests/bench/startup-order.sh` writes it). The linker puts them
//! first and together, so an idle server has a few hundred KB of its code
//! in memory instead of the ~10 MB that the kernel's fault-around brings
//! in when those functions are spread over the whole text. Only with LLD,
//! Rust's own linker on x86_64 Linux since 1.90 (names the file lists that
//! a build does not have are skipped); `CODEGENIE_NO_SYMBOL_ORDER=1` turns
//! it off.

use std::process::Command;

fn main() {
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("link/startup.order");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-env-changed=CODEGENIE_NO_SYMBOL_ORDER");
    if order.exists() && links_with_lld() && std::env::var_os("CODEGENIE_NO_SYMBOL_ORDER").is_none() {
        println!("cargo:rustc-link-arg-bin=codegenie=-Wl,--symbol-ordering-file={}", order.display());
        println!("cargo:rustc-link-arg-bin=codegenie=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether the binary is linked by Rust's LLD: the x86_64 Linux target with
/// rustc 1.90 or later, and no linker chosen in the flags.
fn links_with_lld() -> bool {
    let target = std::env::var("TARGET").unwrap_or_default();
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" || flags.contains("linker") {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let Ok(out) = Command::new(rustc).arg("--version").output() else { return false };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let version = String::from_utf8_lossy(&out.stdout);
    let mut parts = version.split_whitespace().nth(1).unwrap_or_default().split('.');
    let (major, minor) =
        (parts.next().and_then(|p| p.parse::<u32>().ok()), parts.next().and_then(|p| p.parse::<u32>().ok()));
    matches!((major, minor), (Some(1), Some(m)) if m >= 90) || matches!(major, Some(n) if n > 1)
}
