//! Links libwasmedge, searching `WASMEDGE_LIB_DIR` first when it is set
//! (the workspace's `.cargo/config.toml` points it at Debian's multiarch
//! library directory).

fn main() {
    println!("cargo:rerun-if-env-changed=WASMEDGE_LIB_DIR");
    if let Some(dir) = std::env::var_os("WASMEDGE_LIB_DIR") {
        println!("cargo:rustc-link-search=native={}", dir.to_string_lossy());
    }
    println!("cargo:rustc-link-lib=dylib=wasmedge");
}
