//! Loading questionnaire files: every malformed case is reported with file, line and field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pingyi::questionnaire::{load_dir, parse, LoadError, Problem, QuestionKind, RespondentType};

/// A small valid file; tests splice mistakes into it. Line numbers below refer to this text.
const BASE: &str = r#"id = "t"
version = 1
respondent_type = "service_user"
title = { zh = "标题", en = "Title" }
intro = { zh = "说明", en = "Intro" }

[[dimensions]]
code = "attitude"
zh = "服务态度"
en = "Attitude"

[[questions]]
code = "q1"
kind = "likert5"
dimension = "attitude"
text = { zh = "态度", en = "Attitude" }

[[questions]]
code = "q2"
kind = "single"
text = { zh = "性别", en = "Gender" }
choices = [
  { code = "1", zh = "男", en = "Male" },
  { code = "2", zh = "女", en = "Female" },
]
"#;

fn problems(text: &str) -> Vec<Problem> {
    match parse("surveys/t.toml", text) {
        Ok(q) => panic!("expected an error, got questionnaire {}", q.id),
        Err(LoadError { problems }) => problems,
    }
}

/// The single problem of `text`, checked for line and field.
fn one(text: &str, line: usize, field: &str) -> Problem {
    let ps = problems(text);
    assert_eq!(ps.len(), 1, "expected one problem, got {ps:#?}");
    let p = ps.into_iter().next().unwrap();
    assert_eq!(p.file, "surveys/t.toml");
    assert_eq!(p.line, Some(line), "wrong line for {p}");
    assert_eq!(p.field, field, "wrong field for {p}");
    p
}

fn with_question(extra: &str) -> String {
    format!("{BASE}\n{extra}")
}

// BASE has 25 lines; `with_question` adds a blank line, so an appended question starts at 27.
const Q: usize = 27;

#[test]
fn base_is_valid() {
    let q = parse("surveys/t.toml", BASE).unwrap();
    assert_eq!(q.id, "t");
    assert_eq!(q.version, 1);
    assert_eq!(q.respondent_type, RespondentType::ServiceUser);
    assert_eq!(q.questions.len(), 2);
    let l = q.questions[0].likert().unwrap();
    let scores: Vec<(u8, f64)> = l.choices.iter().map(|c| (c.code, c.score)).collect();
    assert_eq!(
        scores,
        vec![(5, 100.0), (4, 80.0), (3, 60.0), (2, 40.0), (1, 20.0)]
    );
    let satisfied: Vec<u8> = l
        .choices
        .iter()
        .filter(|c| c.satisfied)
        .map(|c| c.code)
        .collect();
    assert_eq!(satisfied, vec![5, 4, 3]);
    assert!(l.dont_know.is_none());
    assert!(q.questions[1].required);
}

#[test]
fn display_names_file_line_question_and_field() {
    let text = with_question(
        "[[questions]]\ncode = \"q7\"\nkind = \"likert5\"\ndimension = \"xyz\"\ntext = { zh = \"a\", en = \"b\" }\n",
    );
    let p = one(&text, Q + 3, "dimension");
    assert_eq!(
        p.to_string(),
        format!("surveys/t.toml:{}: question \"q7\" field \"dimension\": unknown dimension \"xyz\"; known: attitude", Q + 3)
    );
}

#[test]
fn duplicate_question_code() {
    let text = with_question(
        "[[questions]]\ncode = \"q1\"\nkind = \"text\"\ntext = { zh = \"a\", en = \"b\" }\n",
    );
    let p = one(&text, Q + 1, "code");
    assert!(p.message.contains("duplicate question code \"q1\""), "{p}");
}

#[test]
fn duplicate_choice_and_dimension_codes() {
    let text = with_question(
        "[[questions]]\ncode = \"q3\"\nkind = \"single\"\ntext = { zh = \"a\", en = \"b\" }\nchoices = [\n  { code = \"a\", zh = \"甲\", en = \"A\" },\n  { code = \"a\", zh = \"乙\", en = \"B\" },\n]\n",
    );
    let p = one(&text, Q + 6, "choices[1].code");
    assert!(p.message.contains("duplicate choice code"), "{p}");

    let text = BASE.replace(
        "[[questions]]\ncode = \"q1\"",
        "[[dimensions]]\ncode = \"attitude\"\nzh = \"重复\"\nen = \"Again\"\n\n[[questions]]\ncode = \"q1\"",
    );
    let p = one(&text, 13, "dimensions[1].code");
    assert!(p.message.contains("duplicate dimension"), "{p}");
}

