//! The draw: reproducibility, bounds, inclusion probabilities, errors, golden output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use pingyi_analysis::sampling::{draw, Allocation, DrawOptions, SamplingError, SizeSpec};

/// A frame of 200 units in 4 districts with uneven sizes and a few awkward fields.
fn frame() -> Vec<u8> {
    let mut s = String::from("unit_id,district,name,staff,sd\n");
    let districts = ["东城", "西城", "海淀", "朝阳"];
    let sds = ["2.5", "1", "4", "0.5"];
    for i in 0..200u32 {
        let d = (i * i + 3 * i) % 7 % 4;
        let d = d as usize;
        let name = if i % 17 == 0 {
            format!("\"Unit, {i}\"")
        } else {
            format!("单位{i}")
        };
        s.push_str(&format!(
            "U{i:04},{},{name},{},{}\n",
            districts[d],
            1 + (i * 37) % 90,
            sds[d]
        ));
    }
    s.into_bytes()
}

fn opts(strata: bool, size: u64, allocation: Allocation) -> DrawOptions {
    DrawOptions {
        id_column: "unit_id".into(),
        strata_column: strata.then(|| "district".into()),
        size: Some(SizeSpec::Total(size)),
        allocation,
        sd_column: (allocation == Allocation::Neyman).then(|| "sd".into()),
        min_per_stratum: 0,
        pps_size_column: None,
    }
}

/// Output rows as maps column → value.
fn rows(output: &[u8]) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(output);
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

#[test]
fn same_seed_is_byte_identical_and_another_seed_differs() {
    let f = frame();
    for pps in [false, true] {
        let mut o = opts(true, 40, Allocation::Proportional);
        if pps {
            o.pps_size_column = Some("staff".into());
        }
        let a = draw(&f, &o, "2026-评议-1").unwrap();
        let b = draw(&f, &o, "2026-评议-1").unwrap();
        assert_eq!(a.output, b.output);
        assert_eq!(a.result_sha256, b.result_sha256);
        let c = draw(&f, &o, "2026-评议-2").unwrap();
        assert_ne!(a.output, c.output);
        assert_ne!(a.result_sha256, c.result_sha256);
        assert_eq!(a.frame_sha256, c.frame_sha256);
    }
}

#[test]
fn record_fields_are_hashes_of_the_bytes() {
    let f = frame();
    let d = draw(&f, &opts(true, 40, Allocation::Equal), "s").unwrap();
    use sha2::Digest;
    assert_eq!(d.frame_sha256, hex::encode(sha2::Sha256::digest(&f)));
    assert_eq!(
        d.result_sha256,
        hex::encode(sha2::Sha256::digest(&d.output))
    );
    assert_eq!(
        d.options,
        "algorithm=pingyi-sample/1\nid=unit_id\nstrata=district\nsize=40\nfraction=\n\
         allocation=equal\nsd=\nmin_per_stratum=0\npps_size="
    );
    assert_eq!(d.seed, "s");
}

#[test]
fn strata_bounds_and_probabilities_sum_to_n() {
    let f = frame();
    for allocation in [
        Allocation::Proportional,
        Allocation::Neyman,
        Allocation::Equal,
    ] {
        for pps in [false, true] {
            for size in [4u64, 37, 120, 200] {
                let mut o = opts(true, size, allocation);
                o.pps_size_column = pps.then(|| "staff".into());
                let d = draw(&f, &o, &format!("seed-{size}")).unwrap();
                let out = rows(&d.output);
                assert_eq!(out.len() as u64, size);
                assert_eq!(d.sample_size, size);
                let mut per: BTreeMap<String, u64> = BTreeMap::new();
                for r in &out {
                    *per.entry(r["district"].clone()).or_default() += 1;
                }
                for s in &d.strata {
                    assert!(s.sample <= s.population, "{s:?}");
                    assert_eq!(per.get(&s.key).copied().unwrap_or(0), s.sample);
                }
                // Σπ over the whole frame is n: selected rows carry π; the π of
                // unselected rows come from their stratum (SRS) or are checked in
                // the PPS unit test. For SRS, Σ_h N_h · n_h/N_h = n.
                if !pps {
                    let total: f64 = d
                        .strata
                        .iter()
                        .map(|s| s.population as f64 * (s.sample as f64 / s.population as f64))
                        .sum();
                    assert!((total - size as f64).abs() < 1e-9);
                }
                // Design weights estimate N: for SRS, Σw = Σ N_h over strata that
                // got a sample (a stratum allocated 0 carries no weight).
                let w: f64 = out
                    .iter()
                    .map(|r| r["design_weight"].parse::<f64>().unwrap())
                    .sum();
                let covered: u64 = d
                    .strata
                    .iter()
                    .filter(|s| s.sample > 0)
                    .map(|s| s.population)
                    .sum();
                if !pps {
                    assert!(
                        (w - covered as f64).abs() < 1e-9,
                        "Σw = {w}, expected {covered}"
                    );
                }
                for r in &out {
                    let pi: f64 = r["inclusion_probability"].parse().unwrap();
                    let wt: f64 = r["design_weight"].parse().unwrap();
                    assert!(pi > 0.0 && pi <= 1.0);
                    assert!((pi * wt - 1.0).abs() < 1e-12);
                }
            }
        }
    }
}

