//! The crate's modules form layers: each may use only the modules below it, so no two
//! import each other, and what comes next (routes, leaf nodes, JetStream) has a clear
//! place. The order here is the one `lib.rs` describes.

use std::collections::BTreeSet;
use std::path::Path;

/// Lowest first.
const LAYERS: &[&str] = &[
    "log",
    "tls",
    "timefmt",
    "jwt_store",
    "account_config",
    "options",
    "config",
    "info",
    "conn",
    "subscription",
    "account",
    "delivery",
    "internal",
    "client_conn",
    "stats",
    "jetstream",
    "server",
    "monitor",
    "imports",
    "reload",
    "resolver",
    "client",
    "listener",
];

/// The top-level modules that `text` names as `crate::<module>`.
fn uses(text: &str) -> BTreeSet<String> {
    text.match_indices("crate::")
        .map(|(at, _)| {
            text[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Every source file with the top-level module it belongs to.
fn sources(dir: &Path, module: Option<&str>, found: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let owner = module.map_or_else(|| name.clone(), str::to_owned);
        if path.is_dir() {
            sources(&path, Some(&owner), found);
        } else if path.extension().is_some_and(|e| e == "rs") && owner != "lib" {
            found.push((owner, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        None,
        &mut files,
    );
    assert!(files.len() > LAYERS.len(), "too few files found");
    let rank = |module: &str| LAYERS.iter().position(|m| *m == module);
    let mut wrong = Vec::new();
    for (module, text) in &files {
        let Some(own) = rank(module) else {
            wrong.push(format!("{module} is not in LAYERS"));
            continue;
        };
        for used in uses(text) {
            match rank(&used) {
                Some(theirs) if theirs < own || used == *module => {}
                Some(_) => wrong.push(format!("{module} uses {used}, which is above it")),
                None => wrong.push(format!("{module} uses {used}, which is not in LAYERS")),
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn uses_are_found_in_paths_and_imports() {
    let found = uses("use crate::conn::Conn;\nfn f() { crate::log::x(); crate::conn::y(); }");
    assert_eq!(found.into_iter().collect::<Vec<_>>(), ["conn", "log"]);
}
