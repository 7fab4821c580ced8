//! Working-day calendars (`surveys/calendars/*.toml`): public holidays and make-up working days
//! (调休上班) per locality, and the working-day arithmetic deadlines are counted in. Pure: no
//! HTTP, no database.
//!
//! A date is a working day when it is a Monday to Friday that is not a listed holiday, or a
//! Saturday or Sunday listed as a make-up working day. A calendar covers only the years it
//! lists: every question about a date outside them is an error naming the calendar and its
//! years, never a silent weekends-only answer.
//!
//! ```ignore
//! let cn = calendar::load(Path::new("surveys"), "cn")?;      // built-in when no folder
//! let due = cn.add_working_days(date("2026-09-30")?, 3)?;   // 2026-10-10 (a make-up Saturday)
//! ```

mod file;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use chrono::{Datelike, NaiveDate, Weekday};

pub use file::{builtin, builtin_names, load, parse, BUILTIN_CALENDARS};

/// Errors of calendar files and of dates outside a calendar.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalendarError {
    #[error(
        "unknown calendar {name:?}: {where_} has {}; calendars are files NAME.toml in \
         surveys/calendars/",
        list_or_none(.available)
    )]
    Unknown {
        name: String,
        /// where calendars were looked for ("the built-in set" or a folder)
        where_: String,
        available: Vec<String>,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error(
        "{date} is outside calendar {calendar:?} ({name}), which covers {years}; add that year \
         to surveys/calendars/{calendar}.toml or use a date within it"
    )]
    OutOfRange {
        calendar: String,
        name: String,
        date: NaiveDate,
        years: String,
    },
    #[error("{0}")]
    Input(String),
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "no calendars".into()
    } else {
        format!("only {}", v.join(", "))
    }
}

/// Whether a year's dates are the government's announcement or a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum YearStatus {
    /// The official arrangement (holidays and make-up working days as announced).
    Official,
    /// Not yet announced: statutory holidays only, no make-up working days.
    Provisional,
}

/// A named special day (a holiday, or a make-up working day).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Named {
    pub name: String,
    pub name_en: String,
}

/// One year of a calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Year {
    pub year: i32,
    pub status: YearStatus,
    /// where the dates come from (the notice, or why the year is provisional)
    pub source: String,
}

/// A locality's working-day calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub id: String,
    pub name: String,
    pub name_en: String,
    /// the file it was read from (for messages)
    pub file: String,
    /// the locality's offset from UTC: what "today" is there
    pub utc_offset: chrono::FixedOffset,
    pub years: BTreeMap<i32, Year>,
    pub holidays: BTreeMap<NaiveDate, Named>,
    /// weekend days that are working days (调休上班)
    pub workdays: BTreeMap<NaiveDate, Named>,
}

