//! `pingyi score`: the command's output for the shipped frameworks, read from
//! real files. The module is compiled into this test directly so it is tested
//! whether or not the binary has wired it yet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../src/commands/score.rs"]
mod score;

use std::path::{Path, PathBuf};

use score::{render, ScoreArgs, ScoreFormat, SurveyMeasureArg};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A fresh directory for one test's input files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pingyi-cli-score-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn args(framework: &str, scores: PathBuf) -> ScoreArgs {
    ScoreArgs {
        framework: repo(framework),
        scores,
        events: None,
        survey: None,
        survey_measure: SurveyMeasureArg::Index,
        format: ScoreFormat::Csv,
    }
}

/// The division example of the evaluation rules example: 职能工作 quarters 92, 88, 95, 90 (every sub-item
/// at the quarter's score), 管理工作 85, 创新创优 80, satisfaction 90 / 85.
const DIVISION_SCORES: &str = "\u{feff}unit,indicator,period,score,note
办公室,functional.key,Q1,92,一季度
办公室,functional.routine,Q1,92,
办公室,functional.other,Q1,92,
办公室,functional.key,Q2,88,
办公室,functional.routine,Q2,88,
办公室,functional.other,Q2,88,
办公室,functional.key,Q3,95,
办公室,functional.routine,Q3,95,
办公室,functional.other,Q3,95,
办公室,functional.key,Q4,90,
办公室,functional.routine,Q4,90,
办公室,functional.other,Q4,90,
办公室,management.lawful,,85,
办公室,management.efficient,,85,
办公室,management.clean,,85,
办公室,management.other,,85,
办公室,innovation.results,,80,
办公室,innovation.improvement,,80,
";

const DIVISION_SURVEY: &str = "unit,binding,value
办公室,satisfaction_index:leader,90
办公室,satisfaction_index:staff,85
";

#[test]
fn division_example_as_csv() {
    let dir = scratch("division_csv");
    let mut a = args(
        "surveys/frameworks/bureau_division.toml",
        write(&dir, "scores.csv", DIVISION_SCORES),
    );
    a.survey = Some(write(&dir, "survey.csv", DIVISION_SURVEY));
    let out = render(&a).unwrap_or_else(|e| panic!("{e:#}"));
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(
            "unit,rank,functional,functional.key,functional.routine,functional.other,management,\
             management.lawful,management.efficient,management.clean,management.other,innovation,\
             innovation.results,innovation.improvement,satisfaction,satisfaction.leadership,\
             satisfaction.staff,gross,deductions,total,grade_before,grade,advanced,rectification"
        )
    );
    assert_eq!(
        lines.next(),
        Some(
            "办公室,1,36.5,18.25,10.95,7.3,25.5,5.1,5.1,5.1,10.2,8,4.8,3.2,17.4,7.2,10.2,87.4,0,\
             87.4,良好,良好,false,false"
        )
    );
    assert_eq!(lines.next(), None);

    // With a violation → 达标.
    a.events = Some(write(
        &dir,
        "events.csv",
        "unit,event,note\n办公室,violation,通报\n",
    ));
    let out = render(&a).unwrap();
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .ends_with(",87.4,良好,达标,false,false"),
        "{out}"
    );
}

#[test]
fn division_example_as_json() {
    let dir = scratch("division_json");
    let mut a = args(
        "surveys/frameworks/bureau_division.toml",
        write(&dir, "scores.csv", DIVISION_SCORES),
    );
    a.survey = Some(write(&dir, "survey.csv", DIVISION_SURVEY));
    a.format = ScoreFormat::Json;
    let out = render(&a).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["framework"], "bureau_division");
    assert_eq!(v["max_total"], 100.0);
    assert_eq!(v["indicators"][1]["id"], "functional.key");
    assert_eq!(v["indicators"][1]["parent"], "functional");
    let u = &v["units"][0];
    assert_eq!(u["unit"], "办公室");
    assert_eq!(u["total"], 87.4);
    assert_eq!(u["grade_before"], "良好");
    assert_eq!(u["grade"], "良好");
    assert_eq!(u["rank"], 1);
    assert_eq!(u["advanced"], false);
    assert_eq!(u["indicators"][0]["points"], 36.5);
    assert_eq!(u["indicators"][0]["periods"][2]["score"], 95.0);
}

