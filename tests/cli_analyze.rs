//! `pingyi analyze` as evaluators script it: the command line, parsed by clap,
//! checked against R's `survey` numbers in analysis/tests/fixtures/expected.csv.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use pingyi::commands::analyze::{render, AnalyzeArgs};

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/analysis/tests/fixtures/");

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: AnalyzeArgs,
}

fn analyze(line: &str) -> anyhow::Result<String> {
    let mut argv = vec!["pingyi-analyze".to_string()];
    argv.extend(line.split_whitespace().map(|s| s.replace("FIX/", FIX)));
    let cli = Cli::try_parse_from(argv)?;
    render(&cli.args)
}

fn expected(case: &str, group: &str, stat: &str) -> f64 {
    let text = std::fs::read_to_string(format!("{FIX}expected.csv")).unwrap();
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            // R's NA and NaN: no value
            (f[0] == case && f[1] == group && f[2] == stat)
                .then(|| f[3].parse().unwrap_or(f64::NAN))
        })
        .unwrap_or_else(|| panic!("no fixture {case}/{group}/{stat}"))
}

/// rows of a CSV output as header → value maps
fn rows(csv: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

fn num(row: &std::collections::HashMap<String, String>, k: &str) -> f64 {
    row[k]
        .parse()
        .unwrap_or_else(|_| panic!("column {k} = `{}`", row[k]))
}

fn close(got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol * want.abs(),
        "got {got:e}, R {want:e}"
    );
}

#[test]
fn domain_means_match_r_and_columns_are_as_specified() {
    let out = analyze(
        "--input FIX/api_clus1.csv --value api00 --by stype --weight pw --cluster dnum --fpc fpc",
    )
    .unwrap();
    let header = out.lines().next().unwrap();
    assert_eq!(
        header,
        "stype,n,estimate,se,ci_low,ci_high,deff,n_eff,suppressed"
    );
    let r = rows(&out);
    assert_eq!(r.len(), 3);
    for row in &r {
        let g = &row["stype"];
        close(
            num(row, "estimate"),
            expected("clus1_by_stype", g, "estimate"),
            1e-9,
        );
        close(num(row, "se"), expected("clus1_by_stype", g, "se"), 1e-9);
        close(
            num(row, "deff"),
            expected("clus1_by_stype", g, "deff"),
            1e-9,
        );
        // each group's t interval with its own df, degf(design[group, ])
        close(
            num(row, "ci_low"),
            expected("clus1_by_stype", g, "ci_low_domain_df"),
            1e-9,
        );
        close(
            num(row, "ci_high"),
            expected("clus1_by_stype", g, "ci_high_domain_df"),
            1e-9,
        );
        // full precision: at least 12 significant digits
        assert!(
            row["estimate"].replace(['.', '-'], "").len() >= 12,
            "{}",
            row["estimate"]
        );
        assert_eq!(row["suppressed"], "false");
    }
}

#[test]
fn proportions_with_each_interval() {
    for (ci, name) in [
        ("xlogit", "xlogit"),
        ("logit", "logit"),
        ("beta", "beta"),
        ("wilson", "wilson"),
        ("wald", "mean"),
        ("asin", "asin"),
    ] {
        let out = analyze(&format!(
            "--input FIX/api_strat.csv --value sch_wide --satisfied 1 --weight pw --strata stype --fpc fpc --ci {ci}"
        ))
        .unwrap();
        let r = rows(&out);
        close(num(&r[0], "se"), expected("strat_prop", "", "se"), 1e-9);
        close(
            num(&r[0], "ci_low"),
            expected("strat_prop", "", &format!("ci_low_{name}")),
            1e-7,
        );
        close(
            num(&r[0], "ci_high"),
            expected("strat_prop", "", &format!("ci_high_{name}")),
            1e-7,
        );
    }
    let out = analyze("--input FIX/api_clus1.csv --value sch_wide --satisfied 1 --weight pw --cluster dnum --fpc fpc --level 0.9").unwrap();
    close(
        num(&rows(&out)[0], "ci_low"),
        expected("clus1_prop90", "", "ci_low_xlogit"),
        1e-7,
    );
}

#[test]
fn every_svyciprop_method_by_small_domain() {
    // R: svyby(~I(q >= 3), ~unit + rtype, subset(design, !is.na(q)), svyciprop, method = m)
    // on rows as PSUs in five strata with fpc; 9 = don't know
    for (ci, name) in [
        ("xlogit", "xlogit"),
        ("logit", "logit"),
        ("likelihood", "likelihood"),
        ("beta", "beta"),
        ("wilson", "wilson"),
        ("wald", "mean"),
        ("asin", "asin"),
    ] {
        let out = analyze(&format!(
            "--input FIX/smalldom.csv --value q --satisfied 3,4,5 --missing 9 --by unit,rtype \
             --weight weight --strata stratum --fpc fpc --min-cell 1 --ci {ci}"
        ))
        .unwrap();
        let r = rows(&out);
        assert_eq!(r.len(), 9);
        for row in &r {
            let g = format!("{}|{}", row["unit"], row["rtype"]);
            close(num(row, "se"), expected("smalldom", &g, "se"), 1e-9);
            for end in ["low", "high"] {
                let want = expected("smalldom", &g, &format!("ci_{end}_{name}"));
                let cell = &row[&format!("ci_{end}")];
                if want.is_nan() {
                    assert_eq!(cell, "", "{ci} {g} {end}: R gives none");
                } else {
                    close(num(row, &format!("ci_{end}")), want, 1e-9);
                }
            }
        }
    }
}