#[test]
fn score_map_must_cover_the_choices() {
    let text = with_question(
        "[[questions]]\ncode = \"q3\"\nkind = \"likert5\"\ndimension = \"attitude\"\ntext = { zh = \"a\", en = \"b\" }\nscores = { 5 = 100, 4 = 75, 3 = 50 }\n",
    );
    let p = one(&text, Q + 5, "scores");
    assert!(p.message.contains("does not cover the choices 2, 1"), "{p}");

    let text = with_question(
        "[[questions]]\ncode = \"q3\"\nkind = \"likert5\"\ndimension = \"attitude\"\ntext = { zh = \"a\", en = \"b\" }\nscores = { 5 = 100, 4 = 75, 3 = 50, 2 = 25, 1 = 0, 6 = 120 }\n",
    );
    let p = one(&text, Q + 5, "scores");
    assert!(p.message.contains("\"6\" is not a likert code"), "{p}");
}

#[test]
fn custom_scores_and_satisfied_set_are_used() {
    let text = with_question(
        "[[questions]]\ncode = \"q3\"\nkind = \"likert5\"\ndimension = \"attitude\"\ntext = { zh = \"a\", en = \"b\" }\nscores = { 5 = 100, 4 = 75, 3 = 50, 2 = 25, 1 = 0 }\nsatisfied = [5, 4]\ndont_know = \"dk\"\n",
    );
    let q = parse("surveys/t.toml", &text).unwrap();
    let l = q.question("q3").unwrap().likert().unwrap();
    assert_eq!(l.choice(2).unwrap().score, 25.0);
    assert_eq!(l.choice(1).unwrap().score, 0.0);
    assert!(l.choice(4).unwrap().satisfied);
    assert!(!l.choice(3).unwrap().satisfied);
    assert_eq!(l.dont_know.as_ref().unwrap().code, "dk");
    assert_eq!(l.dont_know.as_ref().unwrap().label.zh, "不了解");
}

#[test]
fn file_wide_likert_defaults_apply_and_can_be_overridden() {
    let text = BASE.replace(
        "[[dimensions]]",
        "[likert]\ndont_know = true\nsatisfied = [5, 4]\n\n[[dimensions]]",
    );
    let text = format!(
        "{text}\n[[questions]]\ncode = \"q3\"\nkind = \"likert5\"\ndimension = \"attitude\"\ntext = {{ zh = \"a\", en = \"b\" }}\ndont_know = false\n"
    );
    let q = parse("surveys/t.toml", &text).unwrap();
    let l1 = q.question("q1").unwrap().likert().unwrap();
    assert_eq!(l1.dont_know.as_ref().unwrap().code, "0");
    assert!(!l1.choice(3).unwrap().satisfied);
    let l3 = q.question("q3").unwrap().likert().unwrap();
    assert!(l3.dont_know.is_none());
    assert!(!l3.choice(3).unwrap().satisfied);
}

#[test]
fn satisfied_set_naming_unknown_codes() {
    let text = with_question(
        "[[questions]]\ncode = \"q3\"\nkind = \"likert5\"\ndimension = \"attitude\"\ntext = { zh = \"a\", en = \"b\" }\n\nsatisfied = [5, 4, 7]\n",
    );
    let p = one(&text, Q + 6, "satisfied");
    assert!(p.message.contains("unknown likert code 7"), "{p}");
}

#[test]
fn bad_file_wide_likert_defaults() {
    let text = BASE.replace(
        "[[dimensions]]",
        "[likert]\nsatisfied = [0]\n\n[[dimensions]]",
    );
    let ps = problems(&text);
    // Reported once for the [likert] table, and for q1 which inherits it.
    assert!(ps
        .iter()
        .any(|p| p.field == "likert.satisfied" && p.line == Some(8)));
}