#[test]
fn pps_probabilities_sum_to_n_with_certainty_units() {
    use pingyi_analysis::sampling::pps_probabilities;
    // Sizes 500 and 300 are large: with n = 4 and total 1000, 4·500 ≥ 1000 → certain;
    // then n' = 3, T = 500: 3·300 ≥ 500 → certain; n' = 2, T = 200: 2·50 < 200 ...
    let sizes = [500.0, 300.0, 50.0, 50.0, 40.0, 30.0, 20.0, 10.0];
    let p = pps_probabilities(&sizes, 4);
    assert_eq!(&p[..2], &[1.0, 1.0]);
    assert!((p[2] - 2.0 * 50.0 / 200.0).abs() < 1e-15);
    assert!((p.iter().sum::<f64>() - 4.0).abs() < 1e-12);
    assert!(p.iter().all(|&x| x > 0.0 && x <= 1.0));
}

#[test]
fn output_keeps_frame_order_and_fields_verbatim() {
    let f = frame();
    let d = draw(&f, &opts(false, 200, Allocation::Proportional), "x").unwrap();
    // Everyone drawn: the output is the frame plus the four columns.
    let text = String::from_utf8(d.output).unwrap();
    let frame_text = String::from_utf8(f).unwrap();
    for (out, inp) in text.lines().skip(1).zip(frame_text.lines().skip(1)) {
        assert_eq!(out, format!("{inp},200,200,1,1"));
    }
    assert!(text.starts_with(
        "unit_id,district,name,staff,sd,stratum_population,stratum_sample,inclusion_probability,design_weight\n"
    ));
}

#[test]
fn thirty_percent_draws_at_least_30_percent_of_each_stratum() {
    let f = frame();
    let mut o = opts(true, 0, Allocation::ThirtyPercent);
    o.size = None;
    let d = draw(&f, &o, "x").unwrap();
    for s in &d.strata {
        assert_eq!(s.sample, (3 * s.population).div_ceil(10).max(1));
    }
}

#[test]
fn bad_input_names_column_and_row() {
    let f = frame();
    let mut o = opts(true, 10, Allocation::Proportional);
    o.id_column = "id".into();
    let e = draw(&f, &o, "s").unwrap_err();
    assert!(
        matches!(&e, SamplingError::MissingColumn { column, .. } if column == "id"),
        "{e}"
    );
    assert!(
        e.to_string().contains("'unit_id'"),
        "lists the columns: {e}"
    );

    let dup = b"id,g\na,1\nb,1\nc,2\nb,2\n";
    let mut o = opts(false, 1, Allocation::Proportional);
    o.id_column = "id".into();
    let e = draw(dup, &o, "s").unwrap_err();
    assert_eq!(
        e,
        SamplingError::DuplicateId {
            column: "id".into(),
            id: "b".into(),
            first_row: 2,
            second_row: 4
        }
    );

    let bad_sd = b"unit_id,district,sd\na,x,1\nb,x,one\n";
    let e = draw(bad_sd, &opts(true, 1, Allocation::Neyman), "s").unwrap_err();
    assert!(
        matches!(&e, SamplingError::BadValue { column, row: 2, .. } if column == "sd"),
        "{e}"
    );
    assert!(e.to_string().contains("'one' is not a number"), "{e}");

    let e = draw(&f, &opts(true, 201, Allocation::Proportional), "s").unwrap_err();
    assert!(
        e.to_string()
            .contains("201 is larger than the population of 200"),
        "{e}"
    );

    let mut o = opts(true, 10, Allocation::Proportional);
    o.pps_size_column = Some("name".into());
    let e = draw(&f, &o, "s").unwrap_err();
    assert!(
        matches!(&e, SamplingError::BadValue { column, row: 1, .. } if column == "name"),
        "{e}"
    );

    let ragged = b"unit_id,district\na,x\nb\n";
    let e = draw(ragged, &opts(true, 1, Allocation::Proportional), "s").unwrap_err();
    assert!(e.to_string().contains("line 3"), "{e}");

    let clash = b"unit_id,design_weight\na,1\n";
    assert!(matches!(
        draw(clash, &opts(false, 1, Allocation::Proportional), "s").unwrap_err(),
        SamplingError::ReservedColumn { .. }
    ));
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sampling_golden")
}

