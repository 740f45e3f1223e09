//! Every script in `tests/diff` runs against natsd and the reference nats-server; the
//! masked transcripts must be equal.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use natsd_server::Options;
use natsd_testkit::diff::{self, Script};
use natsd_testkit::process::ServerProcess;
use tokio::sync::Semaphore;

/// Scripts run at the same time (each with its own pair of servers).
const PARALLEL: usize = 4;

/// The config file both servers start from: loopback, a random port, the script's lines.
fn config_text(script: &Script) -> String {
    let mut text = "host: 127.0.0.1\nport: -1\n".to_owned();
    for line in &script.config {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// natsd's settings from that same file.
fn options_for(script: &Script) -> Options {
    natsd_testkit::options_from_config(&config_text(script))
}

fn reference_config(script: &Script, dir: &Path) -> PathBuf {
    let path = dir.join(format!("{}.conf", script.name));
    std::fs::write(&path, config_text(script)).unwrap();
    path
}

async fn compare(reference: PathBuf, script: Script, dir: PathBuf) -> Option<String> {
    let config = reference_config(&script, &dir);
    let args = vec!["-c".to_owned(), config.display().to_string()];
    let process = tokio::task::spawn_blocking(move || ServerProcess::start(&reference, &args))
        .await
        .unwrap()
        .unwrap();
    let ours = natsd_testkit::start(options_for(&script)).await.unwrap();
    let (theirs_out, ours_out) = tokio::join!(
        diff::run(process.addr, &script),
        diff::run(ours.local_addr(), &script)
    );
    ours.shutdown().await;
    drop(process);
    let render = |t: Vec<(char, Vec<u8>)>, side| -> Vec<(char, String)> {
        t.into_iter()
            .map(|(c, bytes)| (c, diff::masked(&bytes, side)))
            .collect()
    };
    let (theirs_out, ours_out) = (
        render(theirs_out.unwrap(), diff::Side::Reference),
        render(ours_out.unwrap(), diff::Side::Natsd),
    );
    if std::env::var_os("NATSD_DIFF_SHOW").is_some() {
        eprintln!("--- {}\n{theirs_out:?}", script.name);
    }
    (theirs_out != ours_out).then(|| {
        format!(
            "--- {} ({})\nnats-server: {theirs_out:?}\nnatsd:       {ours_out:?}\n",
            script.name, script.file
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_match_the_reference_server() {
    let Some(reference) = natsd_testkit::process::reference_for_test() else {
        return;
    };
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/diff");
    let scripts = diff::load_dir(&corpus).unwrap();
    assert!(scripts.len() >= 100, "only {} scripts", scripts.len());
    let dir = std::env::temp_dir().join(format!("natsd-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let filter = std::env::var("NATSD_DIFF_FILTER").unwrap_or_default();

    let limit = Arc::new(Semaphore::new(PARALLEL));
    let mut tasks = Vec::new();
    for script in scripts.into_iter().filter(|s| s.name.contains(&filter)) {
        let permit = Arc::clone(&limit).acquire_owned().await.unwrap();
        let (reference, dir) = (reference.clone(), dir.clone());
        tasks.push(tokio::spawn(async move {
            let result = compare(reference, script, dir).await;
            drop(permit);
            result
        }));
    }
    let total = tasks.len();
    let mut failures = Vec::new();
    for task in tasks {
        if let Some(failure) = task.await.unwrap() {
            failures.push(failure);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "{} of {total} scripts differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
