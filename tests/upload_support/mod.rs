//! Shared helpers of tests/upload_*.rs: the test questionnaire, the evaluation context, and
//! building the XLSX version of the sample fixture.
#![allow(dead_code)]

use chrono::NaiveDate;
use pingyi::questionnaire::Questionnaire;
use pingyi::upload::{UploadContext, UploadOptions};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use std::path::PathBuf;

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/uploads")
        .join(name)
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

pub fn questionnaire() -> Questionnaire {
    let text = String::from_utf8(fixture("questionnaire.toml")).unwrap();
    pingyi::questionnaire::parse("questionnaire.toml", &text).unwrap()
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Units U001..U003 (ids 1..3); wave March 2024.
pub fn context() -> UploadContext {
    UploadContext {
        units: [("U001", 1), ("U002", 2), ("U003", 3)]
            .into_iter()
            .map(|(c, i)| (c.to_string(), i))
            .collect(),
        wave: Some((date(2024, 3, 1), date(2024, 3, 31))),
    }
}

pub fn options() -> UploadOptions {
    UploadOptions::default()
}

/// The sample as Excel would hold it after a firm typed it in: numbers as numbers, the first
/// row's date as a formatted date cell, the fourth row's date as a bare serial number (45369 =
/// 2024-03-18), everything else as text.
pub fn sample_xlsx() -> Vec<u8> {
    let sample = fixture("sample_utf8.csv");
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&sample[..]);
    let rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date_fmt = Format::new().set_num_format("yyyy/m/d");
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r32, c16) = (r as u32, c as u16);
            let header = &rows[0][c];
            if r == 1 && header == "interview_date" {
                let dt = ExcelDateTime::from_ymd(2024, 3, 15).unwrap();
                sheet
                    .write_datetime_with_format(r32, c16, &dt, &date_fmt)
                    .unwrap();
            } else if r == 4 && header == "interview_date" {
                sheet.write_number(r32, c16, 45369).unwrap();
            } else if cell.is_empty() {
                // Excel stores no cell at all.
            } else if let (true, Ok(x)) = (r > 0 && header != "suggestions", cell.parse::<f64>()) {
                sheet.write_number(r32, c16, x).unwrap();
            } else {
                sheet.write_string(r32, c16, cell).unwrap();
            }
        }
    }
    // A second sheet must be ignored.
    book.add_worksheet()
        .set_name("notes")
        .unwrap()
        .write_string(0, 0, "ignored")
        .unwrap();
    book.save_to_buffer().unwrap()
}
