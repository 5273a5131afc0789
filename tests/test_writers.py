"""pipelines.writers.write_json_array against Polars' own JSON writer, the format it promises."""
from __future__ import annotations

import io

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

import pipelines.writers as writers

# What a check result holds, with the text a hostile input file can put in it: quotes,
# backslashes, raw newlines and other control characters, non-ASCII.
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
# The columns of `check_frame`'s result, in its order.
rows = st.lists(st.fixed_dictionaries({
    "input": text, "address": st.none() | text, "channel": st.none() | st.sampled_from(["email", "sms"]),
    "suppressed": st.booleans(), "reasons": st.lists(text, max_size=3),
    "status": st.sampled_from(["suppressed", "not_suppressed", "invalid"]), "error": st.none() | text,
}), max_size=40)
SCHEMA = {"input": pl.String, "address": pl.String, "channel": pl.String, "suppressed": pl.Boolean,
          "reasons": pl.List(pl.String), "status": pl.String, "error": pl.String}


@settings(max_examples=300, deadline=None)
@given(rows=rows, slice_rows=st.integers(1, 7))
def test_the_json_array_is_what_polars_writes(rows, slice_rows):
    frame = pl.DataFrame(rows, schema=SCHEMA)
    original = writers.JSON_SLICE_ROWS
    writers.JSON_SLICE_ROWS = slice_rows  # several slices on frames this small
    try:
        as_bytes, as_text = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.StringIO()
        as_utf16 = io.TextIOWrapper(io.BytesIO(), encoding="utf-16")  # not UTF-8: written as text
        for sink in (as_bytes, as_text, as_utf16):
            writers.write_json_array(frame, sink)
    finally:
        writers.JSON_SLICE_ROWS = original
    expected = frame.write_json() + "\n"
    as_bytes.flush()
    assert as_bytes.buffer.getvalue().decode() == expected
    assert as_text.getvalue() == expected
    as_utf16.flush()
    assert as_utf16.buffer.getvalue().decode("utf-16") == expected
