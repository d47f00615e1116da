//! Embeds every file under `data/` and `keys/` into the crate (see `VectorSet::builtin`), so adding a
//! vector file needs no Rust change: the list is generated here at build time.
use std::{env, fmt::Write as _, fs, path::Path};

fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn main() {
    let root = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&root);
    println!("cargo:rerun-if-changed=data");
    println!("cargo:rerun-if-changed=keys");
    let mut out = String::new();
    out.push_str("pub(crate) static BUILTIN_DATA: &[(&str, &str)] = &[\n");
    for n in list(&root.join("data"))
        .iter()
        .filter(|n| n.ends_with(".json"))
    {
        let p = root.join("data").join(n);
        writeln!(
            out,
            "    ({n:?}, include_str!({:?})),",
            p.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\npub(crate) static BUILTIN_KEYS: &[(&str, &[u8])] = &[\n");
    for n in list(&root.join("keys")) {
        let p = root.join("keys").join(&n);
        writeln!(
            out,
            "    ({n:?}, include_bytes!({:?})),",
            p.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("builtin.rs");
    fs::write(dest, out).expect("write builtin.rs");
}
