//! Times on pages: stored instants are UTC (RFC 3339); people read them in the deployment's
//! time zone, `PINGYI_TIMEZONE` (an IANA name, default Asia/Shanghai), to the minute. APIs and
//! exports keep the stored UTC text.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;

/// The zone used when `PINGYI_TIMEZONE` is not set.
pub const DEFAULT_TIMEZONE: Tz = chrono_tz::Asia::Shanghai;

/// The deployment's time zone, read once from `PINGYI_TIMEZONE`; an unknown name is logged
/// and the default is used.
pub fn zone() -> Tz {
    static ZONE: OnceLock<Tz> = OnceLock::new();
    *ZONE.get_or_init(|| match std::env::var("PINGYI_TIMEZONE") {
        Ok(name) if !name.trim().is_empty() => parse_zone(&name).unwrap_or_else(|| {
            tracing::warn!(zone = %name, "PINGYI_TIMEZONE is not an IANA time zone; using Asia/Shanghai");
            DEFAULT_TIMEZONE
        }),
        _ => DEFAULT_TIMEZONE,
    })
}

/// An IANA zone name such as `Asia/Shanghai` or `Europe/Berlin`.
pub fn parse_zone(name: &str) -> Option<Tz> {
    name.trim().parse::<Tz>().ok()
}

/// "2026-12-05 06:15" in `tz` for an RFC 3339 instant; other text (a date, an empty field)
/// unchanged.
pub fn local_in(text: &str, tz: Tz) -> String {
    match DateTime::parse_from_rfc3339(text.trim()) {
        Ok(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        Err(_) => text.to_owned(),
    }
}

/// [`local_in`] the deployment's zone.
pub fn local(text: &str) -> String {
    local_in(text, zone())
}

/// The calendar date of an RFC 3339 instant in the deployment's zone.
pub fn local_date(text: &str) -> Option<NaiveDate> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&zone()).date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_instants_read_in_the_zone() {
        let tz = parse_zone("Asia/Shanghai").unwrap();
        assert_eq!(local_in("2026-12-04T22:15:09Z", tz), "2026-12-05 06:15");
        assert_eq!(
            local_in("2026-12-04T22:15:09.123456+00:00", tz),
            "2026-12-05 06:15"
        );
        let berlin = parse_zone("Europe/Berlin").unwrap();
        assert_eq!(local_in("2026-07-01T10:00:00Z", berlin), "2026-07-01 12:00");
        // not an instant: as it is
        assert_eq!(local_in("2026-12-04", tz), "2026-12-04");
        assert_eq!(local_in("", tz), "");
        assert!(parse_zone("Mars/Olympus").is_none());
    }
}
