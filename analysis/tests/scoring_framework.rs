//! Loading framework files: the shipped ones load with the evaluation rules' numbers, and
//! every kind of malformed file is rejected naming file, line and indicator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use pingyi_analysis::scoring::framework::RuleAction;
use pingyi_analysis::scoring::{Framework, FrameworkError, IndicatorKind, InputScale};

fn shipped(name: &str) -> Framework {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../surveys/frameworks")
        .join(name);
    match Framework::load_path(&path) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    }
}

fn max_of(fw: &Framework, id: &str) -> f64 {
    let k = fw.indicator_index(id).unwrap_or_else(|| panic!("no {id}"));
    fw.indicators[k].max_points
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn bureau_division_has_the_seed_weights() {
    let fw = shipped("bureau_division.toml");
    let roots: Vec<(&str, f64)> = fw
        .roots()
        .map(|k| (fw.indicators[k].id.as_str(), fw.indicators[k].max_points))
        .collect();
    assert_eq!(
        roots,
        vec![
            ("functional", 40.0),
            ("management", 30.0),
            ("innovation", 10.0),
            ("satisfaction", 20.0)
        ]
    );
    assert!(close(max_of(&fw, "functional.key"), 20.0));
    assert!(close(max_of(&fw, "functional.routine"), 12.0));
    assert!(close(max_of(&fw, "functional.other"), 8.0));
    assert!(close(max_of(&fw, "management.other"), 12.0));
    assert!(close(max_of(&fw, "innovation.results"), 6.0));
    assert!(close(max_of(&fw, "satisfaction.leadership"), 8.0));
    assert!(close(max_of(&fw, "satisfaction.staff"), 12.0));
    let f = &fw.indicators[fw.indicator_index("functional").unwrap()];
    let p = f.periods.as_ref().unwrap();
    assert_eq!(p.labels, vec!["Q1", "Q2", "Q3", "Q4"]);
    assert_eq!(p.weights, vec![25.0; 4]);
    let key = &fw.indicators[fw.indicator_index("functional.key").unwrap()];
    assert_eq!(key.period_scope, fw.indicator_index("functional"));
    let names: Vec<&str> = fw.grades.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, vec!["优秀", "良好", "达标", "诫勉"]);
    assert_eq!(fw.rules.len(), 1);
    assert_eq!(fw.rules[0].action, RuleAction::DownOne);
    assert_eq!(fw.rules[0].events, vec!["violation", "major_accident"]);
    assert_eq!(fw.advanced.share, 30.0);
    assert_eq!(fw.advanced.eligible, vec![0]);
    assert_eq!(fw.rectification, vec![3]);
}

#[test]
fn bureau_individual_has_the_seed_weights() {
    let fw = shipped("bureau_individual.toml");
    assert!(close(max_of(&fw, "work"), 60.0));
    assert!(close(max_of(&fw, "internal"), 20.0));
    assert!(close(max_of(&fw, "satisfaction.leadership"), 8.0));
    assert!(close(max_of(&fw, "satisfaction.staff"), 12.0));
    assert_eq!(fw.rules[0].action, RuleAction::LowerTo { grade: 3 });
}

#[test]
fn beijing_has_the_seed_points_and_cap() {
    let fw = shipped("beijing_sanxiao_yichuang.toml");
    let roots: Vec<f64> = fw.roots().map(|k| fw.indicators[k].max_points).collect();
    assert_eq!(roots, vec![35.0, 20.0, 40.0, 5.0]);
    assert_eq!(fw.leaves().count(), 8, "the evaluation rules' 8 indicators");
    assert!(close(max_of(&fw, "service.public"), 20.0));
    // the evaluation rules give only the dimension totals: equal splits, marked in the file
    for (id, p) in [
        ("efficiency.duties", 17.5),
        ("efficiency.leaders", 17.5),
        ("management.law", 10.0),
        ("management.capacity", 10.0),
        ("service.central", 10.0),
        ("service.grassroots", 10.0),
        ("innovation", 5.0),
    ] {
        assert!(close(max_of(&fw, id), p), "{id}");
    }
    let public = &fw.indicators[fw.indicator_index("service.public").unwrap()];
    match &public.kind {
        IndicatorKind::Survey { binding } => {
            assert_eq!(binding.key(), "satisfaction_index:resident+service_user")
        }
        other => panic!("公众评价 should be a survey indicator, got {other:?}"),
    }
    let keys: Vec<String> = fw.survey_bindings().iter().map(|b| b.key()).collect();
    assert_eq!(keys, vec!["satisfaction_index:resident+service_user"]);
    assert_eq!(fw.deduction_groups.len(), 1);
    assert_eq!(fw.deduction_groups[0].cap, 20.0);
    assert_eq!(fw.deductions.len(), 4);
}