#[test]
fn bad_dont_know_code() {
    let text = with_question(
        "[[questions]]\ncode = \"q3\"\nkind = \"likert5\"\ndimension = \"attitude\"\ntext = { zh = \"a\", en = \"b\" }\ndont_know = \"3\"\n",
    );
    let p = one(&text, Q + 5, "dont_know");
    assert!(
        p.message.contains("cannot be the \"don't know\" code"),
        "{p}"
    );
}

#[test]
fn unknown_dimension_and_missing_dimension_on_likert() {
    let text = BASE.replace("dimension = \"attitude\"", "dimension = \"attitud\"");
    let p = one(&text, 15, "dimension");
    assert!(p.message.contains("known: attitude"), "{p}");

    let text = BASE.replace("dimension = \"attitude\"\n", "");
    let p = one(&text, 14, "dimension");
    assert!(
        p.message
            .contains("every likert5 question belongs to a dimension"),
        "{p}"
    );
}

#[test]
fn show_if_unknown_later_self_and_bad_choice() {
    let q3 = |cond: &str| {
        with_question(&format!(
            "[[questions]]\ncode = \"q3\"\nkind = \"text\"\ntext = {{ zh = \"a\", en = \"b\" }}\nshow_if = {cond}\n"
        ))
    };
    let p = one(
        &q3("{ question = \"nope\", in = [\"1\"] }"),
        Q + 4,
        "show_if.question",
    );
    assert!(p.message.contains("unknown question \"nope\""), "{p}");

    let p = one(
        &q3("{ question = \"q3\", in = [\"1\"] }"),
        Q + 4,
        "show_if.question",
    );
    assert!(p.message.contains("cannot depend on itself"), "{p}");

    let p = one(
        &q3("{ question = \"q2\", in = [\"1\", \"9\"] }"),
        Q + 4,
        "show_if.in",
    );
    assert!(
        p.message
            .contains("\"9\" is not a choice of question \"q2\""),
        "{p}"
    );
    assert!(p.message.contains("1, 2"), "{p}");

    let p = one(&q3("{ question = \"q2\", in = [] }"), Q + 4, "show_if.in");
    assert!(p.message.contains("at least one"), "{p}");

    // Pointing forward: q1 depends on q2, which comes later.
    let text = BASE.replace(
        "text = { zh = \"态度\", en = \"Attitude\" }",
        "text = { zh = \"态度\", en = \"Attitude\" }\nshow_if = { question = \"q2\", in = [\"1\"] }",
    );
    let p = one(&text, 17, "show_if.question");
    assert!(p.message.contains("comes later"), "{p}");

    // Depending on a text question makes no sense.
    let text = with_question(
        "[[questions]]\ncode = \"t1\"\nkind = \"text\"\ntext = { zh = \"a\", en = \"b\" }\n\n[[questions]]\ncode = \"t2\"\nkind = \"text\"\ntext = { zh = \"a\", en = \"b\" }\nshow_if = { question = \"t1\", in = [\"x\"] }\n",
    );
    let p = one(&text, Q + 9, "show_if.question");
    assert!(p.message.contains("is a text question"), "{p}");
}

#[test]
fn show_if_on_likert_accepts_dont_know_code_and_rating_values() {
    let text = with_question(
        "[[questions]]\ncode = \"q3\"\nkind = \"likert5\"\ndimension = \"attitude\"\ntext = { zh = \"a\", en = \"b\" }\ndont_know = \"dk\"\n\n[[questions]]\ncode = \"r\"\nkind = \"rating\"\nshow_if = { question = \"q3\", in = [\"dk\", \"1\"] }\ntext = { zh = \"a\", en = \"b\" }\n\n[[questions]]\ncode = \"why\"\nkind = \"text\"\nshow_if = { question = \"r\", in = [\"0\", \"10\"] }\ntext = { zh = \"a\", en = \"b\" }\n",
    );
    let q = parse("surveys/t.toml", &text).unwrap();
    assert_eq!(
        q.question("r").unwrap().show_if.as_ref().unwrap().values,
        ["dk", "1"]
    );
}

