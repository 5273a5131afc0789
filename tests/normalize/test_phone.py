import polars as pl
import pytest

from pipelines.normalize.phone import normalize_phones


def run(values, region=None):
    frame = normalize_phones(pl.DataFrame({"raw": values}, schema={"raw": pl.String}), "raw", "address", "error", region)
    return list(zip(frame["address"].to_list(), frame["error"].to_list(), strict=False))


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+14155550142", None, "+14155550142"),
        ("+1 (415) 555-0142", None, "+14155550142"),
        ("(415) 555-0142", "US", "+14155550142"),
        ("07700 900123", "GB", "+447700900123"),
        ("'+447700900123", None, "+447700900123"),  # spreadsheet formula guard
        ("tel:+14155550142", None, "+14155550142"),
    ],
)
def test_e164(raw, region, e164):
    assert run([raw], region) == [(e164, None)]


@pytest.mark.parametrize(
    ("raw", "region", "error"),
    [
        ("1.41555E+10", "US", "excel_mangled_phone"),
        ("(415) 555-0142", None, "invalid_phone"),  # national number without a region
        ("+1 555", None, "invalid_phone"),
        ("not a number", "US", "invalid_phone"),
        ("", "US", "empty_address"),
    ],
)
def test_rejects(raw, region, error):
    assert run([raw], region) == [(None, error)]