#[test]
fn feicheng_has_7_items_31_sub_items_and_100_points() {
    let fw = shipped("feicheng_institutional.toml");
    let roots: Vec<f64> = fw.roots().map(|k| fw.indicators[k].max_points).collect();
    assert_eq!(roots, vec![45.0, 40.0, 15.0]);
    let items = fw.indicators.iter().filter(|i| i.depth == 1).count();
    assert_eq!(items, 7);
    assert_eq!(fw.leaves().count(), 31);
    assert!(fw.leaves().all(|k| fw.indicators[k].depth == 2));
    let surveyed = fw
        .indicators
        .iter()
        .filter(|i| matches!(i.kind, IndicatorKind::Survey { .. }))
        .count();
    assert_eq!(surveyed, 5, "五位一体: five respondent layers");
    // the evaluation rules give no weights for the five layers: equal shares of 社会评议 15
    let review = fw.indicator_index("social.review").unwrap();
    let layers: Vec<(String, f64)> = fw.indicators[review]
        .children
        .iter()
        .map(|&c| match &fw.indicators[c].kind {
            IndicatorKind::Survey { binding } => (binding.key(), fw.indicators[c].max_points),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        layers,
        vec![
            ("satisfaction_index:leader".to_string(), 3.0),
            ("satisfaction_index:staff".to_string(), 3.0),
            ("satisfaction_index:service_user".to_string(), 3.0),
            ("satisfaction_index:peer_department".to_string(), 3.0),
            ("satisfaction_index:regulator".to_string(), 3.0),
        ]
    );
    // the seven items of the evaluation rules, by name
    let items: Vec<&str> = fw
        .indicators
        .iter()
        .filter(|i| i.depth == 1)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(
        items,
        vec![
            "职能精细化管理",
            "内部工作机制运行",
            "对外协作配合机制建立和运行",
            "履行职责及成效评估",
            "机构编制管理规定执行",
            "其他评估指标",
            "履职评议和社会评议"
        ]
    );
    assert!(fw.indicators.iter().all(|i| !matches!(
        i.kind,
        IndicatorKind::Objective {
            input: InputScale::Percent
        }
    )));
}

fn load_err(text: &str) -> FrameworkError {
    match Framework::parse(text, "bad.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

const HEAD: &str = "[framework]\nid = \"t\"\nname = \"测试\"\n";

#[test]
fn weights_not_adding_up_name_the_parent_and_its_line() {
    let text = format!(
        "{HEAD}
[[indicator]]
id = \"a\"
name = \"A\"
weight = 100

[[indicator]]
id = \"a.x\"
parent = \"a\"
name = \"X\"
weight = 60

[[indicator]]
id = \"a.y\"
parent = \"a\"
name = \"Y\"
weight = 30
"
    );
    let e = load_err(&text);
    assert_eq!(e.file, "bad.toml");
    assert_eq!(e.line, 6, "{e}");
    assert_eq!(e.indicator.as_deref(), Some("a"));
    assert!(e.message.contains("add up to 90, expected 100"), "{e}");
    assert_eq!(
        e.to_string(),
        "bad.toml:6: indicator `a`: weights of the children of `a` add up to 90, expected 100"
    );
}

#[test]
fn top_level_points_must_reach_the_total() {
    let text = format!(
        "{HEAD}
[[indicator]]
id = \"a\"
name = \"A\"
points = 35

[[indicator]]
id = \"b\"
name = \"B\"
points = 60
"
    );
    let e = load_err(&text);
    assert_eq!(e.line, 6);
    assert!(e.message.contains("top-level"), "{e}");
    assert!(e.message.contains("add up to 95, expected 100"), "{e}");
}

#[test]
fn child_points_must_reach_the_parent_points() {
    let text = format!(
        "{HEAD}
[[indicator]]
id = \"a\"
name = \"A\"
points = 100

[[indicator]]
id = \"a.x\"
parent = \"a\"
name = \"X\"
points = 99.5
"
    );
    let e = load_err(&text);
    assert_eq!(e.indicator.as_deref(), Some("a"));
    assert!(e.message.contains("points"), "{e}");
    assert!(e.message.contains("99.5"), "{e}");
}

#[test]
fn unknown_parent_is_named_with_its_line() {
    let text = format!(
        "{HEAD}
[[indicator]]
id = \"a\"
name = \"A\"
weight = 100

[[indicator]]
id = \"a.x\"
parent = \"nope\"
name = \"X\"
weight = 100
"
    );
    let e = load_err(&text);
    assert_eq!(e.line, 12, "{e}");
    assert_eq!(e.indicator.as_deref(), Some("a.x"));
    assert!(e.message.contains("`nope`"), "{e}");
}

#[test]
fn parent_written_after_its_child_is_rejected() {
    let text = format!(
        "{HEAD}
[[indicator]]
id = \"a.x\"
parent = \"a\"
name = \"X\"
weight = 100

[[indicator]]
id = \"a\"
name = \"A\"
weight = 100
"
    );
    let e = load_err(&text);
    assert_eq!(e.indicator.as_deref(), Some("a.x"));
    assert!(e.message.contains("before its children"), "{e}");
}

#[test]
fn duplicate_id_names_both_lines() {
    let text = format!(
        "{HEAD}
[[indicator]]
id = \"a\"
name = \"A\"
weight = 50

[[indicator]]
id = \"a\"
name = \"A again\"
weight = 50
"
    );
    let e = load_err(&text);
    assert_eq!(e.line, 11);
    assert_eq!(e.indicator.as_deref(), Some("a"));
    assert!(e.message.contains("line 6"), "{e}");
}

#[test]
fn deduction_ids_share_the_indicator_namespace() {
    let text = format!(
        "{HEAD}
[[indicator]]
id = \"a\"
name = \"A\"
weight = 100

[[deduction]]
id = \"a\"
name = \"扣分\"
"
    );
    let e = load_err(&text);
    assert_eq!(e.line, 11);
    assert!(e.message.contains("duplicate"), "{e}");
}

#[test]
fn unknown_deduction_group_is_named() {
    let text = format!(
        "{HEAD}
[[indicator]]
id = \"a\"
name = \"A\"
weight = 100

[[deduction]]
id = \"d\"
name = \"扣分\"
group = \"missing\"
"
    );
    let e = load_err(&text);
    assert_eq!(e.line, 13);
    assert_eq!(e.indicator.as_deref(), Some("d"));
    assert!(e.message.contains("`missing`"), "{e}");
}

#[test]
fn unknown_survey_binding_is_named() {
    for (binding, needle) in [
        (
            "satisfaction_index:citizen",
            "unknown respondent type `citizen`",
        ),
        ("happiness:leader", "unknown survey measure `happiness`"),
        ("satisfaction_index", "must look like"),
        ("satisfaction_rate:staff+staff", "listed twice"),
    ] {
        let text = format!(
            "{HEAD}
[[indicator]]
id = \"s\"
name = \"满意度\"
weight = 100
survey = \"{binding}\"
"
        );
        let e = load_err(&text);
        assert_eq!(e.line, 9, "{e}");
        assert_eq!(e.indicator.as_deref(), Some("s"));
        assert!(e.message.contains(needle), "{binding}: {e}");
    }
}

#[test]
fn unknown_grade_in_a_rule_is_named() {
    let text = format!(
        "{HEAD}
[[indicator]]
id = \"a\"
name = \"A\"
weight = 100

[[rule]]
events = [\"violation\"]
action = \"lower_to\"
grade = \"不合格\"
"
    );
    let e = load_err(&text);
    assert_eq!(e.line, 13);
    assert!(e.message.contains("`不合格`"), "{e}");
}

#[test]
fn syntax_errors_and_unknown_keys_carry_a_line() {
    let e = load_err(&format!(
        "{HEAD}\n[[indicator]]\nid = \"a\"\nname = \"A\"\nweigth = 100\n"
    ));
    assert_eq!(e.line, 8, "{e}");
    assert!(e.message.contains("weigth"), "{e}");
    let e = load_err(&format!("{HEAD}\n[[indicator]]\nid = \"a\n"));
    assert_eq!(e.line, 6, "{e}");
}

#[test]
fn mixing_weight_and_points_among_siblings_is_rejected() {
    let text = format!(
        "{HEAD}
[[indicator]]
id = \"a\"
name = \"A\"
weight = 50

[[indicator]]
id = \"b\"
name = \"B\"
points = 50
"
    );
    let e = load_err(&text);
    assert_eq!(e.indicator.as_deref(), Some("b"));
    assert!(e.message.contains("siblings"), "{e}");
}

#[test]
fn period_weights_must_add_up() {
    let text = format!(
        "{HEAD}
[[indicator]]
id = \"a\"
name = \"A\"
weight = 100
periods = [\"H1\", \"H2\"]
period_weights = [50, 40]
"
    );
    let e = load_err(&text);
    assert_eq!(e.indicator.as_deref(), Some("a"));
    assert!(e.message.contains("period_weights add up to 90"), "{e}");
}

#[test]
fn grades_must_decrease_and_end_at_zero() {
    let body = "\n[[indicator]]\nid = \"a\"\nname = \"A\"\nweight = 100\n";
    let e = load_err(&format!(
        "{HEAD}{body}\n[[grade]]\nname = \"好\"\nmin = 60\n\n[[grade]]\nname = \"差\"\nmin = 60\n"
    ));
    assert!(e.message.contains("strictly decreasing"), "{e}");
    let e = load_err(&format!(
        "{HEAD}{body}\n[[grade]]\nname = \"好\"\nmin = 60\n\n[[grade]]\nname = \"差\"\nmin = 10\n"
    ));
    assert!(e.message.contains("min = 0"), "{e}");
}
