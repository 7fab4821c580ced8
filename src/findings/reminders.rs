//! When a finding's reminders go out: a few working days before its deadline and on the first
//! working day after it, at a fixed local hour. The outbox sends them (and drops those of
//! findings no longer open).

use chrono::NaiveDate;

use crate::calendar::Calendar;
use crate::store::{queue_time, ReminderPlan};

/// The "before the deadline" reminder goes out this many working days ahead.
pub const REMIND_BEFORE_WORKING_DAYS: u32 = 3;
/// Local hour at which reminders of a day go out.
pub const REMIND_HOUR: u32 = 9;

/// Reminders for a deadline: one [`REMIND_BEFORE_WORKING_DAYS`] working days before (when
/// that is after the start and not past), one on the first working day after it.
pub fn reminder_plan(
    cal: &Calendar,
    from: NaiveDate,
    due: NaiveDate,
    today: NaiveDate,
) -> ReminderPlan {
    let mut rows = Vec::new();
    if let Ok(before) = cal.sub_working_days(due, REMIND_BEFORE_WORKING_DAYS) {
        if before > from && before >= today {
            rows.push((
                "finding_due".to_owned(),
                queue_time(cal.local_time_utc(before, REMIND_HOUR)),
            ));
        }
    }
    let after = cal
        .add_working_days(due, 1)
        .ok()
        .or_else(|| due.succ_opt())
        .unwrap_or(due);
    rows.push((
        "finding_overdue".to_owned(),
        queue_time(cal.local_time_utc(after, REMIND_HOUR)),
    ));
    ReminderPlan(Some(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        crate::calendar::parse_date("date", s).unwrap()
    }

    #[test]
    fn before_and_after_the_deadline_in_local_time() {
        let cn = crate::calendar::builtin("cn").unwrap();
        // due Thu 29 Oct 2026: three working days before is Mon 26, the day after Fri 30;
        // 09:00 in Beijing is 01:00 UTC
        let p = reminder_plan(&cn, d("2026-10-08"), d("2026-10-29"), d("2026-10-09"));
        assert_eq!(
            p.0.unwrap(),
            [
                (
                    "finding_due".to_owned(),
                    "2026-10-26T01:00:00.000Z".to_owned()
                ),
                (
                    "finding_overdue".to_owned(),
                    "2026-10-30T01:00:00.000Z".to_owned()
                ),
            ]
        );
        // already past the "before" day: only the overdue one; across National Day the day
        // after Wed 30 Sep is Thu 8 Oct
        let p = reminder_plan(&cn, d("2026-09-24"), d("2026-09-30"), d("2026-09-29"));
        assert_eq!(
            p.0.unwrap(),
            [(
                "finding_overdue".to_owned(),
                "2026-10-08T01:00:00.000Z".to_owned()
            )]
        );
    }
}
