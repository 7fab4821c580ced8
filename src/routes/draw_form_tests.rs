//! The draw form's parsing and the names of its errors.

use super::*;
use crate::draws::sample_command;

fn form(pairs: &[(&str, &str)]) -> DrawFormValues {
    let mut v = DrawFormValues::default();
    for (k, x) in pairs {
        let x = (*x).to_owned();
        match *k {
            "id" => v.id = x,
            "strata" => v.strata = x,
            "size" => v.size = x,
            "fraction" => v.fraction = x,
            "allocation" => v.allocation = x,
            "sd" => v.sd = x,
            "min_per_stratum" => v.min_per_stratum = x,
            "pps_size" => v.pps_size = x,
            "seed" => v.seed = x,
            "questionnaire" => v.questionnaire = x,
            "deadline" => v.deadline = x,
            other => panic!("{other}"),
        }
    }
    v
}

fn fields(r: Result<DrawFormRequest, Vec<FieldError>>) -> Vec<&'static str> {
    r.err()
        .unwrap_or_default()
        .iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn options_match_the_command_line() -> Result<(), String> {
    let r = check_draw_form(
        &form(&[
            ("strata", "unit"),
            ("size", "6"),
            ("allocation", "neyman"),
            ("sd", "sd"),
            ("min_per_stratum", "1"),
            ("seed", "s 1"),
        ]),
        true,
    )
    .map_err(|e| format!("{e:?}"))?;
    assert_eq!(
        sample_command(&r.options.canonical(), &r.seed, "frame.csv"),
        "pingyi sample --frame frame.csv --id id --strata unit --size 6 --allocation neyman \
         --sd sd --min-per-stratum 1 --seed 's 1' --output sample.csv"
    );
    let r = check_draw_form(
        &form(&[
            ("allocation", "thirty-percent"),
            ("strata", "unit"),
            ("seed", "x"),
        ]),
        true,
    )
    .map_err(|e| format!("{e:?}"))?;
    assert_eq!(r.options.size, None);
    let r = check_draw_form(
        &form(&[("fraction", "30%"), ("pps_size", "pop"), ("seed", "x")]),
        true,
    )
    .map_err(|e| format!("{e:?}"))?;
    assert_eq!(r.options.size, Some(SizeSpec::Fraction(0.3)));
    assert_eq!(r.options.pps_size_column.as_deref(), Some("pop"));
    Ok(())
}

#[test]
fn each_problem_names_its_field() {
    assert_eq!(
        fields(check_draw_form(&form(&[("size", "4")]), false)),
        vec!["file", "seed"]
    );
    assert_eq!(
        fields(check_draw_form(
            &form(&[("size", "0"), ("fraction", ""), ("seed", "x")]),
            true
        )),
        vec!["size"]
    );
    assert_eq!(
        fields(check_draw_form(
            &form(&[
                ("fraction", "1.5"),
                ("min_per_stratum", "-1"),
                ("seed", "x")
            ]),
            true
        )),
        vec!["fraction", "min_per_stratum"]
    );
    assert_eq!(
        fields(check_draw_form(
            &form(&[("allocation", "neyman"), ("size", "3"), ("seed", "x")]),
            true
        )),
        vec!["sd", "strata"]
    );
    assert_eq!(
        fields(check_draw_form(
            &form(&[("size", "3"), ("questionnaire", "staff@1"), ("seed", "x")]),
            true
        )),
        vec!["deadline"]
    );
    assert_eq!(
        fields(check_draw_form(&form(&[("seed", "x")]), true)),
        vec!["size"]
    );
}

#[test]
fn sampler_errors_land_on_the_field_naming_the_column() {
    let o = DrawOptions {
        id_column: "id".into(),
        strata_column: Some("unit".into()),
        size: Some(SizeSpec::Total(3)),
        allocation: Allocation::Neyman,
        sd_column: Some("sd".into()),
        min_per_stratum: 0,
        pps_size_column: None,
    };
    let missing = |c: &str| SamplingError::MissingColumn {
        column: c.into(),
        available: String::new(),
    };
    assert_eq!(sampling_error_field(&missing("unit"), &o), "strata");
    assert_eq!(sampling_error_field(&missing("sd"), &o), "sd");
    assert_eq!(sampling_error_field(&missing("id"), &o), "id");
    let over = SamplingError::Option {
        option: "--size",
        reason: String::new(),
    };
    assert_eq!(sampling_error_field(&over, &o), "size");
}
