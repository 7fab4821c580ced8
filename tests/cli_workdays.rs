//! `pingyi workdays`, run as the binary: due dates across the National Day holiday and its
//! make-up working days, a month's working days, and the errors for a date outside the
//! calendar, an unknown calendar and a broken calendar file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn pingyi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pingyi"))
        .args(args)
        // the built-in calendars, whatever folder the test runs in
        .env("PINGYI_SURVEYS", "/nonexistent-pingyi-surveys")
        .output()
        .expect("run pingyi")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_deadline_across_national_day_lands_on_the_make_up_saturday() {
    // Wed 30 Sep 2026 + 3 working days: 1–7 Oct are the holiday, then Thu 8, Fri 9 and
    // Sat 10 Oct, a make-up working day (调休上班)
    let out = pingyi(&[
        "workdays",
        "--calendar",
        "cn",
        "--from",
        "2026-09-30",
        "--add",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "2026-10-10\n");
    assert_eq!(text(&out.stderr), "");
    // Fri 18 Sep + 1: Sat 19 is off, Sun 20 Sep is a make-up working day
    let out = pingyi(&[
        "workdays",
        "--calendar",
        "cn",
        "--from",
        "2026-09-18",
        "--add",
        "1",
    ]);
    assert_eq!(text(&out.stdout), "2026-09-20\n");
    // 10 working days from the last day before the holiday
    let out = pingyi(&[
        "workdays",
        "--calendar",
        "cn",
        "--from",
        "2026-09-30",
        "--add",
        "10",
    ]);
    assert_eq!(text(&out.stdout), "2026-10-20\n");
}

#[test]
fn a_month_lists_its_working_days() {
    let out = pingyi(&["workdays", "--calendar", "cn", "--list", "2026-10"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let days: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(days.len(), 18);
    assert_eq!(&days[..3], ["2026-10-08", "2026-10-09", "2026-10-10"]);
    assert!(!days.iter().any(|d| d == "2026-10-11" || d == "2026-10-05"));
    assert_eq!(days.last().map(String::as_str), Some("2026-10-30"));
    // September: the make-up Sunday is in, the Mid-Autumn Friday is out
    let sep = text(&pingyi(&["workdays", "--calendar", "cn", "--list", "2026-09"]).stdout);
    assert!(
        sep.contains("2026-09-20\n") && !sep.contains("2026-09-25\n"),
        "{sep}"
    );
}

#[test]
fn a_provisional_year_warns_on_stderr() {
    let out = pingyi(&["workdays", "--calendar", "cn", "--list", "2027-10"]);
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("provisional") && err.contains("2027"), "{err}");
    assert!(!text(&out.stdout).contains("2027-10-01\n"));
}

#[test]
fn dates_outside_the_calendar_and_unknown_calendars_are_refused() {
    let out = pingyi(&[
        "workdays",
        "--calendar",
        "cn",
        "--from",
        "2025-12-30",
        "--add",
        "1",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("\"cn\"") && err.contains("2026–2027") && err.contains("2025-12-30"),
        "{err}"
    );
    assert_eq!(text(&out.stdout), "");

    let out = pingyi(&["workdays", "--calendar", "cn", "--list", "2028-01"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("2026–2027"));

    let out = pingyi(&["workdays", "--calendar", "atlantis", "--list", "2026-10"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown calendar \"atlantis\"") && err.contains("cn"),
        "{err}"
    );

    let out = pingyi(&[
        "workdays",
        "--calendar",
        "cn",
        "--from",
        "30.09.2026",
        "--add",
        "1",
    ]);
    assert!(text(&out.stderr).contains("YYYY-MM-DD"));
}

#[test]
fn a_surveys_folder_overrides_and_a_broken_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cal = dir.path().join("calendars");
    std::fs::create_dir(&cal).unwrap();
    std::fs::write(
        cal.join("cn.toml"),
        "[calendar]\nid = \"cn\"\nname = \"中国大陆\"\n[[year]]\nyear = 2026\nstatus = \"official\"\n\
         source = \"test\"\nworkdays = [{ date = \"2026-10-08\", name = \"x\" }]\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pingyi"))
            .args(args)
            .args(["--surveys", &dir.path().display().to_string()])
            .output()
            .unwrap()
    };
    let out = run(&["workdays", "--calendar", "cn", "--list", "2026-10"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&Path::new("calendars").join("cn.toml").display().to_string()),
        "{err}"
    );
    assert!(err.contains("Saturday or Sunday"), "{err}");
    // the folder replaces the built-in set: only its calendars exist
    std::fs::write(
        cal.join("cn.toml"),
        "[calendar]\nid = \"cn\"\nname = \"中国大陆\"\n[[year]]\nyear = 2026\nstatus = \"official\"\nsource = \"test\"\n",
    )
    .unwrap();
    let out = run(&[
        "workdays",
        "--calendar",
        "cn",
        "--from",
        "2026-09-30",
        "--add",
        "3",
    ]);
    assert_eq!(text(&out.stdout), "2026-10-05\n", "{}", text(&out.stderr));
}
