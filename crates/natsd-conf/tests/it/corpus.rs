//! Config files on disk: the syntax corpus must parse, the malformed files must fail with a
//! position, and every input the fuzzer kept must parse or fail without panicking.

use std::path::{Path, PathBuf};

use natsd_conf::parse_file;

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn syntax_corpus_parses() {
    let files: Vec<_> = files("tests/conf/valid")
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    assert!(files.len() >= 8, "only {} files", files.len());
    for file in files {
        if let Err(error) = parse_file(&file) {
            panic!("{}: {error}", file.display());
        }
    }
}

#[test]
fn malformed_files_fail_with_a_position() {
    let files = files("tests/conf/invalid");
    assert!(files.len() >= 8, "only {} files", files.len());
    for file in files {
        match parse_file(&file) {
            Ok(map) => panic!("{} parsed: {map:?}", file.display()),
            Err(error) => {
                let pos = error
                    .pos()
                    .unwrap_or_else(|| panic!("{}: {error}", file.display()));
                assert!(pos.line >= 1 && pos.column >= 1, "{error}");
                assert!(error.to_string().contains(".conf:"), "{error}");
            }
        }
    }
}

#[test]
fn fuzz_corpus_replays() {
    let inputs = files("../../fuzz/corpus/conf");
    assert!(
        inputs.len() >= 10,
        "corpus has only {} inputs",
        inputs.len()
    );
    for input in inputs {
        let bytes = std::fs::read(&input).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let _ = natsd_conf::parse_str(&text, &crate::FakeHost::default());
    }
}
