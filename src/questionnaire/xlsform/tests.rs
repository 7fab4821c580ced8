//! Workbook round trips, the problem each kind of mistake produces, and hostile workbooks.

use super::*;
use crate::questionnaire::{builtin, QuestionKind};
use rust_xlsxwriter::Workbook;
use std::io::{Cursor, Read, Write};

/// A workbook as rows of text per sheet, changed by each test before writing.
#[derive(Clone)]
struct Book {
    sheets: Vec<(String, Vec<Vec<String>>)>,
}

fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
    r.iter()
        .map(|row| row.iter().map(|c| c.to_string()).collect())
        .collect()
}

impl Book {
    /// A small valid questionnaire: a yes/no filter, a likert item shown only to those who
    /// dealt with the unit, and a reason asked of the dissatisfied.
    fn valid() -> Self {
        Book {
            sheets: vec![
                (
                    "survey".into(),
                    rows(&[
                        &[
                            "type",
                            "name",
                            "label::中文 (zh)",
                            "label::English (en)",
                            "required",
                            "relevant",
                            "dimension",
                        ],
                        &[
                            "select_one yn",
                            "contact",
                            "您是否到本单位办过事？",
                            "Have you dealt with the unit?",
                            "yes",
                            "",
                            "",
                        ],
                        &[
                            "select_one likert5",
                            "q1",
                            "您对服务态度是否满意？",
                            "Are you satisfied with the attitude?",
                            "yes",
                            "${contact} = '1'",
                            "attitude",
                        ],
                        &[
                            "text",
                            "why",
                            "不满意的原因",
                            "Why dissatisfied",
                            "",
                            "${q1} = '2' or ${q1} = '1'",
                            "",
                        ],
                    ]),
                ),
                (
                    "choices".into(),
                    rows(&[
                        &[
                            "list_name",
                            "name",
                            "label::中文 (zh)",
                            "label::English (en)",
                        ],
                        &["yn", "1", "是", "Yes"],
                        &["yn", "2", "否", "No"],
                        &["likert5", "5", "很满意", "Very satisfied"],
                        &["likert5", "4", "满意", "Satisfied"],
                        &["likert5", "3", "基本满意", "Fairly satisfied"],
                        &["likert5", "2", "不满意", "Dissatisfied"],
                        &["likert5", "1", "很不满意", "Very dissatisfied"],
                        &["likert5", "0", "不了解", "Don't know"],
                    ]),
                ),
                (
                    "settings".into(),
                    rows(&[
                        &[
                            "form_id",
                            "version",
                            "form_title::中文 (zh)",
                            "form_title::English (en)",
                            "respondent_type",
                            "intro::中文 (zh)",
                            "intro::English (en)",
                        ],
                        &[
                            "walk_in",
                            "1",
                            "窗口服务满意度",
                            "Counter service satisfaction",
                            "service_user",
                            "您好！",
                            "Hello!",
                        ],
                    ]),
                ),
                (
                    "dimensions".into(),
                    rows(&[
                        &["name", "label::中文 (zh)", "label::English (en)"],
                        &["attitude", "服务态度", "Service attitude"],
                    ]),
                ),
            ],
        }
    }

    fn sheet(&mut self, name: &str) -> &mut Vec<Vec<String>> {
        let i = self.sheets.iter().position(|(n, _)| n == name).unwrap();
        &mut self.sheets[i].1
    }

    /// Sets a cell by Excel row number (1-based) and column letter.
    fn set(&mut self, sheet: &str, row: usize, col: char, v: &str) -> &mut Self {
        let rows = self.sheet(sheet);
        let c = (col as u8 - b'A') as usize;
        while rows.len() < row {
            rows.push(Vec::new());
        }
        let r = &mut rows[row - 1];
        while r.len() <= c {
            r.push(String::new());
        }
        r[c] = v.to_string();
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut wb = Workbook::new();
        for (name, rows) in &self.sheets {
            let ws = wb.add_worksheet().set_name(name).unwrap();
            for (r, row) in rows.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    if !v.is_empty() {
                        ws.write_string(r as u32, c as u16, v).unwrap();
                    }
                }
            }
        }
        wb.save_to_buffer().unwrap()
    }
}