#[test]
fn missing_or_empty_translations() {
    let text = BASE.replace(
        "text = { zh = \"态度\", en = \"Attitude\" }",
        "text = { zh = \"态度\" }",
    );
    let p = one(&text, 16, "text.en");
    assert!(
        p.message.contains("missing English (en) translation"),
        "{p}"
    );

    let text = BASE.replace(
        "{ code = \"2\", zh = \"女\", en = \"Female\" }",
        "{ code = \"2\", zh = \"\", en = \"Female\" }",
    );
    let p = one(&text, 24, "choices[1].zh");
    assert!(p.message.contains("empty"), "{p}");

    let text = BASE.replace(
        "title = { zh = \"标题\", en = \"Title\" }",
        "title = { en = \"Title\" }",
    );
    let p = one(&text, 4, "title.zh");
    assert!(p.message.contains("Chinese (zh)"), "{p}");

    let text = BASE.replace("en = \"Attitude\"\n\n[[questions]]", "\n[[questions]]");
    let p = one(&text, 9, "dimensions[0].en");
    assert!(p.message.contains("missing English"), "{p}");

    // A question without any text at all points at the question.
    let text = with_question("[[questions]]\ncode = \"q3\"\nkind = \"rating\"\n");
    let ps = problems(&text);
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert!(ps
        .iter()
        .all(|p| p.line == Some(Q) && p.field.starts_with("text.")));
}

#[test]
fn bad_bounds() {
    let num = |body: &str| {
        with_question(&format!(
            "[[questions]]\ncode = \"n\"\nkind = \"number\"\ntext = {{ zh = \"a\", en = \"b\" }}\n{body}"
        ))
    };
    let p = one(&num("min = 10\nmax = 5\n"), Q + 4, "min");
    assert!(p.message.contains("must be less than max"), "{p}");
    let p = one(&num("min = 0.5\nmax = 5\n"), Q + 4, "min");
    assert!(p.message.contains("not a whole number"), "{p}");
    let p = one(&num("max = 5\n"), Q, "min");
    assert!(p.message.contains("needs both bounds"), "{p}");
    let q = parse(
        "surveys/t.toml",
        &num("min = 0.5\nmax = 5\ninteger = false\n"),
    )
    .unwrap();
    assert!(matches!(
        q.question("n").unwrap().kind,
        QuestionKind::Number { integer: false, .. }
    ));

    let multi = |body: &str| {
        with_question(&format!(
            "[[questions]]\ncode = \"m\"\nkind = \"multiple\"\ntext = {{ zh = \"a\", en = \"b\" }}\nchoices = [{{ code = \"a\", zh = \"甲\", en = \"A\" }}, {{ code = \"b\", zh = \"乙\", en = \"B\" }}]\n{body}"
        ))
    };
    let p = one(&multi("min = 2\nmax = 1\n"), Q + 5, "min");
    assert!(p.message.contains("greater than max"), "{p}");
    let p = one(&multi("max = 3\n"), Q + 5, "max");
    assert!(p.message.contains("number of choices (2)"), "{p}");

    let p = one(
        &with_question("[[questions]]\ncode = \"t\"\nkind = \"text\"\ntext = { zh = \"a\", en = \"b\" }\nmax_length = 0\n"),
        Q + 4,
        "max_length",
    );
    assert!(p.message.contains("from 1 to 10000"), "{p}");
}

#[test]
fn fields_of_another_kind_are_refused() {
    let p = one(
        &with_question("[[questions]]\ncode = \"t\"\nkind = \"text\"\ntext = { zh = \"a\", en = \"b\" }\nchoices = []\n"),
        Q + 4,
        "choices",
    );
    assert!(p.message.contains("not allowed for kind text"), "{p}");
}

#[test]
fn single_needs_two_choices() {
    let p = one(
        &with_question("[[questions]]\ncode = \"s\"\nkind = \"single\"\ntext = { zh = \"a\", en = \"b\" }\nchoices = [{ code = \"a\", zh = \"甲\", en = \"A\" }]\n"),
        Q + 4,
        "choices",
    );
    assert!(p.message.contains("at least two"), "{p}");
    let p = one(
        &with_question(
            "[[questions]]\ncode = \"s\"\nkind = \"single\"\ntext = { zh = \"a\", en = \"b\" }\n",
        ),
        Q,
        "choices",
    );
    assert!(p.message.contains("missing"), "{p}");
}

