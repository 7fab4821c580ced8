//! Reading single cells as firms write them (full-width digits, numbers, dates, Excel serial
//! days) and the content hash that finds the same interview across files.

use crate::questionnaire::{AnswerValue, Questionnaire};
use chrono::NaiveDate;
use sha2::{Digest, Sha256};

/// Lower-case hex (`hex::encode` goes through a char iterator, noticeable at a million rows).
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

pub(crate) fn answer_code(v: &AnswerValue) -> String {
    match v {
        AnswerValue::Likert(c) => c.to_string(),
        AnswerValue::DontKnow => "dont_know".to_string(),
        AnswerValue::Choice(c) | AnswerValue::Text(c) => c.clone(),
        AnswerValue::Choices(cs) => cs.join(";"),
        AnswerValue::Number(x) => format!("{x}"),
    }
}

/// Full-width digits and punctuation (typed with a Chinese IME) to ASCII.
pub(crate) fn ascii_digits(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_ascii() {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                '。' => '.',
                _ => c,
            })
            .collect(),
    )
}

pub(crate) fn parse_number(s: &str) -> Option<f64> {
    ascii_digits(s)
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
}

/// Dates as firms write them: `2024-03-15`, `2024/3/15`, `2024年3月15日` (a time after a space
/// is ignored, as Excel adds `0:00` to date-times); in XLSX also an Excel serial day number.
/// Years outside 1990–2100 are refused as typos.
pub fn parse_date(s: &str, excel_serial: bool) -> Option<NaiveDate> {
    let s = ascii_digits(s.trim());
    let s = s.split_whitespace().next()?;
    if excel_serial && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return serial_date(s.parse::<f64>().ok()?);
    }
    let parts: Vec<&str> = if let Some(rest) = s.strip_suffix('日') {
        let (y, rest) = rest.split_once('年')?;
        let (m, d) = rest.split_once('月')?;
        vec![y, m, d]
    } else {
        let sep = if s.contains('-') { '-' } else { '/' };
        s.split(sep).collect()
    };
    let [y, m, d] = parts.as_slice() else {
        return None;
    };
    let digits = |p: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(y, 4..=4) || !digits(m, 1..=2) || !digits(d, 1..=2) {
        return None;
    }
    let year: i32 = y.parse().ok()?;
    if !(1990..=2100).contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, m.parse().ok()?, d.parse().ok()?)
}

/// Excel's 1900 date system: day 1 is 1900-01-01 and day 60 is the non-existent 1900-02-29.
pub(crate) fn serial_date(x: f64) -> Option<NaiveDate> {
    if !(1.0..2_958_466.0).contains(&x) {
        return None;
    }
    let n = x.floor() as i64;
    let base = if n < 60 {
        NaiveDate::from_ymd_opt(1899, 12, 31)?
    } else if n == 60 {
        return None;
    } else {
        NaiveDate::from_ymd_opt(1899, 12, 30)?
    };
    let d = base.checked_add_days(chrono::Days::new(n as u64))?;
    (1990..=2100)
        .contains(&chrono::Datelike::year(&d))
        .then_some(d)
}

/// sha256 over what makes two interviews "the same": questionnaire, unit, stratum variables
/// and answers (not the date, duration or weight). Fields are joined with U+001F, which no
/// cell of a valid row contains after parsing. The lead stores the hex form to find
/// duplicates across batches and firms.
pub fn content_hash(
    q: &Questionnaire,
    unit_code: &str,
    district: &str,
    gender: &str,
    age_group: &str,
    answers_json: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        q.id.as_str(),
        &q.version.to_string(),
        unit_code,
        district,
        gender,
        age_group,
        answers_json,
    ] {
        h.update(part.as_bytes());
        h.update([0x1F]);
    }
    h.finalize().into()
}