#[test]
fn beijing_with_analyze_style_survey_and_capped_deductions() {
    let dir = scratch("beijing");
    let mut scores = String::from("unit,indicator,period,score,note\n");
    for (u, duties) in [("市科委", 17.5), ("市教委", 12.5), ("市民政局", 12.5)] {
        for (id, v) in [
            ("efficiency.duties", duties),
            ("efficiency.leaders", 17.5),
            ("management.law", 10.0),
            ("management.capacity", 10.0),
            ("service.central", 10.0),
            ("service.grassroots", 10.0),
            ("innovation", 5.0),
        ] {
            scores.push_str(&format!("{u},{id},,{v},\n"));
        }
    }
    scores.push_str("市科委,accountability.safety,2024-01,15,\"安全生产, 事故问责\"\n");
    scores.push_str("市科委,accountability.budget,2024-02,10,\n");
    let survey = "unit,binding,value\n\
                  市科委,satisfaction_index:service_user+resident,90\n\
                  市教委,satisfaction_index:resident+service_user,100\n\
                  市民政局,satisfaction_index:service_user+resident,100\n";
    let mut a = args(
        "surveys/frameworks/beijing_sanxiao_yichuang.toml",
        write(&dir, "scores.csv", &scores),
    );
    a.survey = Some(write(&dir, "survey.csv", survey));
    let out = render(&a).unwrap_or_else(|e| panic!("{e:#}"));
    let rows: Vec<Vec<String>> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let pick = |r: &Vec<String>| {
        let n = r.len();
        (
            r[0].clone(),
            r[1].clone(),
            r[n - 6].clone(),
            r[n - 5].clone(),
            r[n - 3].clone(),
        )
    };
    // 市教委 and 市民政局 tie at 95 (rank 1, 1); 市科委: 98 − min(25, 20) = 78 → rank 3.
    let got: Vec<_> = rows.iter().map(pick).collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        got,
        vec![
            (s("市教委"), s("1"), s("0"), s("95"), s("优秀")),
            (s("市民政局"), s("1"), s("0"), s("95"), s("优秀")),
            (s("市科委"), s("3"), s("20"), s("78"), s("达标")),
        ]
    );
}

#[test]
fn analyze_output_fills_single_type_bindings() {
    let dir = scratch("analyze");
    let mut scores = String::from("unit,indicator,period,score\n");
    for q in ["Q1", "Q2", "Q3", "Q4"] {
        scores.push_str(&format!("张三,work,{q},90\n"));
    }
    scores.push_str("张三,internal,,90\n");
    // `pingyi analyze --satisfied 4,5 --by unit,respondent_type` style output.
    let survey = "unit,respondent_type,n,estimate,se,ci_low,ci_high,deff,n_eff,suppressed\n\
                  张三,leader,12,0.95,0.01,0.9,0.99,1,12,false\n\
                  张三,staff,40,0.9,0.02,0.85,0.95,1.1,36,false\n\
                  张三,resident,3,,,,,,,true\n";
    let mut a = args(
        "surveys/frameworks/bureau_individual.toml",
        write(&dir, "scores.csv", &scores),
    );
    a.survey = Some(write(&dir, "survey.csv", survey));
    // The framework asks for satisfaction_index; rate rows do not satisfy it.
    a.survey_measure = SurveyMeasureArg::Rate;
    let e = render(&a).unwrap_err().to_string();
    assert!(
        e.contains("missing survey result `satisfaction_index:leader`"),
        "{e}"
    );
    // Read as an index the estimates are taken as they are (0.95 on 0–100 is legal).
    a.survey_measure = SurveyMeasureArg::Index;
    let out = render(&a).unwrap();
    // 54 + 18 + 20 × (0.4·0.95 + 0.6·0.9)/100 = 72.184
    assert!(out.contains(",72.184,达标,达标,"), "{out}");
}

