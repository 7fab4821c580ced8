//! Malformed files and invalid rows: each gives a clear error at the row and column the firm
//! sees in Excel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod upload_support;

use pingyi::upload::{check_upload, read_upload, validate_upload, UploadOptions, UploadReport};
use upload_support::*;

fn check(bytes: &[u8]) -> UploadReport {
    check_upload(bytes, &questionnaire(), &context(), &options())
}

/// (row, column, kind) of every error, in report order.
fn summary(r: &UploadReport) -> Vec<(Option<u64>, String, String)> {
    r.errors
        .iter()
        .map(|e| (e.row, e.column.clone(), e.kind.clone()))
        .collect()
}

fn e(row: u64, column: &str, kind: &str) -> (Option<u64>, String, String) {
    (Some(row), column.to_string(), kind.to_string())
}

fn whole(kind: &str) -> Vec<(Option<u64>, String, String)> {
    vec![(None, String::new(), kind.to_string())]
}

#[test]
fn every_row_level_check() {
    let r = check(&fixture("row_errors.csv"));
    assert!(!r.is_valid());
    assert_eq!(
        summary(&r),
        vec![
            e(2, "unit", "unknown_unit"),
            e(3, "respondent_type", "wrong_respondent_type"),
            e(4, "q1", "unknown_choice"),
            e(5, "interview_date", "bad_date"),
            e(6, "q2", "required"),
            e(7, "q9", "hidden"),
            e(8, "q9", "required"),
            e(9, "weight", "out_of_range"),
            e(10, "duration_seconds", "not_a_number"),
            e(11, "score", "out_of_range"),
            e(11, "district", "required"),
        ]
    );
    assert_eq!((r.rows, r.valid_rows), (11, 1));
    let by_row = |row| r.errors.iter().find(|e| e.row == Some(row)).unwrap();
    assert_eq!(by_row(2).value, "U999");
    assert!(
        by_row(2).reason.contains("U001, U002, U003"),
        "{}",
        by_row(2).reason
    );
    assert!(by_row(3).reason.contains("service_user"));
    assert_eq!(by_row(4).value, "7");
    assert!(by_row(4).reason_zh.contains("很满意"));
    assert_eq!(by_row(5).value, "2024-02-30");
    assert!(by_row(5).reason.contains("2024-03-15"));
    assert!(by_row(7).reason.contains("visited"));
    assert_eq!(by_row(10).value, "five minutes");
}

#[test]
fn bad_quoting_is_reported_where_the_record_starts() {
    let r = check(&fixture("bad_quoting.csv"));
    assert_eq!(
        summary(&r),
        vec![
            e(3, "suggestions", "bad_quoting"),
            e(4, "district", "bad_quoting"),
            e(6, "suggestions", "bad_quoting"),
        ]
    );
    assert!(r.errors[0].reason.contains("\"\""));
    assert!(r.errors[2].reason.contains("never closed"));

    // A broken header line stops the reading: one error, not one per row.
    let text = String::from_utf8(fixture("sample_utf8.csv")).unwrap();
    let broken = text.replacen("unit,", "un\"it,", 1);
    assert_eq!(
        summary(&check(broken.as_bytes())),
        vec![e(1, "A", "bad_quoting")]
    );
}

#[test]
fn ragged_rows() {
    let r = check(&fixture("ragged.csv"));
    assert_eq!(
        summary(&r),
        vec![e(3, "", "too_few_cells"), e(4, "V", "too_many_cells")]
    );
    assert_eq!(r.errors[0].value, "19 cells");
    assert!(r.errors[0].reason.contains("21 columns"));
    assert_eq!(r.errors[1].value, "extra");
    assert_eq!(r.valid_rows, 3, "a trailing empty cell is harmless");
}

#[test]
fn wrong_and_duplicated_headers() {
    let r = check(&fixture("wrong_header.csv"));
    assert_eq!(
        summary(&r),
        vec![
            e(1, "H", "unknown_column"),
            e(1, "U", "unknown_column"),
            e(1, "unit", "missing_column"),
            e(1, "q1", "missing_column"),
        ]
    );
    assert_eq!(r.errors[0].value, "Q1");
    assert!(r.errors[0].reason.contains("Did you mean \"q1\""));
    assert_eq!(r.errors[1].value, "q99");

    let r = check(&fixture("duplicate_header.csv"));
    assert_eq!(summary(&r), vec![e(1, "V", "duplicate_column")]);
    assert!(r.errors[0].reason.contains("columns I and V"));
    assert_eq!(r.rows, 0, "rows are not read under a broken header");

    // Whitespace around header cells is fine; case is not.
    let text = String::from_utf8(fixture("sample_utf8.csv")).unwrap();
    let spaced = text.replacen("unit,respondent_type", " unit ,\trespondent_type ", 1);
    assert!(check(spaced.as_bytes()).is_valid());
}

