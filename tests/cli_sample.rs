//! `pingyi sample-size` and `pingyi sample` argument handling, through the
//! same clap definitions the binary uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::{Parser, Subcommand};
use pingyi::commands::sample::{run_sample, SampleArgs, SampleSizeArgs};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    SampleSize(SampleSizeArgs),
    Sample(SampleArgs),
}

fn sample_size(args: &[&str]) -> anyhow::Result<u64> {
    let cli = Cli::try_parse_from(["pingyi", "sample-size"].iter().chain(args))?;
    match cli.cmd {
        Cmd::SampleSize(a) => Ok(a.compute()?.n),
        Cmd::Sample(_) => unreachable!(),
    }
}

fn sample_args(args: &[&str]) -> anyhow::Result<SampleArgs> {
    let cli = Cli::try_parse_from(["pingyi", "sample"].iter().chain(args))?;
    match cli.cmd {
        Cmd::Sample(a) => Ok(a),
        Cmd::SampleSize(_) => unreachable!(),
    }
}

fn dir(test: &str) -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli_sample_{test}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_frame(test: &str) -> std::path::PathBuf {
    let mut s = String::from("户号,村,人口\n");
    for i in 0..60 {
        s.push_str(&format!(
            "H{i:03},{},{}\n",
            ["上村", "中村", "下村"][i % 3],
            1 + i % 6
        ));
    }
    let path = dir(test).join("frame.csv");
    std::fs::write(&path, s).unwrap();
    path
}

#[test]
fn sample_size_issue_example() {
    let n = sample_size(&[
        "--moe",
        "0.03",
        "--confidence",
        "0.95",
        "--population",
        "5000",
    ])
    .unwrap();
    assert_eq!(n, 880);
    // Percent forms mean the same.
    let n = sample_size(&["--moe", "3%", "--confidence", "95%", "--population", "5000"]).unwrap();
    assert_eq!(n, 880);
    // 879.55 · 2 / 0.5 = 3518.2 → 3519
    let n = sample_size(&[
        "--moe",
        "0.03",
        "--confidence",
        "0.95",
        "--population",
        "5000",
        "--deff",
        "2",
        "--response-rate",
        "0.5",
    ])
    .unwrap();
    assert_eq!(n, 3519);
    let e = sample_size(&["--moe", "abc", "--confidence", "0.95"]).unwrap_err();
    assert!(e.to_string().contains("'abc' is not a number"), "{e}");
}

#[test]
fn sample_writes_identical_files_for_the_same_seed() {
    let frame = write_frame("same_seed");
    let d = dir("same_seed");
    let run = |seed: &str, out: &str| {
        let out = d.join(out);
        let a = sample_args(&[
            "--frame",
            frame.to_str().unwrap(),
            "--id",
            "户号",
            "--strata",
            "村",
            "--size",
            "12",
            "--seed",
            seed,
            "--output",
            out.to_str().unwrap(),
        ])
        .unwrap();
        run_sample(a).unwrap();
        std::fs::read(out).unwrap()
    };
    let a = run("2026", "a.csv");
    let b = run("2026", "b.csv");
    let c = run("2027", "c.csv");
    assert_eq!(a, b);
    assert_ne!(a, c);
    let text = String::from_utf8(a).unwrap();
    assert_eq!(text.lines().count(), 13);
    assert!(text.starts_with(
        "户号,村,人口,stratum_population,stratum_sample,inclusion_probability,design_weight\n"
    ));
    assert!(
        text.lines().skip(1).all(|l| l.ends_with(",20,4,0.2,5")),
        "{text}"
    );
}

#[test]
fn size_and_fraction_are_exclusive_and_presets_work() {
    let frame = write_frame("exclusive");
    let f = frame.to_str().unwrap();
    assert!(sample_args(&[
        "--frame",
        f,
        "--id",
        "户号",
        "--size",
        "3",
        "--fraction",
        "0.1",
        "--seed",
        "s"
    ])
    .is_err());
    let a = sample_args(&[
        "--frame",
        f,
        "--id",
        "户号",
        "--strata",
        "村",
        "--allocation",
        "thirty-percent",
        "--seed",
        "s",
    ])
    .unwrap();
    let d = a.draw().unwrap();
    assert_eq!(d.sample_size, 18); // ⌈0.3·20⌉ = 6 in each of 3 villages
    let a = sample_args(&[
        "--frame",
        f,
        "--id",
        "户号",
        "--fraction",
        "25%",
        "--pps-size",
        "人口",
        "--seed",
        "s",
    ])
    .unwrap();
    assert_eq!(a.draw().unwrap().sample_size, 15);
}

#[test]
fn bad_input_errors_name_the_problem() {
    let frame = write_frame("errors");
    let f = frame.to_str().unwrap();
    let err = |args: &[&str]| format!("{:#}", sample_args(args).unwrap().draw().unwrap_err());
    let e = err(&["--frame", f, "--id", "编号", "--size", "3", "--seed", "s"]);
    assert!(e.contains("column '编号' not found"), "{e}");
    let e = err(&["--frame", f, "--id", "户号", "--size", "61", "--seed", "s"]);
    assert!(e.contains("61 is larger than the population of 60"), "{e}");
    let e = err(&[
        "--frame",
        f,
        "--id",
        "户号",
        "--strata",
        "村",
        "--size",
        "6",
        "--allocation",
        "neyman",
        "--seed",
        "s",
    ]);
    assert!(e.contains("--sd"), "{e}");
    let e = err(&[
        "--frame",
        "/nonexistent/frame.csv",
        "--id",
        "x",
        "--size",
        "1",
        "--seed",
        "s",
    ]);
    assert!(
        e.contains("cannot read the frame /nonexistent/frame.csv"),
        "{e}"
    );
}
