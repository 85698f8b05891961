"""Parse and format Slurm's time-limit, duration, timestamp and memory-size strings."""

from __future__ import annotations

import datetime as _dt
import math
import re

__all__ = [
    "format_hms",
    "format_limit_hms",
    "format_limit_squeue",
    "format_memory_mb",
    "format_squeue_time",
    "format_timestamp",
    "parse_memory_mb",
    "parse_time_limit",
    "parse_timestamp",
]

# --------------------------------------------------------------------------- time limits

_UNLIMITED_WORDS = frozenset({"unlimited", "infinite", "-1"})

# [0-9] rather than \d: \d also matches non-ASCII digits such as "١".
_TIME_LIMIT = re.compile(
    r"(?:(?P<d>[0-9]+)-(?P<dh>[0-9]+)(?::(?P<dm>[0-9]+)(?::(?P<ds>[0-9]+))?)?"
    r"|(?P<a>[0-9]+)(?::(?P<b>[0-9]+)(?::(?P<c>[0-9]+))?)?)"
)


def parse_time_limit(text: str) -> int | None:
    """Parse a Slurm ``--time`` value into whole minutes (rounded up); None means unlimited.

    Accepted: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S`` and, case-insensitive,
    ``UNLIMITED``/``INFINITE``/``-1``. Like Slurm, fields are not range-checked (``90:00`` is
    90 minutes) and a total of zero (``0``, ``0:00``) means no limit.
    """
    stripped = text.strip()
    if stripped.lower() in _UNLIMITED_WORDS:
        return None
    match = _TIME_LIMIT.fullmatch(stripped)
    if match is None:
        raise ValueError("Invalid --time specification")
    g = match.groupdict()
    if g["d"] is not None:
        seconds = (
            int(g["d"]) * 86400 + int(g["dh"]) * 3600 + int(g["dm"] or 0) * 60 + int(g["ds"] or 0)
        )
    elif g["c"] is not None:
        seconds = int(g["a"]) * 3600 + int(g["b"]) * 60 + int(g["c"])
    else:
        seconds = int(g["a"]) * 60 + int(g["b"] or 0)
    minutes = -(-seconds // 60)
    return None if minutes == 0 else minutes


# --------------------------------------------------------------------------- durations


def _split(seconds: float) -> tuple[int, int, int, int] | None:
    """Whole seconds as (days, hours, minutes, seconds); None when negative or not finite."""
    if isinstance(seconds, float) and not math.isfinite(seconds):
        return None
    total = math.floor(seconds)
    if total < 0:
        return None
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return days, hours, minutes, secs


def format_squeue_time(seconds: float) -> str:
    """Format a duration as squeue's %M/%l/%L do: ``M:SS``, ``H:MM:SS`` or ``D-HH:MM:SS``.

    Fractions of a second are dropped; a negative duration shows as ``INVALID``, as in squeue.
    """
    parts = _split(seconds)
    if parts is None:
        return "INVALID"
    days, hours, minutes, secs = parts
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_limit_squeue(minutes: int | None) -> str:
    """Format a time limit in minutes as squeue's %l does; None is ``UNLIMITED``."""
    if minutes is None:
        return "UNLIMITED"
    return format_squeue_time(minutes * 60)


def format_hms(seconds: float) -> str:
    """Format a duration as sacct/scontrol do: ``HH:MM:SS`` or ``D-HH:MM:SS``.

    Fractions of a second are dropped; a negative duration shows as ``INVALID``, as in Slurm.
    """
    parts = _split(seconds)
    if parts is None:
        return "INVALID"
    days, hours, minutes, secs = parts
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def format_limit_hms(minutes: int | None) -> str:
    """Format a time limit in minutes as scontrol/sacct do; None is ``UNLIMITED``."""
    if minutes is None:
        return "UNLIMITED"
    return format_hms(minutes * 60)


# --------------------------------------------------------------------------- timestamps


def format_timestamp(epoch: float | None, tz: _dt.tzinfo | None = None) -> str:
    """Format epoch seconds as Slurm's ``YYYY-MM-DDTHH:MM:SS`` in ``tz`` (default: local time).

    None, and 0 (which Slurm also shows this way), give ``Unknown``; so does a time no
    calendar holds (a record written before the controller checked --begin), rather than
    failing every listing that shows it.
    """
    if epoch is None or epoch == 0 or not math.isfinite(epoch):
        return "Unknown"
    try:
        return _dt.datetime.fromtimestamp(math.floor(epoch), tz).strftime("%Y-%m-%dT%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return "Unknown"


_UNIT_SECONDS: dict[str, int] = {
    name: multiplier
    for names, multiplier in (
        (("", "s", "sec", "secs", "second", "seconds"), 1),
        (("m", "min", "mins", "minute", "minutes"), 60),
        (("h", "hr", "hrs", "hour", "hours"), 3600),
        (("d", "day", "days"), 86400),
        (("w", "wk", "wks", "week", "weeks"), 7 * 86400),
    )
    for name in names
}

_I = re.IGNORECASE
_RE_UTS = re.compile(r"uts([0-9]+)", _I)
_RE_NOW = re.compile(r"now(?:\s*([+-])\s*([0-9]+)\s*([a-z]*))?(?![a-z0-9])", _I)
# A word ends at a non-letter, or at the 'T' that joins a date to a time ("tomorrowT09:30").
_WORD_END = r"(?=$|[^a-z]|t[0-9])"
_RE_DAY_WORD = re.compile(r"(today|tomorrow)" + _WORD_END, _I)
_RE_TIME_WORD = re.compile(r"(midnight|noon|fika|teatime)" + _WORD_END, _I)
_RE_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?![0-9])")
_RE_CLOCK = re.compile(
    r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?(?![0-9:])(?:\s*([ap]m)(?![a-z0-9]))?", _I
)
_RE_US_DATE = re.compile(r"([0-9]{1,2})([/.])([0-9]{1,2})(?:\2([0-9]{4}|[0-9]{2}))?(?![0-9/.])")
_RE_COMPACT_DATE = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{2})?(?![0-9])")
# Between tokens: blanks, or one '-' or 'T' (the latter only before a digit, as in ISO 8601).
_RE_SEP = re.compile(r"\s*(?:-|T(?=[0-9]))\s*|\s+")

