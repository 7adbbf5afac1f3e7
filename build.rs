//! Stamps the build time into the binary: the daemon refuses to set its clock to a time before
//! it (a cloud or a technician with a wrong date would otherwise expire or revive persons).
//! Reproducible builds set SOURCE_DATE_EPOCH; otherwise the time this script first ran, which
//! is never later than the build, so the bound never refuses a true time.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let built = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    println!("cargo:rustc-env=FACEGATE_BUILT_UNIX_S={built}");
}
