//! Allocation on a worked example; the arithmetic is in the comments.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pingyi_analysis::sampling::{allocate, Allocation, SamplingError, SizeSpec, StratumInput};

fn strata(sd: [f64; 4]) -> Vec<StratumInput> {
    // N_A = 100, N_B = 250, N_C = 150, N_D = 7; N = 507.
    [("A", 100), ("B", 250), ("C", 150), ("D", 7)]
        .iter()
        .zip(sd)
        .map(|(&(k, n), s)| StratumInput {
            key: k.into(),
            population: n,
            sd: Some(s),
        })
        .collect()
}

const NO_SD: [f64; 4] = [1.0; 4];

#[test]
fn proportional_largest_remainder() {
    // x = 60 N_h / 507 = 11.834, 29.586, 17.751, 0.828; floors 11+29+17+0 = 57;
    // 3 left go to the largest fractions A .834, D .828, C .751.
    let n = allocate(
        &strata(NO_SD),
        Some(SizeSpec::Total(60)),
        Allocation::Proportional,
        0,
    )
    .unwrap();
    assert_eq!(n, vec![12, 29, 18, 1]);
    assert_eq!(n.iter().sum::<u64>(), 60);
}

#[test]
fn proportional_with_minimum() {
    // D is held at its minimum 2; the other 58 go by N_h/500:
    // 11.6, 29.0, 17.4 → floors 11+29+17+2 = 59; the 1 left goes to A (.6 > .4).
    let n = allocate(
        &strata(NO_SD),
        Some(SizeSpec::Total(60)),
        Allocation::Proportional,
        2,
    )
    .unwrap();
    assert_eq!(n, vec![12, 29, 17, 2]);
}

#[test]
fn neyman_uses_population_times_sd() {
    // N_h S_h = 100·10, 250·2, 150·5, 7·40 = 1000, 500, 750, 280; Σ = 2530.
    // x = 60 N_h S_h / 2530 = 23.715, 11.858, 17.787, 6.640 → floors 57;
    // 3 left: B .858, C .787, A .715.
    let n = allocate(
        &strata([10.0, 2.0, 5.0, 40.0]),
        Some(SizeSpec::Total(60)),
        Allocation::Neyman,
        0,
    )
    .unwrap();
    assert_eq!(n, vec![24, 12, 18, 6]);
}

#[test]
fn neyman_caps_at_the_stratum_size() {
    // D: 7·400 = 2800 would get 60·2800/5050 = 33.3 > 7, so D = 7 (all of it);
    // the other 53 by 1000, 500, 750 (Σ 2250): 23.556, 11.778, 17.667 → floors 51+7 = 58;
    // 2 left: B .778, C .667.
    let n = allocate(
        &strata([10.0, 2.0, 5.0, 400.0]),
        Some(SizeSpec::Total(60)),
        Allocation::Neyman,
        0,
    )
    .unwrap();
    assert_eq!(n, vec![23, 12, 18, 7]);
}

#[test]
fn equal_with_cap_and_key_order_tie_break() {
    // 60/4 = 15 each, but D has only 7; the other 53 split 17.667 each;
    // floors 17·3 + 7 = 58; 2 left, fractions tie (.667) → key order A, B.
    let n = allocate(
        &strata(NO_SD),
        Some(SizeSpec::Total(60)),
        Allocation::Equal,
        0,
    )
    .unwrap();
    assert_eq!(n, vec![18, 18, 17, 7]);
}

#[test]
fn ties_follow_key_order_not_input_order() {
    let s: Vec<StratumInput> = ["d", "b", "c", "a"]
        .iter()
        .map(|k| StratumInput {
            key: (*k).into(),
            population: 10,
            sd: None,
        })
        .collect();
    // 5 / 4 = 1.25 each; the one left goes to the smallest key "a".
    let n = allocate(&s, Some(SizeSpec::Total(5)), Allocation::Equal, 0).unwrap();
    assert_eq!(n, vec![1, 1, 1, 2]);
}

#[test]
fn thirty_percent_preset() {
    // ⌈0.3·100⌉ = 30, ⌈0.3·250⌉ = 75, ⌈0.3·150⌉ = 45, ⌈0.3·7⌉ = ⌈2.1⌉ = 3.
    let n = allocate(&strata(NO_SD), None, Allocation::ThirtyPercent, 0).unwrap();
    assert_eq!(n, vec![30, 75, 45, 3]);
    // Edge cases: 10 → 3 exactly (not 4 from 0.3·10 = 3.0000000000000004),
    // 3 → ⌈0.9⌉ = 1, 1 → 1; a minimum of 5 lifts small strata but not above N_h.
    let small: Vec<StratumInput> = [10u64, 3, 1]
        .iter()
        .enumerate()
        .map(|(i, &p)| StratumInput {
            key: format!("s{i}"),
            population: p,
            sd: None,
        })
        .collect();
    assert_eq!(
        allocate(&small, None, Allocation::ThirtyPercent, 0).unwrap(),
        vec![3, 1, 1]
    );
    assert_eq!(
        allocate(&small, None, Allocation::ThirtyPercent, 5).unwrap(),
        vec![5, 3, 1]
    );
    assert!(allocate(
        &small,
        Some(SizeSpec::Total(3)),
        Allocation::ThirtyPercent,
        0
    )
    .is_err());
}

#[test]
fn fraction_rounds_up() {
    // ⌈0.1 · 507⌉ = ⌈50.7⌉ = 51, then proportional.
    let n = allocate(
        &strata(NO_SD),
        Some(SizeSpec::Fraction(0.1)),
        Allocation::Proportional,
        0,
    )
    .unwrap();
    assert_eq!(n.iter().sum::<u64>(), 51);
}

#[test]
fn every_total_is_met_and_bounds_hold() {
    let s = strata([3.0, 0.5, 7.0, 90.0]);
    for method in [
        Allocation::Proportional,
        Allocation::Neyman,
        Allocation::Equal,
    ] {
        for min in [0, 1, 3, 8] {
            for total in 0..=507u64 {
                match allocate(&s, Some(SizeSpec::Total(total)), method, min) {
                    Ok(n) => {
                        assert_eq!(n.iter().sum::<u64>(), total, "{method:?} min {min}");
                        for (h, st) in s.iter().enumerate() {
                            assert!(n[h] <= st.population);
                            assert!(n[h] >= st.population.min(min));
                        }
                    }
                    Err(e) => {
                        let need: u64 = s.iter().map(|st| st.population.min(min)).sum();
                        assert!(total < need, "{method:?} min {min} total {total}: {e}");
                    }
                }
            }
        }
    }
}

#[test]
fn infeasible_requests_fail_clearly() {
    let e = allocate(
        &strata(NO_SD),
        Some(SizeSpec::Total(508)),
        Allocation::Proportional,
        0,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("larger than the population of 507"),
        "{e}"
    );
    let e = allocate(
        &strata(NO_SD),
        Some(SizeSpec::Total(10)),
        Allocation::Proportional,
        5,
    )
    .unwrap_err();
    assert!(matches!(e, SamplingError::Allocation(_)));
    assert!(e.to_string().contains("needs 20 units"), "{e}"); // 5+5+5+5
    let mut s = strata(NO_SD);
    s[1].sd = None;
    let e = allocate(&s, Some(SizeSpec::Total(10)), Allocation::Neyman, 0).unwrap_err();
    assert!(e.to_string().contains("'B'"), "{e}");
}