#[test]
fn unknown_kind_respondent_type_and_version() {
    let p = one(
        &BASE.replace("kind = \"single\"", "kind = \"dropdown\""),
        20,
        "kind",
    );
    assert!(
        p.message
            .contains("known: likert5, single, multiple, rating, number, text"),
        "{p}"
    );

    let p = one(
        &BASE.replace("\"service_user\"", "\"citizen\""),
        3,
        "respondent_type",
    );
    assert!(
        p.message.contains("unknown respondent type \"citizen\""),
        "{p}"
    );

    let p = one(&BASE.replace("version = 1", "version = 0"), 2, "version");
    assert!(p.message.contains("≥ 1"), "{p}");

    let p = one(&BASE.replace("id = \"t\"", "id = \"a b\""), 1, "id");
    assert!(p.message.contains("not a valid id"), "{p}");
}

#[test]
fn toml_syntax_errors_and_unknown_keys_have_lines() {
    let p = one(&BASE.replace("kind = \"single\"", "kind = single"), 20, "");
    assert!(p.to_string().starts_with("surveys/t.toml:20: "), "{p}");

    let p = one(
        &BASE.replace("kind = \"single\"", "kind = \"single\"\nrequird = false"),
        21,
        "",
    );
    assert!(p.message.contains("requird"), "{p}");

    let p = one(&BASE.replace("version = 1", "version = \"1\""), 2, "");
    assert!(p.message.contains("invalid type: string \"1\""), "{p}");
}

#[test]
fn several_problems_are_all_reported_in_order() {
    let text = BASE
        .replace("dimension = \"attitude\"", "dimension = \"x\"")
        .replace(
            "{ code = \"2\", zh = \"女\", en = \"Female\" }",
            "{ code = \"1\", zh = \"女\", en = \"Female\" }",
        );
    let ps = problems(&text);
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert_eq!((ps[0].line, ps[0].field.as_str()), (Some(15), "dimension"));
    assert_eq!(
        (ps[1].line, ps[1].field.as_str()),
        (Some(24), "choices[1].code")
    );
    let shown = LoadError { problems: ps }.to_string();
    assert_eq!(shown.lines().count(), 2);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pingyi-questionnaire-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("frameworks")).unwrap();
    dir
}

#[test]
fn load_dir_reads_top_level_files_and_refuses_duplicate_versions() {
    let dir = temp_dir("dup");
    std::fs::write(dir.join("a.toml"), BASE).unwrap();
    // Not a questionnaire: sub-directories are someone else's format.
    std::fs::write(dir.join("frameworks").join("f.toml"), "x = 1").unwrap();
    std::fs::write(dir.join("notes.md"), "# not toml").unwrap();
    let qs = load_dir(&dir).unwrap();
    assert_eq!(qs.len(), 1);

    let v2 = BASE.replace("version = 1", "version = 2");
    std::fs::write(dir.join("b.toml"), &v2).unwrap();
    let qs = load_dir(&dir).unwrap();
    assert_eq!(qs.iter().map(|q| q.version).collect::<Vec<_>>(), vec![1, 2]);

    let same = format!("# same id and version as a.toml\n{BASE}");
    std::fs::write(dir.join("c.toml"), same).unwrap();
    let err = load_dir(&dir).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    let p = &err.problems[0];
    assert!(p.file.ends_with("c.toml"), "{p}");
    assert_eq!(p.line, Some(3));
    assert_eq!(p.field, "version");
    assert!(
        p.message.contains("also defined in") && p.message.contains("a.toml"),
        "{p}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_dir_reports_problems_of_every_file() {
    let dir = temp_dir("many");
    std::fs::write(
        dir.join("a.toml"),
        BASE.replace("kind = \"single\"", "kind = \"x\""),
    )
    .unwrap();
    std::fs::write(
        dir.join("b.toml"),
        BASE.replace("id = \"t\"", "id = \"u\"")
            .replace("zh = \"男\", ", ""),
    )
    .unwrap();
    let err = load_dir(&dir).unwrap_err();
    let files: Vec<bool> = err
        .problems
        .iter()
        .map(|p| p.file.ends_with("a.toml"))
        .collect();
    assert_eq!(files, vec![true, false], "{err}");
    assert!(load_dir(&dir.join("missing"))
        .unwrap_err()
        .to_string()
        .contains("cannot read"));
    std::fs::remove_dir_all(&dir).unwrap();
}
