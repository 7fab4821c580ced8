//! `pingyi serve --demo` run from a folder without `surveys/` (an installed binary): the
//! built-in questionnaires and indicator frameworks load, so the demo evaluations get their
//! framework and objective scores. `pingyi tokens` then takes the questionnaire as
//! `pingyi links` prints it (`id@version`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_serves_from_any_folder() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_pingyi"))
        .current_dir(dir.path())
        .args([
            "serve",
            "--demo",
            "--bind",
            "127.0.0.1:0",
            "--database",
            &db,
        ])
        .env_remove("PINGYI_SURVEYS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pingyi serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut lines = Vec::new();
    let listening = loop {
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(l) => {
                let done = l.contains("pingyi is listening");
                lines.push(l);
                if done {
                    break true;
                }
            }
            Err(_) if started.elapsed() > Duration::from_secs(600) => break false,
            Err(_) => {
                if child.try_wait().ok().flatten().is_some() {
                    break false;
                }
            }
        }
    };
    // stop the server this test started, then read what it said
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(listening, "serve did not start: {lines:?}\n{err}");
    assert!(
        lines.iter().any(|l| l.contains("demo data loaded")),
        "{lines:?}"
    );
    assert!(!err.contains("no framework"), "{err}");
    // both demo evaluations carry the built-in framework
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let open = rt.block_on(async {
        let store = pingyi::store::Store::open(&db, &Default::default())
            .await
            .expect("open");
        let evs = store.list_evaluations().await.expect("evaluations");
        assert_eq!(evs.len(), 2);
        for e in &evs {
            let f = store
                .evaluation_framework(e.id)
                .await
                .expect("framework")
                .unwrap_or_else(|| panic!("evaluation {} has no framework", e.year));
            assert_eq!(f.framework_id, "beijing_sanxiao_yichuang");
        }
        evs.iter().find(|e| e.year == 2026).expect("2026").id
    });

    // a questionnaire is named as `pingyi links` prints it: id@version (or id)
    let links = Command::new(env!("CARGO_BIN_EXE_pingyi"))
        .current_dir(dir.path())
        .args([
            "links",
            "--database",
            &db,
            "--evaluation",
            &open.to_string(),
        ])
        .output()
        .expect("links");
    assert!(links.status.success());
    let text = String::from_utf8_lossy(&links.stdout);
    let spec = text
        .lines()
        .skip(1)
        .find(|l| l.contains(",resident,"))
        .and_then(|l| l.split(',').nth(3))
        .expect("a resident link")
        .to_owned();
    assert!(spec.starts_with("resident@"), "{spec}");
    let tokens = |q: &str| {
        Command::new(env!("CARGO_BIN_EXE_pingyi"))
            .current_dir(dir.path())
            .args([
                "tokens",
                "--database",
                &db,
                "--evaluation",
                &open.to_string(),
            ])
            .args(["--unit", "fgw", "--questionnaire", q, "--count", "2"])
            .output()
            .expect("tokens")
    };
    for q in [spec.as_str(), "resident"] {
        let out = tokens(q);
        assert!(
            out.status.success(),
            "{q}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    }
    let out = tokens("resident@999");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("resident@999"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
