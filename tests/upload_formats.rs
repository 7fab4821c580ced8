//! The same sample in every accepted encoding, delimiter and XLSX reads to identical rows,
//! with the right values, flags, row numbers and file hash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod upload_support;

use pingyi::questionnaire::RespondentType;
use pingyi::upload::{read_upload, FileFormat, FlagCounts, RowFlags, ValidRow};
use sha2::{Digest, Sha256};
use upload_support::*;

fn read_ok(bytes: &[u8]) -> (pingyi::upload::UploadReport, Vec<ValidRow>) {
    let (report, rows) = read_upload(bytes, &questionnaire(), &context(), &options());
    assert!(report.is_valid(), "errors: {:#?}", report.errors);
    (report, rows)
}

#[test]
fn utf8_sample_reads_to_the_expected_rows() {
    let bytes = fixture("sample_utf8.csv");
    let (report, rows) = read_ok(&bytes);
    assert_eq!(
        report.format,
        Some(FileFormat::Csv {
            encoding: "UTF-8",
            delimiter: ','
        })
    );
    assert_eq!(report.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!((report.rows, report.valid_rows), (6, 6));
    assert_eq!(
        rows.iter().map(|r| r.row).collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 6, 7]
    );

    let r = &rows[0];
    assert_eq!(r.unit_id, 1);
    assert_eq!(r.respondent_type, RespondentType::ServiceUser);
    assert_eq!(r.interview_date, date(2024, 3, 15));
    assert_eq!(
        (r.district.as_str(), r.gender.as_str(), r.age_group.as_str()),
        ("朝阳区", "男", "18-29")
    );
    assert_eq!((r.duration_seconds, r.weight), (Some(300.0), Some(1.2)));
    assert_eq!(
        r.answers_json,
        r#"{"q1":5,"q2":4,"q3":5,"q4":4,"q5":5,"q6":4,"q7":5,"q8":4,"visited":"1","q9":5,"channels":["a","b"],"score":9,"suggestions":"服务很好，\"点赞\""}"#
    );
    assert_eq!(r.flags, RowFlags::default());
    assert_eq!(r.content_hash.len(), 64);

    // Labels in both languages, "don't know", q9 hidden by show_if and left empty.
    let r = &rows[1];
    assert_eq!((r.unit_id, r.interview_date), (2, date(2024, 3, 16)));
    assert_eq!(r.weight, None);
    assert_eq!(
        r.answers_json,
        r#"{"q1":5,"q2":4,"q3":3,"q4":2,"q5":1,"q6":null,"q7":5,"q8":4,"visited":"2"}"#
    );
    assert!(r.flags.speeder, "45 s < min_duration_seconds 60");

    let r = &rows[2];
    assert_eq!(r.interview_date, date(2024, 3, 17));
    assert_eq!(
        r.answers_json,
        r#"{"q1":5,"q2":4,"q3":3,"q4":3,"q5":3,"q6":3,"q7":3,"q8":3,"visited":"1","q9":3,"channels":["a","b"],"score":10}"#
    );
    assert_eq!(r.flags, RowFlags::default());

    assert!(rows[3].flags.straight_lining && !rows[3].flags.duplicate);
    assert!(rows[4].flags.straight_lining && rows[4].flags.duplicate);
    assert_eq!(rows[3].content_hash, rows[4].content_hash);
    assert_ne!(rows[0].content_hash, rows[2].content_hash);
    assert_eq!(
        rows[3].answers_json,
        r#"{"q1":4,"q2":4,"q3":4,"q4":4,"q5":4,"q6":4,"q7":4,"q8":4,"visited":"2","channels":["c"]}"#
    );

    let r = &rows[5];
    assert!(r.flags.outside_wave && !r.flags.speeder);
    assert!(r.answers_json.contains("[已隐藏]"), "{}", r.answers_json);
    assert!(!r.answers_json.contains("13812345678"));
    assert!(r.answers_json.contains(r#""score":0"#));
    assert!(r.answers_json.contains("\\n第二行"));

    assert_eq!(
        report.flags,
        FlagCounts {
            speeder: 1,
            straight_lining: 2,
            duplicate: 1,
            outside_wave: 1,
            flagged_rows: 4
        }
    );
}

#[test]
fn every_encoding_delimiter_and_xlsx_gives_identical_rows() {
    let (_, expected) = read_ok(&fixture("sample_utf8.csv"));
    let cases: Vec<(&str, Vec<u8>, FileFormat)> = vec![
        (
            "utf8 bom",
            fixture("sample_utf8_bom.csv"),
            FileFormat::Csv {
                encoding: "UTF-8 (BOM)",
                delimiter: ',',
            },
        ),
        (
            "gb18030",
            fixture("sample_gb18030.csv"),
            FileFormat::Csv {
                encoding: "GB18030",
                delimiter: ',',
            },
        ),
        (
            "utf16le tab",
            fixture("sample_utf16le.txt"),
            FileFormat::Csv {
                encoding: "UTF-16LE",
                delimiter: '\t',
            },
        ),
        (
            "semicolon",
            fixture("sample_semicolon.csv"),
            FileFormat::Csv {
                encoding: "UTF-8",
                delimiter: ';',
            },
        ),
        ("xlsx generated", sample_xlsx(), FileFormat::Xlsx),
        ("xlsx committed", fixture("sample.xlsx"), FileFormat::Xlsx),
    ];
    for (name, bytes, format) in cases {
        let (report, rows) = read_upload(&bytes, &questionnaire(), &context(), &options());
        assert!(report.is_valid(), "{name}: {:#?}", report.errors);
        assert_eq!(report.format, Some(format), "{name}");
        assert_eq!(rows, expected, "{name}");
        assert_eq!(report.sha256, hex::encode(Sha256::digest(&bytes)), "{name}");
    }
}

#[test]
fn gb18030_without_any_utf8_prefix_and_crlf_in_cells() {
    // Big enough that the streaming decoder works in several steps.
    let text = String::from_utf8(fixture("sample_utf8.csv")).unwrap();
    let (header, body) = text.split_once("\r\n").unwrap();
    let body = body.trim_end_matches("\r\n");
    let mut big = format!("{header}\r\n");
    let copies = 2000;
    for _ in 0..copies {
        big.push_str(body);
        big.push_str("\r\n");
    }
    let (gb, _, _) = encoding_rs::GB18030.encode(&big);
    assert!(gb.len() > 300_000);
    let (report, rows) = read_upload(&gb, &questionnaire(), &context(), &options());
    assert!(report.is_valid(), "{:#?}", report.errors);
    assert_eq!(rows.len(), 6 * copies);
    // The last sample row has a two-line cell, so each copy spans 7 lines.
    assert_eq!(rows[6].row, 2 + 7);
    // Five distinct rows per copy (the sample's rows 5 and 6 are duplicates).
    assert_eq!(report.flags.duplicate, (6 * copies - 5) as u64);
}

#[test]
fn chunks_are_bounded_and_in_order() {
    let text = String::from_utf8(fixture("sample_utf8.csv")).unwrap();
    let (header, body) = text.split_once("\r\n").unwrap();
    let big = format!("{header}\r\n{}", body.repeat(50));
    let q = questionnaire();
    let opts = pingyi::upload::UploadOptions {
        chunk_rows: 7,
        ..options()
    };
    let mut sizes = Vec::new();
    let mut last_row = 0;
    let report = pingyi::upload::validate_upload(big.as_bytes(), &q, &context(), &opts, |chunk| {
        sizes.push(chunk.len());
        for r in &chunk {
            assert!(r.row > last_row);
            last_row = r.row;
        }
        Ok::<_, String>(())
    })
    .unwrap();
    assert!(report.is_valid());
    assert_eq!(sizes.iter().sum::<usize>(), 300);
    assert!(sizes.iter().all(|&s| s <= 7));
    assert_eq!(sizes.len(), 300_usize.div_ceil(7));

    // A failing sink stops the reading and its error comes back.
    let mut calls = 0;
    let err = pingyi::upload::validate_upload(big.as_bytes(), &q, &context(), &opts, |_| {
        calls += 1;
        if calls == 3 {
            Err("disk full")
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!((err, calls), ("disk full", 3));
}

#[test]
fn resident_questionnaire_shares_stratum_columns_with_its_questions() {
    let all = pingyi::questionnaire::builtin().unwrap();
    let q = all.iter().find(|q| q.id == "resident").unwrap();
    let cols = pingyi::upload::template_columns(q);
    assert_eq!(cols.iter().filter(|c| *c == "district").count(), 1);
    let header = pingyi::upload::template_csv(q);
    let header = header.trim_start_matches('\u{FEFF}').trim_end();
    // Build a row from each question's first option / a valid number.
    let mut cells: Vec<String> = Vec::new();
    let mut chosen = std::collections::HashMap::new();
    for col in header.split(',') {
        let v = match col {
            "unit" => "U001".to_string(),
            "respondent_type" => "普通居民".to_string(),
            "interview_date" => "2024-03-20".to_string(),
            "duration_seconds" | "weight" => String::new(),
            "district" => "朝阳区".to_string(),
            code => match q.question(code) {
                Some(qq)
                    if qq.show_if.as_ref().is_some_and(|s| {
                        !chosen
                            .get(&s.question)
                            .is_some_and(|v| s.values.contains(v))
                    }) =>
                {
                    String::new()
                }
                Some(qq) => match qq.options().first() {
                    Some((c, _)) => c.clone(),
                    None if qq.required => "5".to_string(),
                    None => String::new(),
                },
                None => panic!("unexpected column {code}"),
            },
        };
        chosen.insert(col.to_string(), v.clone());
        cells.push(v);
    }
    let file = format!("{header}\n{}\n", cells.join(","));
    let (report, rows) = read_upload(file.as_bytes(), q, &context(), &options());
    if !report.is_valid() {
        // show_if questions that depend on the first option being chosen must be answered.
        let needs: Vec<_> = report.errors.iter().map(|e| (&e.column, &e.kind)).collect();
        panic!("{needs:?}");
    }
    assert_eq!(
        rows[0].district, "chaoyang",
        "the answer code, whatever the label typed"
    );
    assert_eq!(rows[0].respondent_type, RespondentType::Resident);
}

/// Regenerates the committed XLSX fixture when `PINGYI_REGENERATE_FIXTURES=1`; otherwise checks
/// that the committed file reads to the same rows as a freshly generated one.
#[test]
fn xlsx_fixture_matches_generator() {
    if std::env::var_os("PINGYI_REGENERATE_FIXTURES").is_some() {
        std::fs::write(fixture_path("sample.xlsx"), sample_xlsx()).unwrap();
    }
    let committed = std::fs::read(fixture_path("sample.xlsx")).unwrap();
    let rows = |b: &[u8]| {
        let (report, rows) =
            pingyi::upload::read_upload(b, &questionnaire(), &context(), &options());
        assert!(report.is_valid(), "{:?}", report.errors);
        rows
    };
    let committed_rows = rows(&committed);
    assert!(!committed_rows.is_empty());
    assert_eq!(committed_rows, rows(&sample_xlsx()));
}
