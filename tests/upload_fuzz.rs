//! Stable-Rust randomized testing of the upload reader + validator (the cargo-fuzz target in
//! fuzz/ needs nightly): arbitrary bytes, mutated valid files and random tables never panic
//! and always give a self-consistent report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod upload_support;

use pingyi::upload::{validate_upload, UploadOptions, UploadReport};
use proptest::prelude::*;
use upload_support::*;

fn run(bytes: &[u8]) -> UploadReport {
    let opts = UploadOptions {
        chunk_rows: 2,
        ..options()
    };
    let mut delivered = 0u64;
    let report = validate_upload(bytes, &questionnaire(), &context(), &opts, |c| {
        delivered += c.len() as u64;
        Ok::<_, ()>(())
    })
    .unwrap();
    assert_eq!(report.sha256.len(), 64);
    assert!(report.valid_rows <= report.rows);
    if report.is_valid() {
        assert!(report.rows > 0);
        assert_eq!(delivered, report.rows, "every valid row reaches the sink");
    }
    for e in &report.errors {
        assert!(e.row.is_none_or(|r| r >= 1));
        assert!(!e.reason.is_empty() && !e.reason_zh.is_empty() && !e.kind.is_empty());
    }
    let csv = report.errors_to_csv();
    assert!(csv.starts_with('\u{FEFF}'));
    report
}

/// Bytes that matter to the parser, plus some high bytes for the decoders.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(b'"'),
        Just(b','),
        Just(b';'),
        Just(b'\t'),
        Just(b'\n'),
        Just(b'\r'),
        Just(0u8),
        Just(0xFFu8),
        Just(0xE6u8),
        Just(0x81u8),
        any::<u8>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let r = run(&bytes);
        // Random bytes are never a valid upload of this questionnaire.
        prop_assert!(!r.is_valid());
    }

    #[test]
    fn arbitrary_text_after_a_valid_header_never_panics(tail in "[ -~\\t\\r\\n很满意不了解]{0,400}") {
        let header = String::from_utf8(fixture("header_only.csv")).unwrap();
        run(format!("{header}{tail}").as_bytes());
    }

    #[test]
    fn mutated_samples_never_panic(
        which in 0usize..5,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), interesting_byte()), 1..8),
    ) {
        let name = ["sample_utf8.csv", "sample_utf8_bom.csv", "sample_gb18030.csv", "sample_utf16le.txt", "sample_semicolon.csv"][which];
        let mut bytes = fixture(name);
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let r = run(&bytes);
        // Any row number reported lies within the file.
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        for e in &r.errors {
            if let Some(row) = e.row {
                // UTF-16 files have two bytes per line break; the bound is loose on purpose.
                prop_assert!(row <= lines.max(1) * 2, "{row} > {lines}");
            }
        }
    }

    #[test]
    fn truncated_and_mutated_xlsx_never_panics(
        cut in 0.0f64..1.0,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = fixture("sample.xlsx");
        let keep = ((bytes.len() as f64) * cut) as usize;
        if keep > 0 {
            bytes.truncate(keep.max(4));
        }
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        run(&bytes);
    }
}

#[test]
fn fuzz_corpus_files_never_panic() {
    // Inputs cargo-fuzz found interesting (fuzz/corpus/upload_parse), when present.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/upload_parse");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut n = 0;
    for entry in entries.flatten() {
        if let Ok(bytes) = std::fs::read(entry.path()) {
            run(&bytes);
            n += 1;
        }
    }
    assert!(n > 0, "corpus directory exists but is empty");
}
