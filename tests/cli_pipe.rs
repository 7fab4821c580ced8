//! A command whose reader goes away (`pingyi links | head -1`) ends quietly, as Unix tools do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

#[test]
fn closed_stdout_ends_links_quietly() {
    let dir = std::env::temp_dir().join(format!("pingyi-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("links.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_pingyi"))
        .args(["links", "--database", &db])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // the reader is gone before the first line is written
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}: {err}", out.status);
    assert!(
        !err.contains("Broken pipe") && !err.contains("error"),
        "{err}"
    );
    // and with a reader it prints the header
    let out = Command::new(env!("CARGO_BIN_EXE_pingyi"))
        .args(["links", "--database", &db])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout)
        .starts_with("evaluation,unit,respondent_type,questionnaire,url"));
}