_TIME_WORDS = {"midnight": 0, "noon": 12, "fika": 15, "teatime": 16}


class _Parsed:
    # A plain class, not a dataclass: importing dataclasses costs the commands ~15 ms.
    def __init__(self) -> None:
        self.year: int | None = None
        self.month: int | None = None
        self.day: int | None = None
        self.has_date = False
        self.hour: int | None = None
        self.minute = 0
        self.second = 0


def _invalid(text: str) -> ValueError:
    return ValueError(f"Invalid time specification: {text}")


# The latest moment corral keeps (9999-01-01 UTC): every later one would overflow the dates
# that scontrol, squeue and sacct print, in any time zone.
LATEST_TIME = 253370764800.0


def within_calendar(value: float) -> bool:
    return 0.0 <= value <= LATEST_TIME


def parse_timestamp(
    text: str, now: float, tz: _dt.tzinfo | None = None, *, past: bool = True
) -> float:
    """Parse a Slurm date/time (sacct ``-S``/``-E``, sbatch ``--begin``) into epoch seconds.

    Accepted, combined with blanks, ``-`` or ``T``: ``YYYY-MM-DD``, ``MM/DD[/YY]``,
    ``MM.DD[.YY]``, ``MMDD[YY]``, ``today``, ``tomorrow`` (dates); ``HH:MM[:SS] [AM|PM]``,
    ``midnight``, ``noon``, ``fika``, ``teatime`` (times); ``now[{+|-}N[unit]]`` with unit
    seconds (default), minutes, hours, days or weeks (singular, plural or short forms);
    ``uts<epoch>``. A date alone means its midnight.

    ``now`` is the current epoch and ``tz`` the zone wall-clock values are read in (default:
    local time). With ``past`` (sacct's reading, the default) a time of day alone is today and
    a date without a year is this year, or last year if its month is still to come. With
    ``past=False`` (sbatch ``--begin``'s reading) both mean the next such moment: a time of
    day already passed is tomorrow, a date already passed is next year.
    """
    stripped = text.strip()
    if not stripped:
        raise _invalid(text)

    value = _timestamp(stripped, text, now, tz, past)
    if not within_calendar(value):
        raise _invalid(text)
    return value


def _timestamp(stripped: str, text: str, now: float, tz: _dt.tzinfo | None, past: bool) -> float:
    uts = _RE_UTS.fullmatch(stripped)
    if uts is not None:
        value = int(uts.group(1))
        if value < 1_000_000:
            raise _invalid(text)
        return float(value)

    now_match = _RE_NOW.fullmatch(stripped)
    if now_match is not None:
        sign, count, unit = now_match.groups()
        if sign is None:
            return float(now)
        multiplier = _UNIT_SECONDS.get(unit.lower())
        if multiplier is None:
            raise _invalid(text)
        delta = int(count) * multiplier
        return float(now + delta if sign == "+" else now - delta)

    parsed = _scan(stripped, text)
    now_dt = _dt.datetime.fromtimestamp(now, tz)
    return _resolve(parsed, now_dt, tz, past, text)


def _scan(s: str, text: str) -> _Parsed:
    """Tokenise a date/time string into its date and time-of-day parts."""
    parsed = _Parsed()
    pos = 0
    while True:
        pos = _scan_token(s, pos, parsed, text)
        if pos == len(s):
            return parsed
        sep = _RE_SEP.match(s, pos)
        if sep is None or sep.end() == len(s):
            raise _invalid(text)
        pos = sep.end()


