"""Unit tests for corral.model.timefmt."""

from __future__ import annotations

import datetime as dt
import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.model.timefmt import (
    format_hms,
    format_limit_hms,
    format_limit_squeue,
    format_memory_mb,
    format_squeue_time,
    format_timestamp,
    parse_memory_mb,
    parse_time_limit,
    parse_timestamp,
)

UTC = dt.UTC
EST = dt.timezone(dt.timedelta(hours=-5))
# Sunday 2026-11-22 13:10:01 UTC.
NOW = dt.datetime(2026, 11, 22, 13, 10, 1, tzinfo=UTC).timestamp()


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()


# --------------------------------------------------------------------------- parse_time_limit


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("10", 10),
        ("90", 90),
        ("0:01", 1),
        ("1:00", 1),
        ("1:01", 2),
        ("5:30", 6),
        ("1:00:00", 60),
        ("2:30:00", 150),
        ("0:00:59", 1),
        ("1:02:03", 63),
        ("1-0", 1440),
        ("2-3", 2 * 1440 + 180),
        ("1-2:30", 1440 + 150),
        ("1-02:03:04", 1440 + 123 + 1),
        ("007", 7),
        (" 15 ", 15),
    ],
)
def test_parse_time_limit_converts_each_slurm_form_to_minutes_rounded_up(
    text: str, minutes: int
) -> None:
    assert parse_time_limit(text) == minutes


@pytest.mark.parametrize("text", ["UNLIMITED", "unlimited", "Infinite", "INFINITE", "-1"])
def test_parse_time_limit_reads_unlimited_words_as_none(text: str) -> None:
    assert parse_time_limit(text) is None


@pytest.mark.parametrize("text", ["0", "0:00", "0:00:00", "0-0", "0-00:00:00"])
def test_parse_time_limit_reads_zero_as_unlimited_like_slurm(text: str) -> None:
    assert parse_time_limit(text) is None


def test_parse_time_limit_does_not_range_check_fields_like_slurm() -> None:
    assert parse_time_limit("90:90") == 92
    assert parse_time_limit("0:120:00") == 120


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "bogus",
        "1:2:3:4",
        "-5",
        "-1:00",
        "1-",
        "-1-2",
        "1-2-3",
        "1-2:3:4:5",
        "1:",
        ":30",
        "1::2",
        "1h",
        "10m",
        "1.5",
        "1 2",
        "٣",  # non-ASCII digit
        "unlimitedx",
    ],
)
def test_parse_time_limit_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError, match="^Invalid --time specification$"):
        parse_time_limit(text)


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0:00"),
        (2, "0:02"),
        (59, "0:59"),
        (60, "1:00"),
        (307, "5:07"),
        (3599, "59:59"),
        (3600, "1:00:00"),
        (3723, "1:02:03"),
        (86399, "23:59:59"),
        (86400, "1-00:00:00"),
        (93784, "1-02:03:04"),
        (400 * 86400, "400-00:00:00"),
        (2.9, "0:02"),
        (3723.999, "1:02:03"),
    ],
)
def test_format_squeue_time_uses_the_shortest_squeue_form(seconds: float, text: str) -> None:
    assert format_squeue_time(seconds) == text


@pytest.mark.parametrize("seconds", [-1, -0.5, -86400, math.nan, math.inf])
def test_format_squeue_time_shows_negative_or_non_finite_as_invalid(seconds: float) -> None:
    assert format_squeue_time(seconds) == "INVALID"


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (None, "UNLIMITED"),
        (0, "0:00"),
        (1, "1:00"),
        (59, "59:00"),
        (60, "1:00:00"),
        (1440, "1-00:00:00"),
        (1441, "1-00:01:00"),
    ],
)
def test_format_limit_squeue_formats_minutes_or_unlimited(minutes: int | None, text: str) -> None:
    assert format_limit_squeue(minutes) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "00:00:00"),
        (20, "00:00:20"),
        (20.7, "00:00:20"),
        (3723, "01:02:03"),
        (36000, "10:00:00"),
        (86399, "23:59:59"),
        (86400, "1-00:00:00"),
        (93784, "1-02:03:04"),
        (12 * 86400 + 5, "12-00:00:05"),
    ],
)
def test_format_hms_pads_hours_and_prefixes_days(seconds: float, text: str) -> None:
    assert format_hms(seconds) == text


