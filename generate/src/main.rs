//! `make generate`: write every generated file under the repository root.

use std::path::PathBuf;

fn main() -> std::process::ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = match inferwatch_generate::files() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("generate: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    for (path, contents) in files {
        let full = root.join(&path);
        if let Some(dir) = full.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("generate: cannot create {}: {e}", dir.display());
                return std::process::ExitCode::FAILURE;
            }
        }
        if let Err(e) = std::fs::write(&full, contents) {
            eprintln!("generate: cannot write {}: {e}", full.display());
            return std::process::ExitCode::FAILURE;
        }
        println!("wrote {path}");
    }
    std::process::ExitCode::SUCCESS
}
