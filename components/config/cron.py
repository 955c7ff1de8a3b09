"""CronJob schedules, parsed as Kubernetes parses them, and refused when they can never fire.

The API server validates `spec.schedule` with robfig/cron's standard parser: five fields
(minute, hour, day of month, month, day of week), each a comma list of `*`, `?`, `N`,
`N-M`, with an optional `/step`; months and weekdays also by name (JAN, MON); or one of
the macros below, or `@every <duration>`. It refuses `TZ=`/`CRON_TZ=` (use `timeZone`).
It accepts a schedule that never fires (`0 0 30 2 *`): this module refuses that too.
"""

from __future__ import annotations

import calendar
import itertools
import re
from dataclasses import dataclass
from datetime import date, timedelta

MACROS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_GO_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()

    def value(self, token: str) -> int:
        upper = token.upper()
        if upper in self.names:
            return self.names.index(upper) + self.low
        if not token.isdigit():
            raise ValueError(f"{self.name} {token!r} is not a number{self._name_hint()}")
        return int(token)

    def _name_hint(self) -> str:
        return f" or one of {self.names[0]}-{self.names[-1]}" if self.names else ""

    def span(self) -> str:
        return f"{self.low}-{self.high}" + (f" ({self.names[0]}-{self.names[-1]})" if self.names else "")


_MONTHS = tuple(calendar.month_abbr[month].upper() for month in range(1, 13))
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day of week", 0, 6, _WEEKDAYS),
)


def _values(field: _Field, text: str) -> tuple[set[int], bool]:
    """The values one field allows, and whether it was a wildcard (`*` or `?`)."""
    allowed: set[int] = set()
    wildcard = False
    for part in text.split(","):
        if not part:
            raise ValueError(f"{field.name} {text!r} has an empty list item")
        expression, _, step_text = part.partition("/")
        if step_text and (not step_text.isdigit() or int(step_text) == 0):
            raise ValueError(f"{field.name} step {step_text!r} must be a whole number above 0")
        step = int(step_text) if step_text else 1
        if expression in ("*", "?"):
            low, high = field.low, field.high
            wildcard = wildcard or step == 1  # robfig/cron: a stepped `*/2` restricts the field
        else:
            first, _, last = expression.partition("-")
            low = field.value(first)
            # `N/step` means N through the field's end, as robfig/cron reads it.
            high = field.value(last) if last else (field.high if step_text else low)
            for value in (low, high):
                if not field.low <= value <= field.high:
                    raise ValueError(f"{field.name} {value} is outside {field.span()}")
            if low > high:
                raise ValueError(f"{field.name} range {expression!r} runs backwards")
        allowed.update(range(low, high + 1, step))
    return allowed, wildcard


def check(schedule: str) -> str:
    """Return the schedule if Kubernetes accepts it and it fires at least once; ValueError otherwise."""
    text = schedule.strip()
    if "TZ" in text:
        raise ValueError("a time zone cannot be part of the schedule (TZ=/CRON_TZ=): Kubernetes refuses it")
    if text.startswith("@"):
        macro, _, argument = text.partition(" ")
        if macro == "@every" and _GO_DURATION.match(argument.strip()):
            return schedule
        if text in MACROS:
            return schedule
        raise ValueError(f"unknown macro {text!r}: use one of {', '.join(sorted(MACROS))} or '@every <duration>'")
    parts = text.split()
    if len(parts) != len(FIELDS):
        raise ValueError(f"has {len(parts)} fields, a schedule has 5 (minute hour day-of-month month day-of-week), e.g. '0 3 * * *'")
    values = [_values(field, part) for field, part in zip(FIELDS, parts, strict=True)]
    (days, days_wildcard), (months, _), (_, weekdays_wildcard) = values[2], values[3], values[4]
    # With both day fields restricted, either may match; with the weekday a wildcard, the
    # day of the month must exist in one of the months (February 29 counts).
    if not days_wildcard and weekdays_wildcard and not any(day <= calendar.monthrange(2024, month)[1] for month in months for day in days):
        raise ValueError("never fires: no chosen month has the chosen day of the month")
    return schedule


# Fire times are enumerated over this many days from a Monday, 1 January of a leap year.
_SCHEDULE_WINDOW_DAYS = 4 * 365 + 1
_MACRO_SCHEDULES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def longest_interval_seconds(schedule: str) -> int:
    """The longest time between two runs of a CronJob on `schedule` (UTC, as the CronJobs run)."""
    text = schedule.strip()
    if text.startswith("@every"):
        duration = text.removeprefix("@every").strip()
        return round(sum(float(number) * _GO_UNIT_SECONDS[unit] for number, unit in _GO_DURATION_PART.findall(duration)))
    text = _MACRO_SCHEDULES.get(text, text)
    fields = [_values(field, part) for field, part in zip(FIELDS, text.split(), strict=True)]
    (minutes, _), (hours, _), (days, days_any), (months, _), (weekdays, weekdays_any) = fields
    in_a_day = sorted(hour * 60 + minute for hour in hours for minute in minutes)
    longest = max((later - earlier for earlier, later in itertools.pairwise(in_a_day)), default=0)
    first = date(2024, 1, 1)
    previous: int | None = None  # the minute of the last run seen, from `first`
    for offset in range(_SCHEDULE_WINDOW_DAYS):
        day = first + timedelta(days=offset)
        day_of_month, weekday = day.day in days, (day.weekday() + 1) % 7 in weekdays
        # robfig/cron: with either day field a wildcard both must match, else either may.
        runs = (day_of_month and weekday) if days_any or weekdays_any else (day_of_month or weekday)
        if day.month in months and runs:
            if previous is not None:
                longest = max(longest, offset * 1440 + in_a_day[0] - previous)
            previous = offset * 1440 + in_a_day[-1]
    return longest * 60
