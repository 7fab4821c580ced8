//! Reading and checking calendar files. Format: `surveys/calendars/README.md`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

use super::{Calendar, CalendarError, Named, Year, YearStatus};

/// The shipped calendars, embedded at compile time so the binary works from any folder.
pub const BUILTIN_CALENDARS: [(&str, &str); 1] = [(
    "surveys/calendars/cn.toml",
    include_str!("../../surveys/calendars/cn.toml"),
)];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    calendar: RawHead,
    #[serde(default)]
    year: Vec<RawYear>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHead {
    id: String,
    name: String,
    name_en: Option<String>,
    utc_offset: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: i32,
    status: String,
    source: String,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
    #[serde(default)]
    workdays: Vec<RawWorkday>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: String,
    name_en: Option<String>,
    from: String,
    to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkday {
    date: String,
    name: String,
    name_en: Option<String>,
}

/// A calendar name as a file stem: lower-case letters, digits, `_` and `-`.
fn check_name(name: &str) -> Result<(), CalendarError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CalendarError::Input(format!(
            "calendar name {name:?} is not valid: use lower-case letters, digits, _ and - \
             (the file name without .toml, e.g. cn)"
        )))
    }
}

/// Parses and checks one calendar file. `file` names it in messages; its stem must equal the
/// calendar's `id`.
pub fn parse(file: &str, text: &str) -> Result<Calendar, CalendarError> {
    let err = |message: String| CalendarError::File {
        file: file.to_owned(),
        message,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| err(e.to_string().trim().to_owned()))?;
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    check_name(&raw.calendar.id).map_err(|e| err(e.to_string()))?;
    if stem != raw.calendar.id {
        return Err(err(format!(
            "[calendar] id = {:?} but the file is named {stem}.toml: the id must be the file \
             name without .toml",
            raw.calendar.id
        )));
    }
    if raw.calendar.name.trim().is_empty() {
        return Err(err(
            "[calendar] name is empty: give the locality's name".into()
        ));
    }
    let utc_offset = match raw.calendar.utc_offset.as_deref() {
        None => chrono::FixedOffset::east_opt(0),
        Some(o) => parse_offset(o),
    }
    .ok_or_else(|| {
        err(format!(
            "[calendar] utc_offset = {:?} is not an offset: write +08:00 (east of UTC) or -05:00",
            raw.calendar.utc_offset.as_deref().unwrap_or("")
        ))
    })?;
    if raw.year.is_empty() {
        return Err(err(
            "no [[year]] entries: a calendar must cover at least one year".into(),
        ));
    }
    let mut years = BTreeMap::new();
    let mut holidays: BTreeMap<NaiveDate, Named> = BTreeMap::new();
    let mut workdays: BTreeMap<NaiveDate, Named> = BTreeMap::new();
    for y in &raw.year {
        let at = format!("[[year]] {}", y.year);
        if !(1990..=2200).contains(&y.year) {
            return Err(err(format!("{at}: the year must be between 1990 and 2200")));
        }
        let status = match y.status.as_str() {
            "official" => YearStatus::Official,
            "provisional" => YearStatus::Provisional,
            s => {
                return Err(err(format!(
                    "{at}: status {s:?} is unknown: use \"official\" (as announced) or \
                     \"provisional\" (not announced yet)"
                )))
            }
        };
        if y.source.trim().is_empty() {
            return Err(err(format!(
                "{at}: source is empty: name the notice the dates come from"
            )));
        }
        if status == YearStatus::Provisional && !y.workdays.is_empty() {
            return Err(err(format!(
                "{at}: a provisional year lists no make-up working days (they are only known \
                 from the official notice); set status = \"official\" with the notice as source"
            )));
        }
        let date = |what: &str, s: &str| -> Result<NaiveDate, CalendarError> {
            let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                err(format!(
                    "{at}: {what} {s:?} is not a date; write YYYY-MM-DD"
                ))
            })?;
            // a notice may reach into the neighbouring years (e.g. 31 Dec for New Year's Day)
            if (d.year() - y.year).abs() > 1 {
                return Err(err(format!(
                    "{at}: {what} {d} is not in or next to {}",
                    y.year
                )));
            }
            Ok(d)
        };
        for h in &y.holidays {
            let (from, to) = (date("holiday from", &h.from)?, date("holiday to", &h.to)?);
            if to < from || (to - from).num_days() > 31 {
                return Err(err(format!(
                    "{at}: holiday {} runs from {from} to {to}: `to` must be on or after `from` \
                     and within a month of it",
                    h.name
                )));
            }
            let named = Named {
                name: h.name.clone(),
                name_en: h.name_en.clone().unwrap_or_else(|| h.name.clone()),
            };
            let mut d = from;
            while d <= to {
                if let Some(prev) = holidays.insert(d, named.clone()) {
                    return Err(err(format!(
                        "{at}: {d} is listed twice as a holiday ({} and {})",
                        prev.name, h.name
                    )));
                }
                d = d
                    .succ_opt()
                    .ok_or_else(|| err(format!("{at}: {d} has no next day")))?;
            }
        }
        for w in &y.workdays {
            let d = date("make-up working day", &w.date)?;
            if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
                return Err(err(format!(
                    "{at}: make-up working day {d} is a {}: only a Saturday or Sunday can be \
                     made a working day",
                    d.weekday()
                )));
            }
            let named = Named {
                name: w.name.clone(),
                name_en: w.name_en.clone().unwrap_or_else(|| w.name.clone()),
            };
            if workdays.insert(d, named).is_some() {
                return Err(err(format!(
                    "{at}: {d} is listed twice as a make-up working day"
                )));
            }
        }
        let year = Year {
            year: y.year,
            status,
            source: y.source.clone(),
        };
        if years.insert(y.year, year).is_some() {
            return Err(err(format!("{at} appears twice")));
        }
    }
    if let Some(d) = workdays.keys().find(|d| holidays.contains_key(d)) {
        return Err(err(format!(
            "{d} is listed both as a holiday and as a make-up working day"
        )));
    }
    Ok(Calendar {
        id: raw.calendar.id,
        name: raw.calendar.name,
        name_en: raw
            .calendar
            .name_en
            .unwrap_or_else(|| String::from("(no English name)")),
        file: file.to_owned(),
        utc_offset,
        years,
        holidays,
        workdays,
    })
}