impl Calendar {
    /// The years covered, as people write them: `2026–2027`, or `2026, 2028` with gaps.
    pub fn years_text(&self) -> String {
        let ys: Vec<i32> = self.years.keys().copied().collect();
        match (ys.first(), ys.last()) {
            (Some(a), Some(b)) if (b - a) as usize + 1 == ys.len() && a != b => {
                format!("{a}–{b}")
            }
            _ => ys
                .iter()
                .map(|y| y.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    fn covers(&self, d: NaiveDate) -> Result<(), CalendarError> {
        if self.years.contains_key(&d.year()) {
            Ok(())
        } else {
            Err(CalendarError::OutOfRange {
                calendar: self.id.clone(),
                name: self.name.clone(),
                date: d,
                years: self.years_text(),
            })
        }
    }

    /// Today's date in the calendar's locality.
    pub fn today(&self) -> NaiveDate {
        chrono::Utc::now()
            .with_timezone(&self.utc_offset)
            .date_naive()
    }

    /// `d` at `hour`:00 local time, in UTC (when a reminder of that day goes out).
    pub fn local_time_utc(&self, d: NaiveDate, hour: u32) -> chrono::DateTime<chrono::Utc> {
        let local = d.and_hms_opt(hour.min(23), 0, 0).unwrap_or_default();
        (local - chrono::Duration::seconds(i64::from(self.utc_offset.local_minus_utc()))).and_utc()
    }

    /// Whether `d` is a working day; an error when its year is not in the calendar.
    pub fn is_working_day(&self, d: NaiveDate) -> Result<bool, CalendarError> {
        self.covers(d)?;
        Ok(self.working(d))
    }

    fn working(&self, d: NaiveDate) -> bool {
        if self.workdays.contains_key(&d) {
            return true;
        }
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains_key(&d)
    }

    /// The date `n` working days after `from` (which itself does not count); `from` for 0.
    /// Every day passed must lie in the calendar's years.
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        self.covers(from)?;
        let mut d = from;
        let mut left = n;
        while left > 0 {
            d = d.succ_opt().ok_or_else(|| {
                CalendarError::Input(format!("{n} working days after {from} is past year 9999"))
            })?;
            self.covers(d)?;
            if self.working(d) {
                left -= 1;
            }
        }
        Ok(d)
    }

    /// The date `n` working days before `to` (which itself does not count); `to` for 0.
    pub fn sub_working_days(&self, to: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        self.covers(to)?;
        let mut d = to;
        let mut left = n;
        while left > 0 {
            d = d.pred_opt().ok_or_else(|| {
                CalendarError::Input(format!("{n} working days before {to} is before year 1"))
            })?;
            self.covers(d)?;
            if self.working(d) {
                left -= 1;
            }
        }
        Ok(d)
    }

    /// Working days after `from` up to and including `to` (0 when `to` is not after `from`).
    pub fn working_days_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<u32, CalendarError> {
        self.covers(from)?;
        self.covers(to)?;
        let mut n = 0;
        let mut d = from;
        while d < to {
            d = match d.succ_opt() {
                Some(x) => x,
                None => break,
            };
            if self.working(d) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The working days of one month, in order.
    pub fn working_days_in_month(
        &self,
        year: i32,
        month: u32,
    ) -> Result<Vec<NaiveDate>, CalendarError> {
        let first = NaiveDate::from_ymd_opt(year, month, 1)
            .ok_or_else(|| CalendarError::Input(format!("{year}-{month:02} is not a month")))?;
        self.covers(first)?;
        let mut out = Vec::new();
        let mut d = first;
        while d.month() == month {
            if self.working(d) {
                out.push(d);
            }
            d = match d.succ_opt() {
                Some(x) => x,
                None => break,
            };
        }
        Ok(out)
    }

    /// The provisional years among those of the dates from `a` to `b` (for warnings).
    pub fn provisional_years(&self, a: NaiveDate, b: NaiveDate) -> Vec<i32> {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        self.years
            .range(lo.year()..=hi.year())
            .filter(|(_, y)| y.status == YearStatus::Provisional)
            .map(|(k, _)| *k)
            .collect()
    }

    /// A warning for provisional years touched by the dates from `a` to `b`, or None.
    pub fn provisional_warning(&self, a: NaiveDate, b: NaiveDate) -> Option<String> {
        let ys = self.provisional_years(a, b);
        if ys.is_empty() {
            return None;
        }
        let list = ys
            .iter()
            .map(|y| y.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        Some(format!(
            "calendar {:?} ({}) is provisional for {list}: the official holiday arrangement is \
             not in the file yet (statutory holidays only, no make-up working days), so the \
             date may move when it is added",
            self.id, self.name
        ))
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.id, self.name, self.years_text())
    }
}

/// Parses `YYYY-MM-DD`, saying which value was wrong.
pub fn parse_date(what: &str, s: &str) -> Result<NaiveDate, CalendarError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        CalendarError::Input(format!(
            "{what} {s:?} is not a date: write YYYY-MM-DD, e.g. 2026-09-30"
        ))
    })
}

/// Parses `YYYY-MM` into (year, month).
pub fn parse_month(s: &str) -> Result<(i32, u32), CalendarError> {
    let bad = || {
        CalendarError::Input(format!(
            "month {s:?} is not a month: write YYYY-MM, e.g. 2026-10"
        ))
    };
    let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
    let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if y < 1 || NaiveDate::from_ymd_opt(y, m, 1).is_none() {
        return Err(bad());
    }
    Ok((y, m))
}

/// Loads calendar `name` from `<surveys>/calendars/` when that folder exists, else from the
/// built-in set (same rule as the questionnaires: a `--surveys` folder overrides).
pub fn load_for_surveys(surveys: &Path, name: &str) -> Result<Calendar, CalendarError> {
    let dir = surveys.join("calendars");
    if dir.is_dir() {
        load(&dir, name)
    } else {
        builtin(name)
    }
}

/// Names of the calendars `load_for_surveys` can load.
pub fn names_for_surveys(surveys: &Path) -> Result<Vec<String>, CalendarError> {
    let dir = surveys.join("calendars");
    if dir.is_dir() {
        file::names_in(&dir)
    } else {
        Ok(builtin_names())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date("date", s).unwrap()
    }

    fn cn() -> Calendar {
        builtin("cn").unwrap()
    }

    #[test]
    fn national_day_2026_and_its_make_up_saturday() {
        let c = cn();
        // Wed 30 Sep; 1–7 Oct holiday; Thu 8, Fri 9, Sat 10 (调休上班)
        assert_eq!(
            c.add_working_days(d("2026-09-30"), 3).unwrap(),
            d("2026-10-10")
        );
        assert_eq!(
            c.add_working_days(d("2026-09-30"), 1).unwrap(),
            d("2026-10-08")
        );
        // Sun 11 Oct is a plain Sunday again
        assert_eq!(
            c.add_working_days(d("2026-10-10"), 1).unwrap(),
            d("2026-10-12")
        );
        // Fri 18 Sep + 1: Sat 19 is off, Sun 20 is a make-up working day
        assert_eq!(
            c.add_working_days(d("2026-09-18"), 1).unwrap(),
            d("2026-09-20")
        );
        assert!(c.is_working_day(d("2026-10-10")).unwrap());
        assert!(!c.is_working_day(d("2026-10-05")).unwrap());
        assert_eq!(
            c.add_working_days(d("2026-10-03"), 0).unwrap(),
            d("2026-10-03")
        );
    }

    #[test]
    fn month_lists_and_counts() {
        let c = cn();
        let oct = c.working_days_in_month(2026, 10).unwrap();
        assert_eq!(oct.len(), 18);
        assert_eq!(oct[0], d("2026-10-08"));
        assert_eq!(oct[2], d("2026-10-10"));
        // February 2026: Spring Festival 15–23, make-up Saturdays 14 and 28
        let feb = c.working_days_in_month(2026, 2).unwrap();
        assert!(feb.contains(&d("2026-02-14")) && feb.contains(&d("2026-02-28")));
        assert!(!feb
            .iter()
            .any(|x| (d("2026-02-15")..=d("2026-02-23")).contains(x)));
        assert_eq!(feb.len(), 16);
        assert_eq!(
            c.working_days_between(d("2026-09-30"), d("2026-10-10"))
                .unwrap(),
            3
        );
        assert_eq!(
            c.sub_working_days(d("2026-10-10"), 3).unwrap(),
            d("2026-09-30")
        );
    }

    #[test]
    fn dates_outside_the_years_are_errors_naming_the_calendar() {
        let c = cn();
        let e = c.add_working_days(d("2025-12-31"), 1).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("\"cn\"") && m.contains("2026–2027") && m.contains("2025-12-31"),
            "{m}"
        );
        let e = c.add_working_days(d("2027-12-20"), 30).unwrap_err();
        assert!(e.to_string().contains("2028-01-01"), "{e}");
        assert!(c.working_days_in_month(2030, 1).is_err());
    }

    #[test]
    fn provisional_years_warn() {
        let c = cn();
        assert!(c
            .provisional_warning(d("2026-01-05"), d("2026-12-31"))
            .is_none());
        let w = c
            .provisional_warning(d("2026-12-20"), d("2027-01-10"))
            .unwrap();
        assert!(w.contains("2027") && w.contains("provisional"), "{w}");
    }

    #[test]
    fn parses_inputs_with_clear_errors() {
        assert_eq!(parse_month("2026-10").unwrap(), (2026, 10));
        assert!(parse_month("2026-13")
            .unwrap_err()
            .to_string()
            .contains("YYYY-MM"));
        assert!(parse_date("--from", "30/09/2026")
            .unwrap_err()
            .to_string()
            .contains("--from"));
    }
}
