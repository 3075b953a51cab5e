//! The pages in `www/` (a link to the repository's `www/`) are embedded in the executable; this makes
//! cargo rebuild when a file there is added or removed, not only when an embedded one changes.

fn main() {
    println!("cargo:rerun-if-changed=www");
}