/// `+HH:MM` or `-HH:MM`.
fn parse_offset(s: &str) -> Option<chrono::FixedOffset> {
    let (sign, rest) = match s.trim().as_bytes().first()? {
        b'+' => (1, &s.trim()[1..]),
        b'-' => (-1, &s.trim()[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Names of the built-in calendars.
pub fn builtin_names() -> Vec<String> {
    BUILTIN_CALENDARS
        .iter()
        .filter_map(|(f, _)| Path::new(f).file_stem()?.to_str().map(str::to_owned))
        .collect()
}

/// A built-in calendar by name.
pub fn builtin(name: &str) -> Result<Calendar, CalendarError> {
    check_name(name)?;
    let wanted = format!("surveys/calendars/{name}.toml");
    match BUILTIN_CALENDARS.iter().find(|(f, _)| *f == wanted) {
        Some((f, text)) => parse(f, text),
        None => Err(CalendarError::Unknown {
            name: name.to_owned(),
            where_: "the built-in set".into(),
            available: builtin_names(),
        }),
    }
}

/// Names of the calendar files in `dir`.
pub fn names_in(dir: &Path) -> Result<Vec<String>, CalendarError> {
    let rd = std::fs::read_dir(dir).map_err(|e| CalendarError::File {
        file: dir.display().to_string(),
        message: format!("cannot read the folder: {e}"),
    })?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// Calendar `name` from the file `dir/NAME.toml`.
pub fn load(dir: &Path, name: &str) -> Result<Calendar, CalendarError> {
    check_name(name)?;
    let path = dir.join(format!("{name}.toml"));
    if !path.is_file() {
        return Err(CalendarError::Unknown {
            name: name.to_owned(),
            where_: dir.display().to_string(),
            available: names_in(dir)?,
        });
    }
    let file = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| CalendarError::File {
        file: file.clone(),
        message: format!("cannot read: {e}"),
    })?;
    parse(&file, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "[calendar]\nid = \"x\"\nname = \"测试\"\n";

    fn parse_x(body: &str) -> Result<Calendar, CalendarError> {
        parse("cal/x.toml", &format!("{HEAD}{body}"))
    }

    #[test]
    fn builtin_calendars_load() {
        for name in builtin_names() {
            let c = builtin(&name).unwrap();
            assert!(!c.years.is_empty());
        }
        let cn = builtin("cn").unwrap();
        assert_eq!(cn.years_text(), "2026–2027");
        assert_eq!(cn.years[&2027].status, YearStatus::Provisional);
        assert_eq!(cn.utc_offset.local_minus_utc(), 8 * 3600);
        assert_eq!(
            parse_offset("-05:30").map(|o| o.local_minus_utc()),
            Some(-19800)
        );
        assert!(parse_offset("8").is_none());
    }

    #[test]
    fn unknown_and_malformed_names_are_clear_errors() {
        let e = builtin("xx").unwrap_err().to_string();
        assert!(e.contains("\"xx\"") && e.contains("cn"), "{e}");
        let e = builtin("../etc/passwd").unwrap_err().to_string();
        assert!(e.contains("not valid"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hk.toml"), "").unwrap();
        let e = load(dir.path(), "cn").unwrap_err().to_string();
        assert!(e.contains("only hk"), "{e}");
    }

    #[test]
    fn file_errors_point_at_the_problem() {
        let y = "[[year]]\nyear = 2026\nstatus = \"official\"\nsource = \"s\"\n";
        let e = parse_x(&format!(
            "{y}workdays = [{{ date = \"2026-10-08\", name = \"w\" }}]"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("cal/x.toml") && e.contains("Saturday or Sunday"),
            "{e}"
        );
        let e = parse_x(&format!(
            "{y}holidays = [{{ name = \"h\", from = \"2026-10-03\", to = \"2026-10-01\" }}]"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("on or after"), "{e}");
        let e = parse_x(&format!(
            "{y}holidays = [{{ name = \"h\", from = \"2026-10-01\", to = \"2026-10-31\" }}]\n\
             workdays = [{{ date = \"2026-10-10\", name = \"w\" }}]"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("both as a holiday"), "{e}");
        let e = parse_x("[[year]]\nyear = 2026\nstatus = \"maybe\"\nsource = \"s\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"maybe\""), "{e}");
        let e = parse_x("").unwrap_err().to_string();
        assert!(e.contains("at least one year"), "{e}");
        let e = parse("cal/y.toml", &format!("{HEAD}{y}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("y.toml"), "{e}");
        let e = parse_x(&format!("{y}colour = \"red\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        let e = parse_x(&format!("{y}{y}")).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
    }
}