def test_format_hms_shows_negative_as_invalid() -> None:
    assert format_hms(-3) == "INVALID"


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(None, "UNLIMITED"), (1, "00:01:00"), (60, "01:00:00"), (2 * 1440 + 1, "2-00:01:00")],
)
def test_format_limit_hms_formats_minutes_or_unlimited(minutes: int | None, text: str) -> None:
    assert format_limit_hms(minutes) == text


@given(st.integers(min_value=1, max_value=10**6))
def test_formatted_limits_parse_back_to_the_same_minutes(minutes: int) -> None:
    assert parse_time_limit(format_limit_hms(minutes)) == minutes
    assert parse_time_limit(format_limit_squeue(minutes)) == minutes


def test_formatted_unlimited_parses_back_to_none() -> None:
    assert parse_time_limit(format_limit_hms(None)) is None
    assert parse_time_limit(format_limit_squeue(None)) is None


@given(st.integers(min_value=0, max_value=10**8))
def test_formatted_durations_parse_back_to_minutes_rounded_up(seconds: int) -> None:
    expected = math.ceil(seconds / 60) or None
    assert parse_time_limit(format_hms(seconds)) == expected
    assert parse_time_limit(format_squeue_time(seconds)) == expected


# --------------------------------------------------------------------------- format_timestamp


def test_format_timestamp_writes_iso_seconds_in_the_given_zone() -> None:
    assert format_timestamp(NOW, tz=UTC) == "2026-11-22T13:10:01"
    assert format_timestamp(NOW, tz=EST) == "2026-11-22T08:10:01"


def test_format_timestamp_drops_fractions_of_a_second() -> None:
    assert format_timestamp(NOW + 0.999, tz=UTC) == "2026-11-22T13:10:01"


def test_format_timestamp_defaults_to_local_time() -> None:
    expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(NOW))
    assert format_timestamp(NOW) == expected


@pytest.mark.parametrize("epoch", [None, 0, 0.0])
def test_format_timestamp_shows_missing_or_zero_as_unknown(epoch: float | None) -> None:
    assert format_timestamp(epoch, tz=UTC) == "Unknown"


@given(st.integers(min_value=1, max_value=4_000_000_000), st.sampled_from([UTC, EST]))
def test_formatted_timestamps_parse_back_to_the_same_second(epoch: int, tz: dt.tzinfo) -> None:
    assert parse_timestamp(format_timestamp(epoch, tz=tz), NOW, tz=tz) == epoch


# --------------------------------------------------------------------------- parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-05", utc(2026, 1, 5)),
        ("2026-1-5", utc(2026, 1, 5)),
        ("2026-01-05T07:08", utc(2026, 1, 5, 7, 8)),
        ("2026-01-05T07:08:09", utc(2026, 1, 5, 7, 8, 9)),
        ("2026-01-05 07:08:09", utc(2026, 1, 5, 7, 8, 9)),
        ("11/20", utc(2026, 11, 20)),
        ("11/20/25", utc(2025, 11, 20)),
        ("11/20/2025", utc(2025, 11, 20)),
        ("11.20.25", utc(2025, 11, 20)),
        ("112025", utc(2025, 11, 20)),
        ("1120", utc(2026, 11, 20)),
        ("11/20-07:08", utc(2026, 11, 20, 7, 8)),
        ("11/20/25-07:08:09", utc(2025, 11, 20, 7, 8, 9)),
        ("07:08", utc(2026, 11, 22, 7, 8)),
        ("07:08:09", utc(2026, 11, 22, 7, 8, 9)),
        ("7:08", utc(2026, 11, 22, 7, 8)),
        ("23:00", utc(2026, 11, 22, 23)),
        ("7:08 PM", utc(2026, 11, 22, 19, 8)),
        ("7:08am", utc(2026, 11, 22, 7, 8)),
        ("12:00am", utc(2026, 11, 22)),
        ("12:30pm", utc(2026, 11, 22, 12, 30)),
        ("today", utc(2026, 11, 22)),
        ("TODAY", utc(2026, 11, 22)),
        ("midnight", utc(2026, 11, 22)),
        ("noon", utc(2026, 11, 22, 12)),
        ("fika", utc(2026, 11, 22, 15)),
        ("teatime", utc(2026, 11, 22, 16)),
        ("tomorrow", utc(2026, 11, 23)),
        ("Tomorrow", utc(2026, 11, 23)),
        ("tomorrow noon", utc(2026, 11, 23, 12)),
        ("noon tomorrow", utc(2026, 11, 23, 12)),
        ("today 09:30", utc(2026, 11, 22, 9, 30)),
        ("tomorrowT09:30", utc(2026, 11, 23, 9, 30)),
        ("uts1700000000", 1_700_000_000.0),
    ],
)
def test_parse_timestamp_reads_slurm_date_forms_in_the_given_zone(
    text: str, expected: float
) -> None:
    assert parse_timestamp(text, NOW, tz=UTC) == expected


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("now", 0),
        ("NOW", 0),
        ("now+0", 0),
        ("now+30", 30),
        ("now-30", -30),
        ("now+30seconds", 30),
        ("now+1second", 1),
        ("now+30s", 30),
        ("now+30minutes", 1800),
        ("now+1minute", 60),
        ("now+5min", 300),
        ("now-1hour", -3600),
        ("now-3hours", -3 * 3600),
        ("now-2h", -7200),
        ("now-2days", -2 * 86400),
        ("now+1day", 86400),
        ("now+1week", 7 * 86400),
        ("now-2weeks", -14 * 86400),
        ("now + 2 HOURS", 7200),
    ],
)
def test_parse_timestamp_reads_now_with_an_optional_signed_offset(text: str, offset: int) -> None:
    assert parse_timestamp(text, NOW, tz=UTC) == NOW + offset