/// The problems of a workbook that must be refused, one `sheet!cell: message` per line.
fn problems(book: &Book) -> Vec<String> {
    match import(&book.bytes()) {
        Ok(q) => panic!("accepted: {q:?}"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

fn has(problems: &[String], start: &str, part: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(start) && p.contains(part)),
        "no problem starting {start:?} containing {part:?} in:\n{}",
        problems.join("\n")
    );
}

#[test]
fn shipped_questionnaires_round_trip_through_xlsx_and_toml() {
    for q in builtin().unwrap() {
        let book = export_xlsx(&q).unwrap();
        let back = import(&book).unwrap_or_else(|e| panic!("{}: {e}", q.id));
        assert_eq!(back, q, "{}", q.id);
        assert_eq!(back.content_hash, q.content_hash);
        let text = export_toml(&q);
        let again = crate::questionnaire::parse("export.toml", &text).unwrap();
        assert_eq!(again.content_hash, q.content_hash, "{}", q.id);
    }
}

#[test]
fn a_small_workbook_reads_into_the_model() {
    let q = import(&Book::valid().bytes()).unwrap();
    assert_eq!((q.id.as_str(), q.version), ("walk_in", 1));
    assert_eq!(q.questions.len(), 3);
    let q1 = q.question("q1").unwrap();
    let l = q1.likert().unwrap();
    assert_eq!(l.dont_know.as_ref().map(|d| d.code.as_str()), Some("0"));
    assert_eq!(l.choice(5).map(|c| c.score), Some(100.0));
    assert_eq!(q1.show_if.as_ref().unwrap().values, ["1"]);
    assert!(matches!(
        q.question("why").unwrap().kind,
        QuestionKind::Text { max_length: 1000 }
    ));
    assert!(!q.question("why").unwrap().required);
}

#[test]
fn unknown_type() {
    let mut b = Book::valid();
    b.set("survey", 4, 'A', "textarea");
    has(&problems(&b), "survey!A4:", "unknown type \"textarea\"");
    b.set("survey", 4, 'A', "start");
    has(&problems(&b), "survey!A4:", "anonymous");
}

#[test]
fn duplicate_name() {
    let mut b = Book::valid();
    b.set("survey", 4, 'B', "q1");
    has(
        &problems(&b),
        "survey!B4:",
        "duplicate name \"q1\" (first at B3)",
    );
}

#[test]
fn missing_choice_list() {
    let mut b = Book::valid();
    b.set("survey", 3, 'A', "select_one likert7");
    has(
        &problems(&b),
        "survey!A3:",
        "unknown choice list \"likert7\"",
    );
}

#[test]
fn relevant_referring_to_a_later_or_unknown_question() {
    let mut b = Book::valid();
    b.set("survey", 2, 'F', "${q1} = '5'");
    has(
        &problems(&b),
        "survey!F2:",
        "\"q1\", which comes later (survey!B3)",
    );
    b.set("survey", 2, 'F', "${nothing} = '5'");
    has(&problems(&b), "survey!F2:", "unknown question \"nothing\"");
    b.set("survey", 2, 'F', "${q1} > 3 and string-length(.) > 0");
    has(&problems(&b), "survey!F2:", "pingyi reads");
}

#[test]
fn likert_list_without_five_choices() {
    let mut b = Book::valid();
    b.sheet("choices").remove(7); // likert5 choice 1
    has(
        &problems(&b),
        "survey!A3:",
        "must be the five-point satisfaction scale",
    );
    let mut b = Book::valid();
    b.set("choices", 4, 'C', "非常满意");
    has(&problems(&b), "choices!C4:", "fixed labels");
}

#[test]
fn missing_chinese_label() {
    let mut b = Book::valid();
    b.set("survey", 3, 'C', "");
    has(
        &problems(&b),
        "survey!C3:",
        "question \"q1\" label has no Chinese text",
    );
    let mut b = Book::valid();
    b.set("choices", 2, 'C', "");
    has(&problems(&b), "choices!C2:", "no Chinese text");
    let mut b = Book::valid();
    b.sheet("survey")[0][2] = "label".into();
    has(&problems(&b), "survey!C1:", "no language");
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut b = Book::valid();
    b.set("survey", 2, 'A', "select_one nope")
        .set("survey", 3, 'C', "")
        .set("survey", 4, 'A', "geopoint")
        .set("settings", 2, 'B', "zero")
        .set("survey", 5, 'A', "integer")
        .set("survey", 5, 'B', "visits")
        .set("survey", 5, 'C', "次数")
        .set("survey", 5, 'D', "Visits");
    let p = problems(&b);
    has(&p, "survey!A2:", "unknown choice list \"nope\"");
    has(&p, "survey!C3:", "no Chinese text");
    has(&p, "survey!A4:", "not supported");
    has(&p, "settings!B2:", "version");
    has(&p, "survey!H1:", "needs both bounds");
    assert_eq!(p.len(), 5, "{}", p.join("\n"));
}

#[test]
fn unread_columns_with_values_are_refused_and_notes_are_kept_out() {
    let mut b = Book::valid();
    b.set("survey", 1, 'H', "appearance")
        .set("survey", 2, 'H', "horizontal");
    has(&problems(&b), "survey!H1:", "not read by pingyi");
    b.set("survey", 1, 'H', "# 备注");
    assert!(import(&b.bytes()).is_ok());
}

#[test]
fn number_text_multiple_and_range_columns() {
    let mut b = Book::valid();
    let extra: &[&[&str]] = &[
        &[
            "integer",
            "visits",
            "办事次数",
            "Visits",
            "yes",
            "",
            "",
            ". >= 0 and . <= 50",
            "",
            "次",
            "times",
        ],
        &[
            "select_multiple yn",
            "both",
            "两者",
            "Both",
            "",
            "",
            "",
            "count-selected(.) <= 1",
            "",
            "",
            "",
        ],
        &[
            "range",
            "score",
            "打分",
            "Score",
            "",
            "",
            "",
            "",
            "start=0 end=10 step=1",
            "",
            "",
        ],
        &[
            "text",
            "note",
            "意见",
            "Note",
            "",
            "selected(${both}, '2')",
            "",
            "string-length(.) <= 300",
            "",
            "",
            "",
        ],
    ];
    b.sheet("survey")[0].extend(
        [
            "constraint",
            "parameters",
            "unit::中文 (zh)",
            "unit::English (en)",
        ]
        .map(String::from),
    );
    b.sheet("survey").extend(rows(extra));
    let q = import(&b.bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        q.question("visits").unwrap().kind,
        QuestionKind::Number {
            min: 0.0,
            max: 50.0,
            integer: true,
            unit: Some(crate::questionnaire::Text::new("次", "times"))
        }
    );
    assert!(matches!(
        q.question("both").unwrap().kind,
        QuestionKind::Multiple { min: 0, max: 1, .. }
    ));
    assert!(matches!(
        q.question("score").unwrap().kind,
        QuestionKind::Rating {
            low: None,
            high: None
        }
    ));
    assert!(matches!(
        q.question("note").unwrap().kind,
        QuestionKind::Text { max_length: 300 }
    ));
    // And the workbook the export writes reads back the same.
    assert_eq!(import(&export_xlsx(&q).unwrap()).unwrap(), q);
}

#[test]
fn chinese_sheet_names_including_four_byte_gb18030_characters() {
    let mut b = Book::valid();
    for (i, name) in ["问卷", "选项", "设置", "维度"].iter().enumerate() {
        b.sheets[i].0 = name.to_string();
    }
    b.sheets
        .push(("填表说明𠀀𪚥".into(), rows(&[&["请勿修改 form_id"]])));
    let q = import(&b.bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.questions.len(), 3);
    b.set("问卷", 4, 'A', "textarea");
    has(&problems(&b), "问卷!A4:", "unknown type");
}

#[test]
fn formulas_are_refused() {
    let mut wb = Workbook::new();
    for (name, rows) in &Book::valid().sheets {
        let ws = wb.add_worksheet().set_name(name).unwrap();
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if name == "survey" && r == 1 && c == 2 {
                    ws.write_formula(r as u32, c as u16, "=\"您\"&\"好\"")
                        .unwrap();
                } else if !v.is_empty() {
                    ws.write_string(r as u32, c as u16, v).unwrap();
                }
            }
        }
    }
    let err = import(&wb.save_to_buffer().unwrap()).unwrap_err();
    has(
        &err.problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        "survey!C2:",
        "formula",
    );
}

