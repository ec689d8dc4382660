//! UTC civil dates from Unix seconds, for the time buckets of retention rules (hour, day, ISO
//! week, month, year). The crate has no date library; these few lines are Howard Hinnant's
//! `days_from_civil` / `civil_from_days` algorithms on the proleptic Gregorian calendar, exact
//! for every `i64` day count we can meet.

/// Seconds in a day.
const DAY: i64 = 86_400;
/// Days in a 400-year era of the Gregorian calendar.
const ERA_DAYS: i64 = 146_097;
/// Days from 0000-03-01 (start of the shifted year the algorithm counts in) to 1970-01-01.
const EPOCH_SHIFT: i64 = 719_468;

/// A UTC calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date {
    /// Year (proleptic Gregorian, may be zero or negative).
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
}

/// Days since 1970-01-01 of a date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // The algorithm's years start on March 1st, so that the leap day ends the year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * ERA_DAYS + doe - EPOCH_SHIFT
}

/// The date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> Date {
    let z = days + EPOCH_SHIFT;
    let era = z.div_euclid(ERA_DAYS);
    let doe = z.rem_euclid(ERA_DAYS);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date { year, month, day }
}

/// ISO weekday of a day count: 1 for Monday to 7 for Sunday (1970-01-01 was a Thursday).
pub fn iso_weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7) + 1
}

/// ISO 8601 week-numbering year and week (1 to 53) of a day count. A week belongs to the
/// year that holds its Thursday.
pub fn iso_week(days: i64) -> (i64, u32) {
    let thursday = days - iso_weekday(days) + 4;
    let year = civil_from_days(thursday).year;
    let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
    (year, week as u32)
}

/// Days since 1970-01-01 (UTC) of a Unix time, rounding towards the past.
pub fn days_of(time_sec: i64) -> i64 {
    time_sec.div_euclid(DAY)
}

/// One key per UTC hour.
pub fn hour_key(time_sec: i64) -> i64 {
    time_sec.div_euclid(3600)
}

/// One key per UTC day.
pub fn day_key(time_sec: i64) -> i64 {
    days_of(time_sec)
}

/// One key per ISO week.
pub fn week_key(time_sec: i64) -> i64 {
    let (year, week) = iso_week(days_of(time_sec));
    year * 100 + i64::from(week)
}

/// One key per UTC month.
pub fn month_key(time_sec: i64) -> i64 {
    let date = civil_from_days(days_of(time_sec));
    date.year * 12 + i64::from(date.month)
}

/// One key per UTC year.
pub fn year_key(time_sec: i64) -> i64 {
    civil_from_days(days_of(time_sec)).year
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i64, month: u32, day: u32) -> Date {
        Date { year, month, day }
    }

    #[test]
    fn known_dates_convert_both_ways() {
        let known = [
            (0, date(1970, 1, 1)),
            (-1, date(1969, 12, 31)),
            (11_016, date(2000, 2, 29)),
            (19_723, date(2024, 1, 1)),
            (19_782, date(2024, 2, 29)),
            (-719_468, date(0, 3, 1)),
            (2_932_896, date(9999, 12, 31)),
        ];
        for (days, d) in known {
            assert_eq!(civil_from_days(days), d, "{days}");
            assert_eq!(days_from_civil(d.year, d.month, d.day), days, "{d:?}");
        }
    }

    #[test]
    fn every_day_of_four_centuries_round_trips_and_follows_the_previous() {
        let mut prev = civil_from_days(-80_000);
        for days in -79_999..80_000 {
            let d = civil_from_days(days);
            assert_eq!(days_from_civil(d.year, d.month, d.day), days);
            let next_day = d.day == prev.day + 1 && d.month == prev.month;
            let next_month = d.day == 1 && (d.month == prev.month + 1 || (d.month, prev.month) == (1, 12));
            assert!(next_day || next_month, "{prev:?} then {d:?}");
            prev = d;
        }
    }

    #[test]
    fn iso_weeks_match_the_calendar() {
        let known = [
            (date(1969, 12, 29), (1970, 1)),
            (date(1970, 1, 1), (1970, 1)),
            (date(2005, 1, 1), (2004, 53)),
            (date(2008, 12, 29), (2009, 1)),
            (date(2010, 1, 3), (2009, 53)),
            (date(2021, 1, 3), (2020, 53)),
            (date(2021, 1, 4), (2021, 1)),
            (date(2024, 12, 30), (2025, 1)),
            (date(2026, 1, 1), (2026, 1)),
            (date(2026, 12, 31), (2026, 53)),
        ];
        for (d, week) in known {
            assert_eq!(iso_week(days_from_civil(d.year, d.month, d.day)), week, "{d:?}");
        }
        assert_eq!(iso_weekday(days_from_civil(2024, 2, 29)), 4, "a Thursday");
        assert_eq!(iso_weekday(days_from_civil(1969, 12, 28)), 7, "a Sunday");
    }

    #[test]
    fn keys_change_at_utc_boundaries() {
        let new_year = days_from_civil(2025, 1, 1) * DAY;
        assert_ne!(year_key(new_year - 1), year_key(new_year));
        assert_ne!(month_key(new_year - 1), month_key(new_year));
        assert_ne!(day_key(new_year - 1), day_key(new_year));
        assert_ne!(hour_key(new_year - 1), hour_key(new_year));
        // 2024-12-30 to 2025-01-05 is one ISO week, across the new year.
        assert_eq!(week_key(new_year - 1), week_key(new_year));
        assert_eq!(week_key(new_year), 202_501);
        assert_eq!(month_key(-1), 1969 * 12 + 12, "before the epoch");
    }
}