#[test]
fn missing_takes_any_text_of_the_file() {
    let dir = std::env::temp_dir().join(format!("pingyi-cli-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("dk.csv");
    std::fs::write(
        &f,
        "unit,overall,w\na,5,1\na,不了解,2\na,3,1\nb,4,1\nb,不了解,1\nb,2,3\n",
    )
    .unwrap();
    let e = error_of(&format!(
        "--input {} --value overall --by unit",
        f.display()
    ));
    assert!(
        e.contains("`overall`") && e.contains("row 2") && e.contains("--missing"),
        "{e}"
    );
    let out = analyze(&format!(
        "--input {} --value overall --by unit --weight w --missing 不了解 --min-cell 1",
        f.display()
    ))
    .unwrap();
    let r = rows(&out);
    assert_eq!(r[0]["n"], "2");
    close(num(&r[0], "estimate"), 4.0, 1e-12);
    close(num(&r[1], "estimate"), (4.0 + 2.0 * 3.0) / 4.0, 1e-12);
}

#[test]
fn poststratify_and_rake_match_r() {
    let out = analyze("--input FIX/api_clus1.csv --value api00 --weight pw --cluster dnum --fpc fpc --poststratify FIX/pop_stype.csv").unwrap();
    let r = rows(&out);
    close(
        num(&r[0], "estimate"),
        expected("ps_api00", "", "estimate"),
        1e-9,
    );
    close(num(&r[0], "se"), expected("ps_api00", "", "se"), 1e-9);
    let out = analyze("--input FIX/api_clus1.csv --value api00 --weight pw --cluster dnum --fpc fpc --rake FIX/pop_stype.csv --rake FIX/pop_sch_wide.csv").unwrap();
    let r = rows(&out);
    close(
        num(&r[0], "estimate"),
        expected("rake_api00", "", "estimate"),
        1e-9,
    );
    close(num(&r[0], "se"), expected("rake_api00", "", "se"), 1e-9);
}

#[test]
fn json_output_and_small_cells() {
    let out = analyze("--input FIX/synth.csv --value q1 --satisfied 4,5 --missing 9 --by year,unit,rtype --weight weight --strata stratum --cluster cluster --format json --min-cell 200").unwrap();
    assert!(out.starts_with("[{\"year\":"));
    // cells under 200 answers are suppressed: their estimate is null
    assert!(out.contains("\"estimate\":null") && out.contains("\"suppressed\":true"));
    let csv = analyze("--input FIX/synth.csv --value q1 --satisfied 4,5 --missing 9 --by year,unit,rtype --weight weight --strata stratum --cluster cluster --min-cell 200").unwrap();
    for row in rows(&csv) {
        let n: u64 = row["n"].parse().unwrap();
        if n < 200 {
            assert_eq!(row["suppressed"], "true");
            assert_eq!(row["estimate"], "");
        }
    }
}

fn error_of(line: &str) -> String {
    let e = analyze(line).unwrap_err().to_string();
    assert_eq!(e.lines().count(), 1, "one line: {e}");
    e
}

#[test]
fn bad_input_is_one_clear_line() {
    let dir = std::env::temp_dir().join(format!("pingyi-cli-analyze-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = error_of("--input FIX/api_clus1.csv --value nope --weight pw");
    assert!(e.contains("`nope`"), "{e}");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "g,w,y\na,1,3\na,1,x\nb,-2,4\n").unwrap();
    let e = error_of(&format!("--input {} --value y --by g", bad.display()));
    assert!(e.contains("`y`") && e.contains("row 2"), "{e}");
    let neg = dir.join("neg.csv");
    std::fs::write(&neg, "g,w,y\na,1,3\na,1,2\nb,-2,4\n").unwrap();
    let e = error_of(&format!("--input {} --value y --weight w", neg.display()));
    assert!(
        e.contains("`w`") && e.contains("row 3") && e.contains("negative"),
        "{e}"
    );
    let e =
        error_of("--input FIX/lonely.csv --value api00 --weight pw --strata stype --cluster snum");
    assert!(e.contains("stratum `H`"), "{e}");
    let pop = dir.join("pop.csv");
    std::fs::write(&pop, "stype,population\nE,4421\nH,755\nM,1018\nX,10\n").unwrap();
    let e = error_of(&format!(
        "--input FIX/api_clus1.csv --value api00 --weight pw --poststratify {}",
        pop.display()
    ));
    assert!(e.contains("stype=X"), "{e}");
    let m2 = dir.join("m2.csv");
    std::fs::write(&m2, "sch_wide,population\n0,100\n1,200\n").unwrap();
    let e = error_of(&format!(
        "--input FIX/api_clus1.csv --value api00 --weight pw --rake FIX/pop_stype.csv --rake {}",
        m2.display()
    ));
    assert!(e.contains("did not converge"), "{e}");
}
