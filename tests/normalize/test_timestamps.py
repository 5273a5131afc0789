import csv
import io
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
        ("2022-02-23T19:31:49+00:00", utc(2022, 2, 23, 19, 31, 49)),
        ("2017-05-01T12:30:00.000Z", utc(2017, 5, 1, 12, 30)),
        ("2018-11-06T11:01:00-06:00", utc(2018, 11, 6, 17, 1)),
        ("Mon, 2 Jan 2006 15:04:05 MST", utc(2006, 1, 2, 22, 4, 5)),  # zone name, unpadded day
        ("Fri, 21 Oct 2011 11:02:55 +0200", utc(2011, 10, 21, 9, 2, 55)),
        ("Jan 3, 2022", utc(2022, 1, 3)),  # `Mon D, YYYY` with a one-digit day
        ("2024-03-04 10:00", utc(2024, 3, 4, 10)),
        ("13-04-2022 10:00", utc(2022, 4, 13, 10)),  # Brevo's DD-MM-YYYY HH:MM, the 13 decides
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
        ("N/A", None),
        ("null", None),
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


def test_us_excel_dates_with_am_pm_decided_by_the_file():
    frame = parse_times(pl.Series(["3/4/24 9:05 AM", "4/30/24 1:15 PM", "8/27/2015"]), now=NOW)
    assert frame["occurred_at"].to_list() == [utc(2024, 3, 4, 9, 5), utc(2024, 4, 30, 13, 15), utc(2015, 8, 27)]


def test_day_month_order_is_decided_per_file_through_ingest(cli, tmp_path):
    """Two files in one run: each decides its own order; an ambiguous one keeps its rows, time unknown."""
    header = "address,event,occurred_at\n"
    european = tmp_path / "european.csv"
    european.write_text(header + "eu.a@example.com,hard_bounce,03/04/2024\neu.b@example.com,hard_bounce,13/04/2024\n")
    american = tmp_path / "american.csv"
    american.write_text(header + "us.a@example.com,hard_bounce,03/04/2024\nus.b@example.com,hard_bounce,04/30/2024\n")
    ambiguous = tmp_path / "ambiguous.csv"
    ambiguous.write_text(header + "am.a@example.com,hard_bounce,03/04/2024\nam.b@example.com,hard_bounce,05/06/2024\n")
    result = cli("ingest", "--tenant", "t", "--json", european, american, ambiguous)
    assert result.code == 0, result.stderr
    s = result.json()
    assert s["suppressions_added"] == 6 and s["rows_rejected"] == 0  # a time never costs a row
    assert s["time_warnings"] == {"ambiguous_day_month": 2}
    seen = {r["address"]: r["first_seen_at"][:10] for r in csv.DictReader(io.StringIO(cli("export", "--tenant", "t").stdout))}
    assert seen["eu.a@example.com"] == "2024-04-03" and seen["us.a@example.com"] == "2024-03-04"
    assert seen["eu.b@example.com"] == "2024-04-13" and seen["us.b@example.com"] == "2024-04-30"
    assert seen["am.a@example.com"] == seen["am.b@example.com"] == s["started_at"][:10]  # unknown: load time
