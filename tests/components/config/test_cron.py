"""CronJob schedules: what Kubernetes accepts is accepted, what it refuses or can never fire is refused."""

from __future__ import annotations

import re

import pytest

from components.config import cron

ACCEPTED = [
    "0 3 * * *",
    "*/30 * * * *",
    "0 0 * * MON-FRI",
    "15 2 1,15 JAN,jul ?",
    "0 0 29 2 *",  # fires in leap years
    "0 0 31 2 1",  # either day field may match: every Monday in February
    "@daily",
    "@midnight",
    "@every 1h30m",
    "5/15 * * * *",
]

REFUSED = [
    pytest.param("61 * * * *", "minute 61 is outside 0-59", id="minute-out-of-range"),
    pytest.param("0 24 * * *", "hour 24 is outside 0-23", id="hour-out-of-range"),
    pytest.param("0 0 0 * *", "day of month 0 is outside 1-31", id="day-zero"),
    pytest.param("0 0 * 13 *", "month 13 is outside 1-12 (JAN-DEC)", id="month-13"),
    pytest.param("0 0 * * 7", "day of week 7 is outside 0-6 (SUN-SAT)", id="weekday-7"),
    pytest.param("0 0 * * FUN", "day of week 'FUN' is not a number or one of SUN-SAT", id="weekday-name"),
    pytest.param("0 0 30 2 *", "never fires: no chosen month has the chosen day of the month", id="february-30"),
    pytest.param("0 10-5 * * *", "hour range '10-5' runs backwards", id="backwards"),
    pytest.param("*/0 * * * *", "minute step '0' must be a whole number above 0", id="step-zero"),
    pytest.param("0 3 * *", "has 4 fields, a schedule has 5", id="four-fields"),
    pytest.param("CRON_TZ=UTC 0 3 * * *", "a time zone cannot be part of the schedule", id="time-zone"),
    pytest.param("@nightly", "unknown macro '@nightly'", id="unknown-macro"),
    pytest.param("@every soon", "unknown macro '@every soon'", id="every-without-duration"),
]


@pytest.mark.parametrize("schedule", ACCEPTED)
def test_schedules_kubernetes_accepts_are_accepted(schedule: str) -> None:
    assert cron.check(schedule) == schedule


@pytest.mark.parametrize(("schedule", "reason"), REFUSED)
def test_schedules_kubernetes_refuses_or_that_never_fire_are_refused(schedule: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(reason)):
        cron.check(schedule)


@pytest.mark.parametrize(
    ("schedule", "interval"),
    [
        ("0 3 * * *", 24 * 3600),
        ("30 3 * * *", 24 * 3600),
        ("@daily", 24 * 3600),
        ("@weekly", 7 * 24 * 3600),
        ("@every 6h30m", 6 * 3600 + 1800),
        ("*/15 * * * *", 15 * 60),
        ("0 0,12 * * *", 12 * 3600),
        ("0 22,2 * * *", 20 * 3600),  # 02:00 to 22:00 is the long wait
        ("0 3 * * MON-FRI", 3 * 24 * 3600),  # Friday to Monday
        ("0 0 1,15 * *", 17 * 24 * 3600),  # 15 January to 1 February
        ("0 0 1 * SUN", 7 * 24 * 3600),  # both day fields restricted: either matches (cron's rule)
    ],
)
def test_the_longest_wait_between_two_runs_is_the_schedules_rpo(schedule: str, interval: int) -> None:
    assert cron.longest_interval_seconds(schedule) == interval