/// Pins the algorithm: a change to the RNG mapping, the Fisher–Yates steps,
/// the PPS rule, rounding or the output format changes these bytes.
/// Regenerate deliberately with `PINGYI_BLESS=1` (and bump `ALGORITHM`).
#[test]
fn golden_output() {
    let dir = golden_dir();
    let f = std::fs::read(dir.join("frame.csv")).unwrap();
    let cases: [(&str, DrawOptions); 3] = [
        (
            "srs_proportional.csv",
            DrawOptions {
                id_column: "id".into(),
                strata_column: Some("unit".into()),
                size: Some(SizeSpec::Total(9)),
                allocation: Allocation::Proportional,
                sd_column: None,
                min_per_stratum: 1,
                pps_size_column: None,
            },
        ),
        (
            "pps.csv",
            DrawOptions {
                id_column: "id".into(),
                strata_column: Some("unit".into()),
                size: Some(SizeSpec::Total(8)),
                allocation: Allocation::Equal,
                sd_column: None,
                min_per_stratum: 0,
                pps_size_column: Some("households".into()),
            },
        ),
        (
            "thirty_percent.csv",
            DrawOptions {
                id_column: "id".into(),
                strata_column: Some("unit".into()),
                size: None,
                allocation: Allocation::ThirtyPercent,
                sd_column: None,
                min_per_stratum: 0,
                pps_size_column: None,
            },
        ),
    ];
    for (name, o) in cases {
        let d = draw(&f, &o, "pingyi-golden-2026").unwrap();
        let path = dir.join(name);
        if std::env::var_os("PINGYI_BLESS").is_some() {
            std::fs::write(&path, &d.output).unwrap();
        }
        let expected = std::fs::read(&path).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&d.output),
            String::from_utf8_lossy(&expected),
            "{name} changed"
        );
    }
}

/// An outsider's re-derivation (Python's `cryptography` ChaCha20, written from
/// the module docs only) selects the same ids. Skipped, with a note, when
/// python3 or its `cryptography` package is missing, unless `PINGYI_REQUIRE_PYTHON` is set
/// (CI sets it), which makes the missing tool a failure.
#[test]
fn python_rederivation_agrees() {
    let dir = golden_dir();
    let has_python = std::process::Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_python {
        assert!(
            std::env::var_os("PINGYI_REQUIRE_PYTHON").is_none(),
            "PINGYI_REQUIRE_PYTHON is set but python3 cannot import `cryptography`: \
             python3 -m pip install cryptography (.ci/run installs it)"
        );
        eprintln!("skipped: python3 with the cryptography package is not available");
        return;
    }
    let f = std::fs::read(dir.join("frame.csv")).unwrap();
    for seed in ["pingyi-golden-2026", "另一个种子", "7"] {
        for (size, min) in [(9u64, 1u64), (20, 0), (4, 1)] {
            let o = DrawOptions {
                id_column: "id".into(),
                strata_column: Some("unit".into()),
                size: Some(SizeSpec::Total(size)),
                allocation: Allocation::Proportional,
                sd_column: None,
                min_per_stratum: min,
                pps_size_column: None,
            };
            let d = draw(&f, &o, seed).unwrap();
            let mut args = vec![
                dir.join("rederive.py").to_string_lossy().into_owned(),
                dir.join("frame.csv").to_string_lossy().into_owned(),
                "id".into(),
                "unit".into(),
                seed.into(),
            ];
            args.extend(d.strata.iter().map(|s| s.sample.to_string()));
            let out = std::process::Command::new("python3")
                .args(&args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let ours: Vec<String> = rows(&d.output)
                .into_iter()
                .map(|r| r["id"].clone())
                .collect();
            let theirs: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
            assert_eq!(ours, theirs, "seed {seed}, size {size}");
        }
    }
}
