//! Workbooks saved by other spreadsheet programs read back to the same questionnaire: the
//! shipped resident questionnaire re-saved by LibreOffice Calc imports to its content hash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn a_workbook_saved_by_libreoffice_imports_to_the_same_content() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/questionnaires/resident-libreoffice.xlsx"
    ))
    .unwrap();
    // really LibreOffice's file, not ours: its own application name in docProps/app.xml
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
    let mut app = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("docProps/app.xml").unwrap(), &mut app).unwrap();
    assert!(app.contains("LibreOffice"), "{app}");
    let q = pingyi::questionnaire::xlsform::import(&bytes).unwrap();
    let shipped = pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .find(|s| s.id == "resident")
        .unwrap();
    assert_eq!(q.content_hash, shipped.content_hash);
    assert_eq!(q, shipped);
}