#[test]
fn labels_must_match_a_label_of_either_language() {
    let r = check(&fixture("wrong_language.csv"));
    assert_eq!(
        summary(&r),
        vec![
            e(2, "q1", "unknown_choice"),
            e(3, "q2", "unknown_choice"),
            e(5, "channels", "unknown_choice"),
        ]
    );
    assert_eq!(r.errors[0].value, "很滿意");
    assert_eq!(r.errors[2].value, "窗口;Telephone");
    assert!(r.errors[2].reason.contains("Telephone"));
    assert_eq!(r.valid_rows, 1, "Yes / VERY SATISFIED / 不满意 are labels");
}

#[test]
fn whole_file_problems() {
    assert_eq!(summary(&check(&fixture("empty.csv"))), whole("empty_file"));
    assert_eq!(
        summary(&check(b"\xEF\xBB\xBF\r\n\r\n")),
        whole("empty_file")
    );
    assert_eq!(summary(&check(b",,,\r\n\r\n")), whole("empty_file"));
    assert_eq!(
        summary(&check(&fixture("header_only.csv"))),
        whole("no_data_rows")
    );
    let r = check(&fixture("garbage.bin"));
    assert_eq!(summary(&r), whole("binary_file"));
    assert_eq!(r.format, None);
    assert!(r.errors[0].reason.contains("not a spreadsheet"));
    assert_eq!(
        summary(&check(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00")),
        whole("old_xls")
    );
    // A truncated workbook.
    let x = sample_xlsx();
    let r = check(&x[..x.len() / 2]);
    assert_eq!(summary(&r), whole("bad_xlsx"));
    // Damaged UTF-8 (valid Chinese text, then a stray byte).
    let mut bad = fixture("sample_utf8.csv");
    bad.insert(bad.len() - 10, 0xFF);
    assert_eq!(summary(&check(&bad)), whole("bad_encoding"));
    // Invalid GB18030 in the middle of a GB18030 file: reported with its row.
    let mut gb = fixture("sample_gb18030.csv");
    let at = gb.len() - 5;
    gb[at] = 0xFF;
    let r = check(&gb);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].kind, "bad_encoding");
    assert!(r.errors[0].row.is_some_and(|row| row >= 7));
}

#[test]
fn excel_row_numbers_count_blank_rows_and_multiline_cells() {
    let r = check(&fixture("excel_rows.csv"));
    assert_eq!(
        summary(&r),
        vec![e(7, "q1", "unknown_choice"), e(9, "q2", "unknown_choice")]
    );
    assert_eq!(r.rows, 3);

    // XLSX: the row numbers of the sheet, whatever rows are empty.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let header = pingyi::upload::template_columns(&questionnaire());
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(2, c as u16, h).unwrap(); // header on Excel row 3
    }
    let good = [
        "U001",
        "service_user",
        "2024-03-15",
        "朝阳区",
        "男",
        "18-29",
        "",
        "",
        "5",
        "5",
        "5",
        "5",
        "5",
        "5",
        "5",
        "4",
        "2",
        "",
        "",
        "",
        "",
    ];
    for (c, v) in good.iter().enumerate() {
        sheet.write_string(3, c as u16, *v).unwrap();
        let v = if c == 0 { "U404" } else { v };
        sheet.write_string(6, c as u16, v).unwrap();
    }
    sheet.write_string(6, 30, "stray").unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let r = check(&bytes);
    assert_eq!(
        summary(&r),
        vec![e(7, "AE", "too_many_cells")],
        "{:#?}",
        r.errors
    );
    let bytes = {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (c, h) in header.iter().enumerate() {
            sheet.write_string(0, c as u16, h).unwrap();
        }
        for (c, v) in good.iter().enumerate() {
            let v = if c == 0 { "U404" } else { v };
            sheet.write_string(4, c as u16, v).unwrap();
        }
        book.save_to_buffer().unwrap()
    };
    assert_eq!(summary(&check(&bytes)), vec![e(5, "unit", "unknown_unit")]);
}