def test_parse_timestamp_keeps_fractional_now() -> None:
    assert parse_timestamp("now+1", NOW + 0.25, tz=UTC) == NOW + 1.25


def test_parse_timestamp_reads_wall_clock_values_in_the_given_zone() -> None:
    assert parse_timestamp("2026-01-05T07:08", NOW, tz=EST) == utc(2026, 1, 5, 12, 8)
    # 13:10 UTC is 08:10 EST, so "today" is still 2026-11-22 there.
    assert parse_timestamp("today", NOW, tz=EST) == utc(2026, 11, 22, 5)


def test_parse_timestamp_takes_today_from_the_zone_not_from_utc() -> None:
    late_evening_est = utc(2026, 11, 23, 3, 30)  # 2026-11-22 22:30 EST
    assert parse_timestamp("today", late_evening_est, tz=EST) == utc(2026, 11, 22, 5)
    assert parse_timestamp("today", late_evening_est, tz=UTC) == utc(2026, 11, 23)


def test_parse_timestamp_defaults_to_local_time() -> None:
    expected = time.mktime((2026, 1, 5, 7, 8, 9, 0, 0, -1))
    assert parse_timestamp("2026-01-05T07:08:09", NOW) == expected


def test_parse_timestamp_tomorrow_crosses_month_and_year_ends() -> None:
    new_years_eve = utc(2026, 12, 31, 20)
    assert parse_timestamp("tomorrow", new_years_eve, tz=UTC) == utc(2027, 1, 1)


def test_parse_timestamp_puts_a_yearless_later_month_in_the_past_year_by_default() -> None:
    assert parse_timestamp("12/25", NOW, tz=UTC) == utc(2025, 12, 25)
    assert parse_timestamp("1225", NOW, tz=UTC) == utc(2025, 12, 25)
    assert parse_timestamp("01/02", NOW, tz=UTC) == utc(2026, 1, 2)


def test_parse_timestamp_looking_forward_puts_a_passed_time_of_day_tomorrow() -> None:
    assert parse_timestamp("07:08", NOW, tz=UTC, past=False) == utc(2026, 11, 23, 7, 8)
    assert parse_timestamp("13:10", NOW, tz=UTC, past=False) == utc(2026, 11, 23, 13, 10)
    assert parse_timestamp("13:11", NOW, tz=UTC, past=False) == utc(2026, 11, 22, 13, 11)
    assert parse_timestamp("midnight", NOW, tz=UTC, past=False) == utc(2026, 11, 23)


def test_parse_timestamp_looking_forward_puts_a_passed_yearless_date_next_year() -> None:
    assert parse_timestamp("11/20", NOW, tz=UTC, past=False) == utc(2027, 11, 20)
    assert parse_timestamp("12/25", NOW, tz=UTC, past=False) == utc(2026, 12, 25)
    assert parse_timestamp("11/22-14:00", NOW, tz=UTC, past=False) == utc(2026, 11, 22, 14)


