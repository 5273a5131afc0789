from datetime import UTC, datetime

import polars as pl
import pytest

from pipelines.normalize.timestamps import parse_times

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def one(raw):
    frame = parse_times(pl.Series([raw]), now=NOW)
    return frame["occurred_at"][0], frame["time_warning"][0]


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-04 10:00:00", utc(2024, 3, 4, 10)),
        ("2020-02-01T10:53:34.416071Z", utc(2020, 2, 1, 10, 53, 34, 416071)),
        ("2019-12-17T08:58:33-05:00", utc(2019, 12, 17, 13, 58, 33)),
        ("1443651154", utc(2015, 9, 30, 22, 12, 34)),
        ("1709283600.123", utc(2024, 3, 1, 9, 0, 0, 123000)),
        ("1700000000000", utc(2023, 11, 14, 22, 13, 20)),
        ("Fri, 21 Oct 2011 11:02:55 GMT", utc(2011, 10, 21, 11, 2, 55)),
        ("Wed, 1 May 2024 08:00:00 UTC", utc(2024, 5, 1, 8)),
        ("2020-11-05 11:10:44 -0700", utc(2020, 11, 5, 18, 10, 44)),
        ("Dec 19, 2021", utc(2021, 12, 19)),
        ("2024-02-10", utc(2024, 2, 10)),
        ("20110122T111244", utc(2011, 1, 22, 11, 12, 44)),
    ],
)
def test_formats(raw, expected):
    assert one(raw) == (expected, None)


@pytest.mark.parametrize(
    ("raw", "warning"),
    [
        ("0000-00-00", None),  # ActiveCampaign's zero date: no time, no complaint
        ("0000-00-00 00:00:00", None),
        ("", None),
        ("garbage", "unparseable_time"),
        ("2999-01-01 00:00:00", "future_time"),
        ("1980-01-01", "time_before_1995"),
    ],
)
def test_unusable_times_warn_but_do_not_fail(raw, warning):
    assert one(raw) == (None, warning)


def test_day_month_order_decided_once_per_file():
    frame = parse_times(pl.Series(["03/04/2024", "13/04/2024"]), now=NOW)
    assert frame["occurred_at"].to_list() == [utc(2024, 4, 3), utc(2024, 4, 13)]  # 13 decides: D/M
    frame = parse_times(pl.Series(["03/04/2024", "04/30/2024"]), now=NOW)
    assert frame["occurred_at"].to_list() == [utc(2024, 3, 4), utc(2024, 4, 30)]  # 30 decides: M/D


def test_ambiguous_day_month_file_is_not_guessed():
    frame = parse_times(pl.Series(["03/04/2024", "05/06/2024"]), now=NOW)
    assert frame["occurred_at"].to_list() == [None, None]
    assert frame["time_warning"].to_list() == ["ambiguous_day_month"] * 2
