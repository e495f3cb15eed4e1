//! `sqlx::migrate!` embeds the migration files at compile time; without this, adding or changing
//! one would not rebuild the binary, and a stale build would run old migrations.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