#[test]
fn errors_are_capped_then_counted_and_reported_as_csv() {
    let text = String::from_utf8(fixture("sample_utf8.csv")).unwrap();
    let header = text.lines().next().unwrap();
    let first = text.lines().nth(1).unwrap();
    let bad = first.replacen("U001", "NOPE", 1);
    let mut file = format!("{header}\n");
    for _ in 0..1500 {
        file.push_str(&bad);
        file.push('\n');
    }
    let r = check(file.as_bytes());
    assert_eq!(r.errors.len(), 1000);
    assert_eq!(r.more_errors, 500);
    assert_eq!(r.errors[999].row, Some(1001));
    let csv = r.errors_to_csv();
    assert!(csv.starts_with('\u{FEFF}'));
    assert_eq!(csv.lines().count(), 1 + 1000 + 1);
    assert!(csv
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("2,unit,NOPE,unknown_unit,"));
    assert!(csv
        .trim_end()
        .ends_with("and 500 more errors not listed; fix the ones above and upload again."));

    let small = UploadOptions {
        max_errors: 3,
        ..options()
    };
    let r = check_upload(file.as_bytes(), &questionnaire(), &context(), &small);
    assert_eq!((r.errors.len(), r.more_errors), (3, 1497));
}

#[test]
fn nothing_reaches_the_sink_after_an_error() {
    let text = String::from_utf8(fixture("sample_utf8.csv")).unwrap();
    let (header, body) = text.split_once("\r\n").unwrap();
    let body = body.trim_end();
    // 60 good rows, one bad, 60 good rows; chunks of 10.
    let mut file = format!("{header}\r\n");
    for _ in 0..10 {
        file.push_str(body);
        file.push_str("\r\n");
    }
    file.push_str(&text.lines().nth(1).unwrap().replacen("U001", "U404", 1));
    file.push_str("\r\n");
    for _ in 0..10 {
        file.push_str(body);
        file.push_str("\r\n");
    }
    let opts = UploadOptions {
        chunk_rows: 10,
        ..options()
    };
    let mut received = 0;
    let r = validate_upload(file.as_bytes(), &questionnaire(), &context(), &opts, |c| {
        received += c.len();
        Ok::<_, ()>(())
    })
    .unwrap();
    assert!(!r.is_valid());
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.rows, 121);
    assert_eq!(received, 60, "only chunks completed before the bad row");
    let (_, rows) = read_upload(file.as_bytes(), &questionnaire(), &context(), &opts);
    assert!(rows.is_empty());
}

#[test]
fn templates_have_the_exact_header_and_a_codes_sheet() {
    use calamine::{Reader, Xlsx};
    let q = questionnaire();
    let csv = pingyi::upload::template_csv(&q);
    assert!(csv.starts_with('\u{FEFF}'));
    let cols: Vec<&str> = csv
        .trim_start_matches('\u{FEFF}')
        .trim_end()
        .split(',')
        .collect();
    assert_eq!(
        cols[..8],
        [
            "unit",
            "respondent_type",
            "interview_date",
            "district",
            "gender",
            "age_group",
            "duration_seconds",
            "weight"
        ]
    );
    assert_eq!(cols.len(), 8 + q.questions.len());
    // The empty template is accepted up to "no data rows".
    assert_eq!(summary(&check(csv.as_bytes())), whole("no_data_rows"));

    let bytes = pingyi::upload::template_xlsx(&q).unwrap();
    assert_eq!(summary(&check(&bytes)), whole("no_data_rows"));
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(&bytes[..])).unwrap();
    assert_eq!(book.sheet_names(), vec!["data", "codes"]);
    let data = book.worksheet_range("data").unwrap();
    let header: Vec<String> = data
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header, cols);
    let codes = book.worksheet_range("codes").unwrap();
    let rows: Vec<Vec<String>> = codes
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let find = |col: &str, code: &str| rows.iter().find(|r| r[0] == col && r[4] == code).cloned();
    let q1_5 = find("q1", "5").unwrap();
    assert_eq!(
        (q1_5[1].as_str(), q1_5[5].as_str(), q1_5[6].as_str()),
        ("题1", "很满意", "Very satisfied")
    );
    assert_eq!(find("q1", "0").unwrap()[5], "不了解");
    assert_eq!(find("visited", "2").unwrap()[6], "No");
    assert!(find("respondent_type", "").unwrap()[1].contains("service_user"));
    assert!(rows
        .iter()
        .any(|r| r[0] == "score" && r[6].contains("0–10")));
}
