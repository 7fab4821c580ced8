//! Fuzz the upload reader + validator: any bytes must give a report, never a panic, and the
//! report must be self-consistent. Seeds: tests/fixtures/uploads (copied into the corpus).
#![no_main]
#![allow(dead_code, unused_imports)]

#[path = "../../src/questionnaire/mod.rs"]
mod questionnaire;
#[path = "../../src/upload/mod.rs"]
mod upload;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn setup() -> &'static (questionnaire::Questionnaire, upload::UploadContext) {
    static S: OnceLock<(questionnaire::Questionnaire, upload::UploadContext)> = OnceLock::new();
    S.get_or_init(|| {
        let text = include_str!("../../tests/fixtures/uploads/questionnaire.toml");
        let q = questionnaire::parse("questionnaire.toml", text).expect("test questionnaire");
        let ctx = upload::UploadContext {
            units: [("U001", 1), ("U002", 2), ("U003", 3)]
                .into_iter()
                .map(|(c, i)| (c.to_string(), i))
                .collect(),
            wave: chrono::NaiveDate::from_ymd_opt(2024, 3, 1)
                .zip(chrono::NaiveDate::from_ymd_opt(2024, 3, 31)),
        };
        (q, ctx)
    })
}

fuzz_target!(|data: &[u8]| {
    let (q, ctx) = setup();
    let opts = upload::UploadOptions {
        chunk_rows: 3,
        ..Default::default()
    };
    let mut delivered = 0u64;
    let report = upload::validate_upload(data, q, ctx, &opts, |chunk| {
        delivered += chunk.len() as u64;
        Ok::<(), ()>(())
    })
    .expect("sink never fails");
    assert_eq!(report.sha256.len(), 64);
    assert!(report.valid_rows <= report.rows);
    if report.is_valid() {
        assert_eq!(delivered, report.rows);
        assert_eq!(report.valid_rows, report.rows);
        assert!(report.rows > 0);
    }
    for e in &report.errors {
        assert!(e.row.is_none_or(|r| r >= 1));
    }
    let _ = report.errors_to_csv();
});
