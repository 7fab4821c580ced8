//! Sample-size formula: n0 = z²p(1−p)/e², fpc, deff, response rate, ceil.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pingyi_analysis::sampling::{sample_size, SampleSizeSpec, SamplingError};

#[test]
fn issue_example_moe_3_percent_95_confidence_population_5000_gives_880() {
    let mut spec = SampleSizeSpec::new(0.03, 0.95);
    spec.population = Some(5000);
    let s = sample_size(&spec).unwrap();
    // z = 1.959964, n0 = 1.959964² · 0.25 / 0.0009 = 1067.07,
    // n = 5000 · 1067.07 / (4999 + 1067.07) = 879.55 → 880.
    assert!((s.z - 1.959_963_985).abs() < 1e-6, "z = {}", s.z);
    assert!((s.n0 - 1067.07).abs() < 0.01, "n0 = {}", s.n0);
    assert!((s.n_fpc - 879.55).abs() < 0.01, "n = {}", s.n_fpc);
    assert_eq!(s.n, 880);
    assert!(!s.capped);
}

#[test]
fn without_population_n0_is_rounded_up() {
    let s = sample_size(&SampleSizeSpec::new(0.03, 0.95)).unwrap();
    assert_eq!(s.n, 1068); // 1067.07 → 1068
    let s = sample_size(&SampleSizeSpec::new(0.05, 0.95)).unwrap();
    assert_eq!(s.n, 385); // 1.96² · 0.25 / 0.0025 = 384.15 → 385
}

#[test]
fn deff_and_response_rate_inflate_before_rounding() {
    let mut spec = SampleSizeSpec::new(0.03, 0.95);
    spec.population = Some(5000);
    spec.deff = 1.5;
    spec.response_rate = 0.6;
    // 879.55 · 1.5 / 0.6 = 2198.9 → 2199
    let s = sample_size(&spec).unwrap();
    assert!((s.n_exact - s.n_fpc * 1.5 / 0.6).abs() < 1e-9);
    assert_eq!(s.n, 2199);
}

#[test]
fn other_confidence_and_p() {
    let mut spec = SampleSizeSpec::new(0.05, 0.99);
    spec.p = 0.2;
    // z = 2.5758, n0 = 2.5758² · 0.16 / 0.0025 = 424.63 → 425
    let s = sample_size(&spec).unwrap();
    assert!((s.z - 2.575_829).abs() < 1e-5);
    assert_eq!(s.n, 425);
}

#[test]
fn capped_at_the_population() {
    let mut spec = SampleSizeSpec::new(0.01, 0.99);
    spec.population = Some(100);
    spec.response_rate = 0.5;
    let s = sample_size(&spec).unwrap();
    assert_eq!(s.n, 100);
    assert!(s.capped);
}

#[test]
fn bad_inputs_name_the_option() {
    let e = sample_size(&SampleSizeSpec::new(0.0, 0.95)).unwrap_err();
    assert!(
        matches!(
            e,
            SamplingError::Option {
                option: "--moe",
                ..
            }
        ),
        "{e}"
    );
    let e = sample_size(&SampleSizeSpec::new(0.03, 95.0)).unwrap_err();
    assert!(e.to_string().contains("--confidence"), "{e}");
    let mut spec = SampleSizeSpec::new(0.03, 0.95);
    spec.response_rate = 0.0;
    assert!(sample_size(&spec)
        .unwrap_err()
        .to_string()
        .contains("--response-rate"));
}