def _set_date(parsed: _Parsed, year: int | None, month: int, day: int, text: str) -> None:
    if parsed.has_date:
        raise _invalid(text)
    parsed.has_date = True
    parsed.year, parsed.month, parsed.day = year, month, day


def _set_time(parsed: _Parsed, hour: int, minute: int, second: int, text: str) -> None:
    if parsed.hour is not None:
        raise _invalid(text)
    parsed.hour, parsed.minute, parsed.second = hour, minute, second


def _scan_token(s: str, pos: int, parsed: _Parsed, text: str) -> int:
    """Consume one token at ``pos`` into ``parsed``; return the position after it."""
    if m := _RE_DAY_WORD.match(s, pos):
        # The calendar day is filled in by _resolve; -1/-2 mark today/tomorrow.
        _set_date(parsed, None, -1 if m.group(1).lower() == "today" else -2, 0, text)
        return m.end()
    if m := _RE_TIME_WORD.match(s, pos):
        _set_time(parsed, _TIME_WORDS[m.group(1).lower()], 0, 0, text)
        return m.end()
    if m := _RE_ISO_DATE.match(s, pos):
        _set_date(parsed, int(m.group(1)), int(m.group(2)), int(m.group(3)), text)
        return m.end()
    if m := _RE_CLOCK.match(s, pos):
        hour, minute = int(m.group(1)), int(m.group(2))
        second = int(m.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise _invalid(text)
        meridiem = (m.group(4) or "").lower()
        if meridiem:
            if not 1 <= hour <= 12:
                raise _invalid(text)
            hour = hour % 12 + (12 if meridiem == "pm" else 0)
        _set_time(parsed, hour, minute, second, text)
        return m.end()
    if m := _RE_US_DATE.match(s, pos):
        _set_date(parsed, _year(m.group(4)), int(m.group(1)), int(m.group(3)), text)
        return m.end()
    if m := _RE_COMPACT_DATE.match(s, pos):
        _set_date(parsed, _year(m.group(3)), int(m.group(1)), int(m.group(2)), text)
        return m.end()
    raise _invalid(text)


def _year(digits: str | None) -> int | None:
    if digits is None:
        return None
    return int(digits) + (2000 if len(digits) == 2 else 0)


def _resolve(
    parsed: _Parsed, now_dt: _dt.datetime, tz: _dt.tzinfo | None, past: bool, text: str
) -> float:
    """Fill in what the text left out, Slurm's way, and convert to epoch seconds."""
    today = now_dt.date()
    hour, minute, second = parsed.hour, parsed.minute, parsed.second
    year, month, day = parsed.year, parsed.month, parsed.day

    if month == -1:  # today
        year, month, day = today.year, today.month, today.day
    elif month == -2:  # tomorrow
        tomorrow = today + _dt.timedelta(days=1)
        year, month, day = tomorrow.year, tomorrow.month, tomorrow.day

    if not parsed.has_date:
        assert hour is not None  # _scan only returns after consuming at least one token
        later_today = (hour, minute) > (now_dt.hour, now_dt.minute)
        when = today if past or later_today else today + _dt.timedelta(days=1)
        year, month, day = when.year, when.month, when.day
    elif hour is None:
        hour, minute, second = 0, 0, 0

    assert month is not None and day is not None
    if year is None:
        if past:
            year = now_dt.year - 1 if month > now_dt.month else now_dt.year
        else:
            ahead = (month, day, hour, minute) > (
                now_dt.month,
                now_dt.day,
                now_dt.hour,
                now_dt.minute,
            )
            year = now_dt.year if ahead else now_dt.year + 1

    try:
        moment = _dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        raise _invalid(text) from None
    return moment.timestamp()


# --------------------------------------------------------------------------- memory

# Slurm also takes a trailing B (`2GB`, `200MB`), which tools such as submitit write.
_MEMORY = re.compile(r"([0-9]+)([kmgt]?)b?", _I)
_MEMORY_SCALE_KB = {"k": 1, "": 1024, "m": 1024, "g": 1024**2, "t": 1024**3}


def parse_memory_mb(text: str) -> int:
    """Parse a Slurm memory size (``N[K|M|G|T][B]``, default M) into MiB, rounding KiB up."""
    match = _MEMORY.fullmatch(text.strip())
    if match is None:
        raise ValueError("Invalid memory specification")
    kib = int(match.group(1)) * _MEMORY_SCALE_KB[match.group(2).lower()]
    return -(-kib // 1024)


def format_memory_mb(mb: int) -> str:
    """Format MiB as squeue's %m does: the largest unit that divides exactly (``8G``, ``100M``)."""
    if mb < 0:
        raise ValueError("Invalid memory specification")
    if mb == 0:
        return "0"
    for suffix, size in (("T", 1024**2), ("G", 1024)):
        if mb % size == 0:
            return f"{mb // size}{suffix}"
    return f"{mb}M"
