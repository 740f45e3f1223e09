//! Smoke runs of every scenario with tiny counts against an in-process server: the figures
//! come out as JSON and the delivery checks pass. No timing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn run(url: &str, args: &[&str], pid: Option<u32>) -> serde_json::Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_natsd-bench"));
    command
        .args(args)
        .args(["--url", url, "--timeout-secs", "30"]);
    if let Some(pid) = pid {
        command.args(["--server-pid", &pid.to_string()]);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_and_verifies_delivery() {
    let server = natsd_testkit::start_default().await.unwrap();
    let url = server.local_addr().to_string();
    let url = url.as_str();
    let me = Some(std::process::id());
    let cases: Vec<(Vec<&str>, u64)> = vec![
        (vec!["pub", "--msgs", "1000"], 0),
        (
            vec!["pubsub", "--msgs", "1000", "--subs", "3", "--pubs", "2"],
            3000,
        ),
        (vec!["queue", "--msgs", "1000", "--members", "3"], 1000),
        (vec!["reqrep", "--msgs", "50", "--size", "64"], 100),
        (
            vec![
                "latency", "--msgs", "200", "--size", "64", "--rate", "10000",
            ],
            200,
        ),
    ];
    for (args, delivered) in cases {
        let figures = tokio::task::spawn_blocking({
            let (url, args) = (url.to_owned(), args.clone());
            move || run(&url, &args, me)
        })
        .await
        .unwrap();
        assert_eq!(figures["verified_exactly_once_in_order"], true, "{args:?}");
        assert_eq!(figures["delivered"], delivered, "{args:?}: {figures}");
        assert!(figures["server_cpu_ns_per_msg"].is_number(), "{figures}");
        if args[0] == "reqrep" || args[0] == "latency" {
            assert!(figures["p99_us"].as_f64().unwrap() > 0.0, "{figures}");
        }
    }
    let conns = tokio::task::spawn_blocking({
        let url = url.to_owned();
        move || run(&url, &["conns", "--conns", "50"], me)
    })
    .await
    .unwrap();
    assert_eq!(conns["still_serves_pubsub"], true);
    assert_eq!(conns["conns"], 50);
}

#[test]
fn startup_measures_a_server_command() {
    let natsd = env!("CARGO_BIN_EXE_natsd-bench").replace("natsd-bench", "natsd");
    if !std::path::Path::new(&natsd).exists() {
        eprintln!("skipping: {natsd} not built");
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_natsd-bench"))
        .args(["startup", "--server-cmd", &natsd, "--rounds", "2"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let figures: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(figures["startup_ms_median"].as_f64().unwrap() > 0.0);
    assert!(figures["idle_rss_bytes_median"].as_u64().unwrap() > 0);
}
