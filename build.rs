//! The migrations are embedded in the binary (`sqlx::migrate!`): rebuild
//! when one is added or changed, even if no Rust file changed (else a
//! `cargo run` after pulling a new migration would not apply it).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