#[test]
fn errors_name_file_line_unit_and_indicator() {
    let dir = scratch("errors");
    // Out of range on line 3, reported with the file name.
    let scores = write(
        &dir,
        "scores.csv",
        "unit,indicator,period,score\n办公室,management.lawful,,85\n办公室,management.clean,,185\n",
    );
    let e = render(&args("surveys/frameworks/bureau_division.toml", scores))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 3: unit `办公室`, indicator `management.clean`"),
        "{e}"
    );
    assert!(e.contains("missing score"), "{e}");

    // A non-number.
    let scores = write(
        &dir,
        "bad.csv",
        "unit,indicator,period,score\n办公室,management.lawful,,八十\n",
    );
    let e = render(&args(
        "surveys/frameworks/bureau_division.toml",
        scores.clone(),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.ends_with("bad.csv:2: score `八十` is not a number"),
        "{e}"
    );

    // A broken framework file.
    let fw = write(
        &dir,
        "fw.toml",
        "[framework]\nid = \"x\"\nname = \"X\"\n\n[[indicator]]\nid = \"a\"\nname = \"A\"\npoints = 90\n",
    );
    let mut a = args("unused", scores);
    a.framework = fw;
    let e = render(&a).unwrap_err().to_string();
    assert!(e.contains("fw.toml:6:"), "{e}");
    assert!(e.contains("add up to 90, expected 100"), "{e}");

    // A wrong header.
    let scores = write(
        &dir,
        "hdr.csv",
        "unit,indicator,score\n办公室,management.lawful,85\n",
    );
    let e = render(&args("surveys/frameworks/bureau_division.toml", scores))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing column `period`"), "{e}");
}

#[test]
fn composite_bindings_come_from_their_parts_or_as_given() {
    let dir = scratch("composite");
    let fw = write(
        &dir,
        "five.toml",
        "[framework]\nid = \"five\"\nname = \"五位一体\"\ninput = \"percent\"\n\n\
         [[indicator]]\nid = \"work\"\nname = \"工作\"\nweight = 85\n\n\
         [[indicator]]\nid = \"review\"\nname = \"社会评议\"\nweight = 15\nsurvey = \"composite:five_in_one\"\n\n\
         [[composite]]\nid = \"five_in_one\"\nweights = { leader = 10, staff = 20, service_user = 40, peer_department = 20, regulator = 10 }\n",
    );
    let scores = write(
        &dir,
        "scores.csv",
        "unit,indicator,period,score\n甲局,work,,90\n乙局,work,,90\n",
    );
    // `pingyi analyze --by unit,respondent_type` output for 甲局; 乙局's composite given
    let survey = write(
        &dir,
        "survey.csv",
        "unit,respondent_type,n,estimate,suppressed\n\
         甲局,leader,3,90,false\n甲局,staff,20,80,false\n甲局,service_user,200,70,false\n\
         甲局,peer_department,8,85,false\n甲局,regulator,2,95,false\n",
    );
    let mut a = args("unused", scores.clone());
    a.framework = fw.clone();
    a.survey = Some(survey);
    // 乙局 has nothing: missing, and the message says what the composite weights
    let e = render(&a).unwrap_err().to_string();
    assert!(
        e.contains(
            "unit `乙局`, indicator `review`: missing survey result `composite:five_in_one`"
        ) && e.contains("leader 10%, staff 20%, service_user 40%"),
        "{e}"
    );
    let survey = write(
        &dir,
        "long.csv",
        "unit,binding,value\n\
         甲局,satisfaction_index:leader,90\n甲局,satisfaction_index:staff,80\n\
         甲局,satisfaction_index:service_user,70\n甲局,satisfaction_index:peer_department,85\n\
         甲局,satisfaction_index:regulator,95\n乙局,composite:five_in_one,60\n",
    );
    a.survey = Some(survey);
    let out = render(&a).unwrap_or_else(|e| panic!("{e:#}"));
    // 甲局: 0.1·90 + 0.2·80 + 0.4·70 + 0.2·85 + 0.1·95 = 79.5 → 15 × 0.795 = 11.925;
    // 76.5 + 11.925 = 88.425. 乙局: 76.5 + 15 × 0.6 = 85.5.
    assert!(out.contains("甲局,1,76.5,11.925,88.425,"), "{out}");
    assert!(out.contains("乙局,2,76.5,9,85.5,"), "{out}");
}
