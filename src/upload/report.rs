//! Errors as the firm sees them ({row, column, value, reason}), the capped error list, the
//! downloadable CSV error report, and quality-flag counts for the receipt.

use serde::Serialize;

/// One problem in an upload. `row` is the row number Excel shows (header = 1, first data row
/// = 2); `None` for problems of the whole file (empty, binary, no data rows).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    pub row: Option<u64>,
    /// Header name of the column (or its Excel letter when it has none); "" for whole rows.
    pub column: String,
    /// The offending cell as written (trimmed, cut to 100 characters).
    pub value: String,
    /// Machine-readable reason, e.g. `unknown_unit`, `required`, `bad_quoting`.
    pub kind: String,
    /// Reason in English, saying how to fix it.
    pub reason: String,
    /// Reason in Chinese.
    pub reason_zh: String,
}

impl RowError {
    pub fn new(
        row: Option<u64>,
        column: impl Into<String>,
        value: &str,
        kind: &str,
        reason: impl Into<String>,
        reason_zh: impl Into<String>,
    ) -> Self {
        RowError {
            row,
            column: column.into(),
            value: shorten(value.trim(), 100),
            kind: kind.to_string(),
            reason: reason.into(),
            reason_zh: reason_zh.into(),
        }
    }
}

fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Default cap on collected errors; further ones are only counted.
pub const DEFAULT_MAX_ERRORS: usize = 1000;

/// Errors up to a cap, then a count of the rest.
#[derive(Debug, Clone, Default)]
pub struct ErrorList {
    pub errors: Vec<RowError>,
    pub more: u64,
    cap: usize,
}

impl ErrorList {
    pub fn new(cap: usize) -> Self {
        ErrorList {
            errors: Vec::new(),
            more: 0,
            cap,
        }
    }

    pub fn push(&mut self, e: RowError) {
        if self.errors.len() < self.cap {
            self.errors.push(e);
        } else {
            self.more += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.more == 0
    }

    pub fn total(&self) -> u64 {
        self.errors.len() as u64 + self.more
    }
}

/// The downloadable error report: UTF-8 with a BOM (so Excel on Chinese Windows opens it
/// correctly), columns 行 row, 列 column, 值 value, 原因 reason (zh), reason (en). When errors
/// were capped, a last line says how many more there are.
pub fn errors_to_csv(errors: &[RowError], more: u64) -> String {
    let mut out = String::from("\u{FEFF}");
    out.push_str("行 row,列 column,值 value,类型 kind,原因,reason\r\n");
    for e in errors {
        let row = e.row.map(|r| r.to_string()).unwrap_or_default();
        let cells = [
            row.as_str(),
            &e.column,
            &e.value,
            &e.kind,
            &e.reason_zh,
            &e.reason,
        ];
        push_csv_line(&mut out, &cells);
    }
    if more > 0 {
        let zh = format!("另有 {more} 个错误未列出；请先修正以上错误后重新上传。");
        let en = format!("and {more} more errors not listed; fix the ones above and upload again.");
        push_csv_line(&mut out, &["", "", "", "more_errors", &zh, &en]);
    }
    out
}

/// Quote a CSV cell when needed. Cells starting with `=`, `+`, `-`, `@` are prefixed with `'`
/// so a hostile value cannot run as a formula when the report is opened in Excel.
pub fn push_csv_line(out: &mut String, cells: &[&str]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let guarded;
        let c = if c.starts_with(['=', '+', '-', '@']) {
            guarded = format!("'{c}");
            guarded.as_str()
        } else {
            c
        };
        if c.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&c.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(c);
        }
    }
    out.push_str("\r\n");
}

/// Quality flags of one row: warnings, never errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RowFlags {
    /// Interview shorter than the questionnaire's `min_duration_seconds`.
    pub speeder: bool,
    /// The same answer on every one of at least 8 answered likert items.
    pub straight_lining: bool,
    /// Same content hash as an earlier row of this file.
    pub duplicate: bool,
    /// Interview date outside the wave's dates.
    pub outside_wave: bool,
}

impl RowFlags {
    pub fn any(&self) -> bool {
        self.speeder || self.straight_lining || self.duplicate || self.outside_wave
    }

    /// Flag names, for storage as text or JSON.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.speeder {
            v.push("speeder");
        }
        if self.straight_lining {
            v.push("straight_lining");
        }
        if self.duplicate {
            v.push("duplicate");
        }
        if self.outside_wave {
            v.push("outside_wave");
        }
        v
    }

    /// Compact integer form: speeder 1, straight_lining 2, duplicate 4, outside_wave 8.
    pub fn bits(&self) -> u8 {
        (self.speeder as u8)
            | (self.straight_lining as u8) << 1
            | (self.duplicate as u8) << 2
            | (self.outside_wave as u8) << 3
    }
}

/// Rows per flag, for the receipt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FlagCounts {
    pub speeder: u64,
    pub straight_lining: u64,
    pub duplicate: u64,
    pub outside_wave: u64,
    /// Rows with at least one flag.
    pub flagged_rows: u64,
}

impl FlagCounts {
    pub fn add(&mut self, f: &RowFlags) {
        self.speeder += f.speeder as u64;
        self.straight_lining += f.straight_lining as u64;
        self.duplicate += f.duplicate as u64;
        self.outside_wave += f.outside_wave as u64;
        self.flagged_rows += f.any() as u64;
    }
}

/// Excel column letter of a 0-based column index: 0 → A, 26 → AA.
pub fn column_letter(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }

    #[test]
    fn error_list_caps_and_counts() {
        let mut l = ErrorList::new(2);
        for i in 0..5 {
            l.push(RowError::new(Some(i), "c", "v", "k", "r", "r"));
        }
        assert_eq!(l.errors.len(), 2);
        assert_eq!(l.more, 3);
        assert_eq!(l.total(), 5);
    }

    #[test]
    fn csv_report_has_bom_quotes_and_guards_formulas() {
        let errs = vec![RowError::new(
            Some(7),
            "q1",
            "=HYPERLINK(\"x\")",
            "unknown_choice",
            "not an option, pick 1-5",
            "不是选项",
        )];
        let csv = errors_to_csv(&errs, 4);
        assert!(csv.starts_with('\u{FEFF}'));
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[1],
            "7,q1,\"'=HYPERLINK(\"\"x\"\")\",unknown_choice,不是选项,\"not an option, pick 1-5\""
        );
        assert!(lines[2].contains("and 4 more errors"));
    }

    #[test]
    fn flags_bits_and_counts() {
        let f = RowFlags {
            speeder: true,
            duplicate: true,
            ..Default::default()
        };
        assert_eq!(f.bits(), 5);
        assert_eq!(f.names(), vec!["speeder", "duplicate"]);
        let mut c = FlagCounts::default();
        c.add(&f);
        c.add(&RowFlags::default());
        assert_eq!((c.speeder, c.duplicate, c.flagged_rows), (1, 1, 1));
    }
}
