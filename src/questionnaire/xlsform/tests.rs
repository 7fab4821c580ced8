//! Workbook round trips and the problems each kind of mistake produces.

use super::*;
use crate::questionnaire::builtin;

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
