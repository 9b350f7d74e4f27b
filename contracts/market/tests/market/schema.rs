//! The committed `schema/` must be what the messages generate today.

use std::path::{Path, PathBuf};
use std::process::Command;

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn committed_schema_is_fresh() {
    let fresh = std::env::temp_dir().join(format!("agora-schema-{}", std::process::id()));
    std::fs::create_dir_all(&fresh).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_schema"))
        .current_dir(&fresh)
        .output()
        .unwrap();
    assert!(status.status.success());
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema");
    let fresh = fresh.join("schema");
    assert_eq!(files(&committed), files(&fresh), "schema files differ");
    for file in files(&fresh) {
        // Not assert_eq: the files are long, the file name says enough.
        assert!(
            std::fs::read_to_string(committed.join(&file)).unwrap()
                == std::fs::read_to_string(fresh.join(&file)).unwrap(),
            "schema/{} is stale: run `cargo run -p agora-market --bin schema`",
            file.display()
        );
    }
}
