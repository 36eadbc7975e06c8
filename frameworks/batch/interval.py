"""ISO 8601 repeating intervals as schedules: ``R[n]/start/period``. Pure.

``R5/2026-03-08T20:00:00Z/PT2H`` runs 5 times, every 2 hours from 20:00 UTC on 8 March;
``R/...`` repeats forever. The k-th run is at ``start + k * period``, computed from the
start each time (so ``P1M`` from 31 January is 28 February, then 31 March): the years,
months, weeks and days of the period are added to the wall-clock time in the schedule's
time zone (a day is a calendar day across a daylight-saving change), its hours, minutes
and seconds as elapsed time. A start without a UTC offset is a wall-clock time in that
zone.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

__all__ = ["Interval", "interval_due", "interval_next", "parse_interval", "parse_iso_duration"]

_PERIOD_RE = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$"
)
_REPEAT_RE = re.compile(r"^R(\d*)$")


@dataclass(frozen=True)
class Interval:
    """``repeat`` runs (None: forever) from ``start``, one every period (calendar
    ``years``/``months``/``days`` plus elapsed ``seconds``)."""

    text: str
    start: str  # ISO 8601, as given
    repeat: int | None
    years: int = 0
    months: int = 0
    days: int = 0
    seconds: float = 0.0


def _period(text: str) -> tuple[int, int, int, float]:
    match = _PERIOD_RE.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT2H, P1D or P1M")
    y, mo, w, d, h, mi, s = match.groups()
    seconds = int(h or 0) * 3600 + int(mi or 0) * 60 + float((s or "0").replace(",", "."))
    return int(y or 0), int(mo or 0), int(w or 0) * 7 + int(d or 0), seconds


def parse_iso_duration(text: object) -> float:
    """Seconds in an ISO 8601 duration without calendar parts (``PT15M``, ``PT1H30M``)."""
    if not isinstance(text, str):
        raise ValueError(f"must be an ISO 8601 duration such as PT15M, not {text!r}")
    years, months, days, seconds = _period(text.strip())
    if years or months:
        raise ValueError(f"{text!r}: years and months have no fixed length here")
    return days * 86400.0 + seconds


def _start(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date and time such as 2026-03-08T20:00:00Z"
        ) from None


def parse_interval(value: object) -> Interval:
    """``R[n]/start/period`` as an ``Interval``; ``ValueError`` says what is wrong."""
    if not isinstance(value, str) or value.count("/") != 2:
        raise ValueError(
            "must be an ISO 8601 repeating interval R[n]/start/period, such as "
            f"R/2026-03-08T20:00:00Z/PT2H (R: forever, R5: 5 runs), not {value!r}"
        )
    text = value.strip()
    repeat_text, start, period = text.split("/")
    match = _REPEAT_RE.match(repeat_text)
    if not match:
        raise ValueError(f"{repeat_text!r} must be R (forever) or Rn (n runs), as in R5")
    repeat = int(match.group(1)) if match.group(1) else None
    if repeat == 0:
        raise ValueError("R0 never runs: give R (forever) or Rn with n of at least 1")
    if not start:
        raise ValueError("the start time is missing: give one, as in R/2026-03-08T20:00:00Z/PT2H")
    _start(start)
    years, months, days, seconds = _period(period)
    if not (years or months or days) and seconds < 1:
        raise ValueError(f"the period {period!r} must be at least 1 second")
    return Interval(text, start, repeat, years, months, days, seconds)


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _tick(interval: Interval, zone: zoneinfo.ZoneInfo, k: int) -> float:
    """When the k-th run (from 0) is due, in seconds since the epoch."""
    start = _start(interval.start)
    wall = (start.astimezone(zone) if start.tzinfo else start.replace(tzinfo=zone)).replace(
        tzinfo=None
    )
    if interval.years or interval.months:
        wall = _add_months(wall, k * (12 * interval.years + interval.months))
    wall += dt.timedelta(days=k * interval.days)
    return wall.replace(tzinfo=zone).timestamp() + k * interval.seconds


def _last_at_or_before(interval: Interval, zone: zoneinfo.ZoneInfo, when: float) -> int:
    """The largest k whose run is due at or before ``when`` (-1: none is)."""
    if _tick(interval, zone, 0) > when:
        return -1
    end = interval.repeat
    hi = 1
    while (end is None or hi < end) and _tick(interval, zone, hi) <= when:
        hi *= 2
    if end is not None and hi >= end:
        if _tick(interval, zone, end - 1) <= when:
            return end - 1
        hi = end - 1
    lo = 0  # tick(lo) <= when < tick(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _tick(interval, zone, mid) <= when:
            lo = mid
        else:
            hi = mid
    return lo


def interval_due(
    interval: Interval, timezone: str, last: float, now: float, limit: int
) -> list[float]:
    """Runs due in ``(last, now]``, oldest first; at most the ``limit`` most recent."""
    zone = zoneinfo.ZoneInfo(timezone)
    ticks: list[float] = []
    k = _last_at_or_before(interval, zone, now)
    while k >= 0 and len(ticks) < limit:
        tick = _tick(interval, zone, k)
        if tick <= last:
            break
        ticks.append(tick)
        k -= 1
    return sorted(ticks)


def interval_next(interval: Interval, timezone: str, after: float) -> float | None:
    """The first run strictly after ``after`` (None: the repetitions are used up)."""
    zone = zoneinfo.ZoneInfo(timezone)
    k = _last_at_or_before(interval, zone, after) + 1
    if interval.repeat is not None and k >= interval.repeat:
        return None
    return _tick(interval, zone, k)
