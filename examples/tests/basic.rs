//! `cargo run -p alamos-examples --bin basic` exits by itself and shows what
//! README says it shows: a log line per failed write, the call counts and
//! the histogram as Prometheus reads them, and the experiment tree.

use std::process::{Command, Output};

fn run(level: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_basic"));
    // The example's output must not depend on the environment of the test.
    for (name, _) in std::env::vars() {
        if name.starts_with("ALAMOS_") || name.starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    if let Some(level) = level {
        command.env("ALAMOS_LEVEL", level);
    }
    command.output().expect("the basic example runs")
}

#[test]
fn basic_prints_a_log_line_the_metrics_and_the_tree() {
    let output = run(None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(" ERROR storage.writer.write: error=DiskFull"))
        .collect();
    assert_eq!(errors.len(), 2, "{stderr}");

    for line in [
        r#"alamos_calls_total{experiment="storage.writer",function="write",outcome="ok"} 18"#,
        r#"alamos_calls_total{experiment="storage.writer",function="write",outcome="error"} 2"#,
        r#"frame_size_bytes_count{experiment="storage.writer"} 20"#,
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line} in\n{stdout}");
    }
    let writer = stdout
        .lines()
        .find(|line| line.contains("└── storage.writer"))
        .unwrap_or_else(|| panic!("the tree in\n{stdout}"));
    let columns: Vec<&str> = writer.split_whitespace().collect();
    // name, level, threshold, traced, calls, errors, panics, cancelled,
    // unknown, in flight
    assert_eq!(
        &columns[1..11],
        [
            "storage.writer",
            "prod",
            "prod",
            "100%",
            "20",
            "2",
            "0",
            "0",
            "0",
            "0"
        ],
        "{writer}"
    );
    assert!(
        stdout.contains("frame_size_bytes  histogram  20 values, mean 950.000"),
        "{stdout}"
    );
}

/// README shows the example's output: its metric lines are the ones the
/// example prints.
#[test]
fn readme_shows_what_basic_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md is at the workspace root");
    let output = run(None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let shown: Vec<&str> = readme
        .lines()
        .filter(|line| line.starts_with("alamos_call") || line.starts_with("frame_size_bytes"))
        .collect();
    assert_eq!(shown.len(), 5, "README's metric lines");
    for line in shown {
        assert!(stdout.lines().any(|l| l == line), "{line} in\n{stdout}");
    }
    assert!(
        readme.contains("ERROR storage.writer.write: error=DiskFull"),
        "README's log line"
    );
}

#[test]
fn basic_records_nothing_with_its_experiment_off() {
    let output = run(Some("warn"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains("DiskFull"), "{stderr}");
    assert!(!stdout.contains("alamos_calls_total{"), "{stdout}");
    let writer = stdout
        .lines()
        .find(|line| line.contains("└── storage.writer"))
        .unwrap_or_else(|| panic!("the tree in\n{stdout}"));
    assert!(writer.split_whitespace().any(|c| c == "warn"), "{writer}");
}