def test_parse_timestamp_looking_forward_leaves_explicit_dates_alone() -> None:
    assert parse_timestamp("2020-01-01", NOW, tz=UTC, past=False) == utc(2020, 1, 1)
    assert parse_timestamp("now-1hour", NOW, tz=UTC, past=False) == NOW - 3600


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "bogus",
        "now+",
        "now-",
        "now+1fortnight",
        "now+x",
        "now today",
        "today tomorrow",
        "noon midnight",
        "07:08 09:10",
        "2026-01-05 11/20",
        "2026-13-01",
        "2026-02-30",
        "2026-00-10",
        "2026-01-32",
        "13/01",
        "02/30/26",
        "24:00",
        "12:60",
        "12:00:60",
        "13:00pm",
        "0:30am",
        "12:00:00:00",
        "12:0",
        "1:2",
        "2026",
        "20260105",
        "11/20/2",
        "11/20.25",
        "2026-01-05T",
        "2026-01-05-",
        "T07:08",
        "-07:08",
        "07:08-",
        "todayx",
        "uts5",
        "uts",
        "1700000000",
    ],
)
def test_parse_timestamp_rejects_malformed_text_and_names_it(text: str) -> None:
    with pytest.raises(ValueError, match=r"^Invalid time specification: ") as info:
        parse_timestamp(text, NOW, tz=UTC)
    assert str(info.value) == f"Invalid time specification: {text}"


def test_parse_timestamp_rejects_feb_29_in_a_common_year() -> None:
    with pytest.raises(ValueError, match="Invalid time specification: 02/29"):
        parse_timestamp("02/29", NOW, tz=UTC)
    assert parse_timestamp("02/29/28", NOW, tz=UTC) == utc(2028, 2, 29)


# --------------------------------------------------------------------------- memory


@pytest.mark.parametrize(
    ("text", "mb"),
    [
        ("0", 0),
        ("100", 100),
        ("100M", 100),
        ("100m", 100),
        ("8G", 8192),
        ("8g", 8192),
        ("512K", 1),
        ("1024K", 1),
        ("1025k", 2),
        ("1T", 1048576),
        ("2t", 2097152),
        (" 4G ", 4096),
    ],
)
def test_parse_memory_mb_converts_sizes_to_mib_rounding_up(text: str, mb: int) -> None:
    assert parse_memory_mb(text) == mb


@pytest.mark.parametrize(
    "text",
    ["", "M", "-1", "-100M", "1.5G", "8GBB", "8X", "G8", "8 G", "ten", "٣M", "1P"],
)
def test_parse_memory_mb_rejects_malformed_or_negative_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="^Invalid memory specification$"):
        parse_memory_mb(text)


@pytest.mark.parametrize(
    ("mb", "text"),
    [
        (0, "0"),
        (1, "1M"),
        (100, "100M"),
        (1023, "1023M"),
        (1024, "1G"),
        (1536, "1536M"),
        (8192, "8G"),
        (1048576, "1T"),
        (1049600, "1025G"),
    ],
)
def test_format_memory_mb_uses_the_largest_exact_unit(mb: int, text: str) -> None:
    assert format_memory_mb(mb) == text


def test_format_memory_mb_rejects_negative_sizes() -> None:
    with pytest.raises(ValueError):
        format_memory_mb(-1)


@given(st.integers(min_value=0, max_value=2**50))
def test_formatted_memory_parses_back_to_the_same_mib(mb: int) -> None:
    assert parse_memory_mb(format_memory_mb(mb)) == mb


def test_parse_memory_mb_takes_a_trailing_b_as_submitit_writes_it() -> None:
    assert parse_memory_mb("8GB") == 8192
    assert parse_memory_mb("200MB") == 200


@pytest.mark.parametrize("text", ["now+99999999999999days", "uts99999999999999", "now-100years"])
def test_times_outside_the_printable_calendar_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="Invalid time specification"):
        parse_timestamp(text, 1_700_000_000.0, past=False)


@pytest.mark.parametrize("epoch", [1e20, float("inf"), float("nan"), -1e20])
def test_a_time_beyond_any_calendar_prints_unknown(epoch: float) -> None:
    assert format_timestamp(epoch) == "Unknown"