#[test]
fn a_sheet_of_100000_rows_is_refused_at_the_limit() {
    let mut b = Book::valid();
    let survey = b.sheet("survey");
    for i in 0..100_000 {
        survey.push(vec![
            "text".into(),
            format!("t{i}"),
            "题".into(),
            "Q".into(),
        ]);
    }
    let p = problems(&b);
    assert_eq!(p.len(), 1, "{}", p.join("\n"));
    has(&p, "survey!A1002:", "more than 1000 rows");
}

/// Rewrites one part of a workbook's zip package.
fn rezip(book: &[u8], part: &str, change: impl Fn(Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let mut zin = zip::ZipArchive::new(Cursor::new(book)).unwrap();
    let mut out = Cursor::new(Vec::new());
    {
        let mut zout = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for i in 0..zin.len() {
            let mut f = zin.by_index(i).unwrap();
            let name = f.name().unwrap().to_string();
            let mut body = Vec::new();
            f.read_to_end(&mut body).unwrap();
            if name == part {
                body = change(body);
            }
            zout.start_file(name, opts).unwrap();
            zout.write_all(&body).unwrap();
        }
        zout.finish().unwrap();
    }
    out.into_inner()
}

#[test]
fn external_entities_are_refused() {
    let book = Book::valid().bytes();
    let evil = rezip(&book, "xl/worksheets/sheet1.xml", |body| {
        let text = String::from_utf8(body).unwrap();
        let (decl, rest) = text.split_at(text.find("?>").unwrap() + 2);
        format!("{decl}<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{rest}")
            .into_bytes()
    });
    let err = import(&evil).unwrap_err().to_string();
    assert!(err.contains("document type declaration"), "{err}");
    assert!(err.contains("xl/worksheets/sheet1.xml"), "{err}");
}

#[test]
fn a_zip_bomb_is_refused_before_it_is_unpacked() {
    let book = Book::valid().bytes();
    let bomb = rezip(&book, "xl/sharedStrings.xml", |mut body| {
        body.resize(40 * 1024 * 1024, b' ');
        body
    });
    assert!(
        bomb.len() < 1024 * 1024,
        "the bomb is small: {}",
        bomb.len()
    );
    let err = import(&bomb).unwrap_err().to_string();
    assert!(err.contains("zip bomb"), "{err}");
}

#[test]
fn not_a_workbook() {
    let err = import(b"type,name,label\ntext,q1,x\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an Excel workbook"), "{err}");
}

#[test]
fn version_diff_names_added_removed_and_reworded_items() {
    let old = import(&Book::valid().bytes()).unwrap();
    let mut b = Book::valid();
    b.set("survey", 3, 'C', "您对工作人员的服务态度是否满意？")
        .set("settings", 2, 'B', "2");
    b.sheet("survey").remove(3);
    b.sheet("survey")
        .push(rows(&[&["text", "idea", "建议", "Suggestions"]]).remove(0));
    let new = import(&b.bytes()).unwrap();
    let changes = diff(&old, &new);
    let kinds: Vec<(ChangeKind, &str)> =
        changes.iter().map(|c| (c.kind, c.item.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (ChangeKind::Reworded, "q1"),
            (ChangeKind::Added, "idea"),
            (ChangeKind::Removed, "why"),
        ]
    );
    assert_eq!(comparable_items(&old, &new), ["q1"]);
}
