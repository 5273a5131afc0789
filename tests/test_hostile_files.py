"""Hostile and odd files through the real CLI: each is loaded right or refused in one line
naming it (exit 3), never a crash, a traceback, a partial load, or another file read instead."""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import random
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipelines.readers import archives
from tests.conftest import run_cli


def ingest(store: Path, *args) -> object:
    return run_cli("ingest", "--tenant", "t", "--store", str(store), "--json", *map(str, args))


def exported(store: Path) -> list[dict]:
    if not store.exists():
        return []
    result = run_cli("export", "--tenant", "t", "--store", str(store), "--format", "jsonl")
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def addresses(store: Path) -> set[str]:
    return {r["address"] for r in exported(store)}


def rejects(store: Path, run_id: str) -> list[tuple[str, str, str]]:
    result = run_cli("rejects", run_id, "--store", str(store), "--format", "csv")
    assert result.code == 0, result.stderr
    return sorted((r["line"], r["value"], r["error"]) for r in csv.DictReader(io.StringIO(result.stdout)))


def assert_refused(result, store: Path, name: str, *fragments: str) -> None:
    """Exit 3, one line on stderr naming the file, no traceback, nothing loaded."""
    assert result.code == 3, (result.code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0] and "Traceback" not in result.stderr, lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert exported(store) == []


# --- 1. Paths are literal -------------------------------------------------------------------


def test_a_file_name_with_glob_characters_is_that_file(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    named = folder / "bounces[12].csv"
    named.write_text("email\nnamed@example.com\n")
    (folder / "bounces1.csv").write_text("email\none@example.com\n")
    (folder / "bounces2.csv").write_text("email\ntwo@example.com\n")
    result = ingest(tmp_path / "s.duckdb", named)
    assert result.code == 0, result.stderr
    assert addresses(tmp_path / "s.duckdb") == {"named@example.com"}
    (f,) = result.json()["files"]
    assert f["sha256"] == hashlib.sha256(b"email\nnamed@example.com\n").hexdigest()


def test_a_folder_name_with_glob_characters_is_that_folder(tmp_path):
    for folder, address in (("[acme]", "acme@example.com"), ("a", "wrong.a@example.com"), ("c", "wrong.c@example.com")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "list.csv").write_text(f"email\n{address}\n")
    result = ingest(tmp_path / "s.duckdb", tmp_path / "[acme]")
    assert result.code == 0, result.stderr
    assert addresses(tmp_path / "s.duckdb") == {"acme@example.com"}


# --- 2. A stray invalid byte ------------------------------------------------------------------


def test_one_invalid_byte_quarantines_its_row_and_the_file_stays_utf8(tmp_path):
    p = tmp_path / "bounces.csv"
    p.write_bytes("email\nmüller@example.com\njürgen@bücher.example\n".encode() + b"bad\xff@example.com\nok@example.com\n")
    store = tmp_path / "s.duckdb"
    result = ingest(store, "--max-reject-rate", "0.5", p)
    assert result.code == 0, result.stderr
    s = result.json()
    assert (s["rows_read"], s["rows_accepted"], s["rows_rejected"]) == (4, 3, 1)
    assert s["rejects_by_error"] == {"invalid_encoding": 1}
    assert addresses(store) == {"müller@example.com", "jürgen@xn--bcher-kva.example", "ok@example.com"}
    assert rejects(store, s["run_id"]) == [("4", "bad\ufffd@example.com", "invalid_encoding")]


def test_an_invalid_byte_in_the_status_is_invalid_encoding(tmp_path):
    p = tmp_path / "suppressions.csv"
    # UTF-8 (a valid ü), so the stray byte is replaced; "spam\ufffd" would still look up as spam.
    p.write_bytes("email,reason\nmüller@example.com,bounce\n".encode() + b"b@example.com,spam\xe9\n")
    store = tmp_path / "s.duckdb"
    result = ingest(store, "--max-reject-rate", "0.5", p)
    assert result.code == 0, result.stderr
    assert result.json()["rejects_by_error"] == {"invalid_encoding": 1}
    assert [r[0] for r in rejects(store, result.json()["run_id"])] == ["3"]


# --- 3. Commas and quotes in a one-column list ------------------------------------------------


@pytest.mark.parametrize("header", ["", "email\n"])
def test_a_one_column_list_is_split_on_line_ends_only(tmp_path, header):
    p = tmp_path / "list.txt"
    p.write_text(header + 'first@example.com\nsecond@example.com\nthird@example.com,fourth@example.com\n'
                 '"Doe, John" <john@example.com>\n')
    store = tmp_path / "s.duckdb"
    result = ingest(store, p)
    assert result.code == 0, result.stderr
    s = result.json()
    assert (s["rows_read"], s["rows_rejected"]) == (4, 0)
    assert addresses(store) == {"first@example.com", "second@example.com", "third@example.com",
                                "fourth@example.com", "john@example.com"}


# --- 4. Field length cap ----------------------------------------------------------------------


@pytest.mark.parametrize("length", [5_000, 100_000])  # under and over the readers' 64 KiB cut
def test_an_overlong_address_is_quarantined_with_a_short_prefix(tmp_path, length):
    p = tmp_path / "bounces.csv"
    p.write_text("email\nok@example.com\n" + "a" * length + "@example.com\nalso.ok@example.com\n")
    store = tmp_path / "s.duckdb"
    result = ingest(store, "--max-reject-rate", "0.5", p)
    assert result.code == 0, result.stderr
    s = result.json()
    assert (s["rows_read"], s["rows_accepted"], s["rows_rejected"]) == (3, 2, 1)
    assert rejects(store, s["run_id"]) == [("3", "a" * 100 + "\u2026", "value_too_long")]
    assert addresses(store) == {"ok@example.com", "also.ok@example.com"}


def test_a_long_detail_is_cut(tmp_path):
    p = tmp_path / "events.csv"
    p.write_text("address,event,occurred_at,detail\n"
                 f"a@example.com,hard_bounce,2024-01-01T00:00:00Z,{'x' * 10_000}\n")
    store = tmp_path / "s.duckdb"
    result = ingest(store, "--platform", "events", p)
    assert result.code == 0, result.stderr
    (row,) = exported(store)
    assert row["detail"] == "x" * 4096 + "\u2026"


# --- 5. Resource limits -----------------------------------------------------------------------


def test_a_gz_expanding_past_the_size_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPRESSION_MAX_MEMBER_BYTES", "10000")
    p = tmp_path / "bounces.csv.gz"
    p.write_bytes(gzip.compress(b"email\n" + b"".join(b"user%d@example.com\n" % i for i in range(2000))))
    result = ingest(tmp_path / "s.duckdb", p)
    assert_refused(result, tmp_path / "s.duckdb", "bounces.csv.gz", "SUPPRESSION_MAX_MEMBER_BYTES")


def test_a_gz_expanding_past_the_ratio_is_refused_while_streaming(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "RATIO_FLOOR", 100_000)
    monkeypatch.setenv("SUPPRESSION_MAX_RATIO", "50")
    p = tmp_path / "bounces.csv.gz"
    p.write_bytes(gzip.compress(b"email\n" + b"same@example.com\n" * 200_000))  # ~3.4 MB from a few KB
    result = ingest(tmp_path / "s.duckdb", p)
    assert_refused(result, tmp_path / "s.duckdb", "bounces.csv.gz", "SUPPRESSION_MAX_RATIO")


def test_a_zip_member_over_the_size_limit_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPRESSION_MAX_MEMBER_BYTES", "1000")
    p = tmp_path / "export.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("small.csv", "email\na@example.com\n")
        z.writestr("big.csv", "email\n" + "b@example.com\n" * 400)
    result = ingest(tmp_path / "s.duckdb", p)
    assert_refused(result, tmp_path / "s.duckdb", "export.zip!big.csv", "SUPPRESSION_MAX_MEMBER_BYTES")


def test_a_bad_limit_setting_is_bad_usage(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPRESSION_MAX_RATIO", "lots")
    p = tmp_path / "bounces.csv.gz"
    p.write_bytes(gzip.compress(b"email\na@example.com\n"))
    result = ingest(tmp_path / "s.duckdb", p)
    assert result.code == 2 and "SUPPRESSION_MAX_RATIO" in result.stderr


# --- 6. Crashes that must be refusals ---------------------------------------------------------


def _encrypted_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("bounces.csv", "email\na@example.com\n")
    data = bytearray(path.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and central headers
        at = data.find(signature)
        (flags,) = struct.unpack_from("<H", data, at + flag_at)
        struct.pack_into("<H", data, at + flag_at, flags | 0x1)
    path.write_bytes(bytes(data))


def _corrupt_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bounces.csv", "email\n" + "".join(f"user{i}@example.com\n" for i in range(300)))
    data = bytearray(path.read_bytes())
    start = 30 + len("bounces.csv")  # the compressed bytes follow the local header
    data[start + 40:start + 60] = bytes(range(20))
    path.write_bytes(bytes(data))


def _junk() -> bytes:
    rng = random.Random(3)
    return b"email,reason\n" + bytes(rng.choice(b'",\n\r\x00\xffab@.') for _ in range(4096))


CRASHES = [
    ("junk.csv", _junk(), []),
    ("wide_header.csv", ("a" * 70_000 + ",b\nx@example.com,1\n").encode(), ["header"]),
    ("quoted_header.csv", b'"em\nail",reason\na@example.com,bounce\n', []),
    ("quote_first.csv", b'email,reason\n"a@example.com,bounce\nb@example.com,bounce\n', ["cannot be read"]),
    ("events.ndjson", b'{"email": "a@example.com"}\n{"email": \n', ["line 2", "not valid JSON"]),
    ("truncated.csv.gz", gzip.compress(b"email\n" + b"a@example.com\n" * 1000)[:-20], ["cannot be decompressed"]),
    ("not_gzip.csv.gz", b"email\na@example.com\n", ["cannot be decompressed"]),
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, ["nested more than 32 levels"]),
    ("deep_doc.json", b'{"results": [' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"]}", ["nested"]),
]


@pytest.mark.parametrize(("name", "content", "fragments"), CRASHES, ids=[c[0] for c in CRASHES])
def test_broken_files_are_refused_in_one_line(tmp_path, name, content, fragments):
    p = tmp_path / name
    p.write_bytes(content)
    assert_refused(ingest(tmp_path / "s.duckdb", p), tmp_path / "s.duckdb", name, *fragments)


@pytest.mark.parametrize(("build", "fragment"), [(_encrypted_zip, "encrypted"), (_corrupt_zip, "cannot be decompressed")])
def test_broken_zip_members_are_refused_naming_the_member(tmp_path, build, fragment):
    p = tmp_path / "export.zip"
    build(p)
    assert_refused(ingest(tmp_path / "s.duckdb", p), tmp_path / "s.duckdb", "export.zip!bounces.csv", fragment)


@pytest.mark.parametrize("blank", [25, 70_000])
def test_leading_blank_lines_are_skipped_and_counted(tmp_path, blank):
    p = tmp_path / "bounces.csv"
    p.write_text("\n" * blank + "email\na@example.com\nnot-an-email\n")
    q = tmp_path / "suppressions.csv"
    q.write_text("\r\n" * 3 + "email,reason\r\nb@example.com,bounce\r\nnobody,bounce\r\n")
    store = tmp_path / "s.duckdb"
    result = ingest(store, "--max-reject-rate", "0.5", p, q)
    assert result.code == 0, result.stderr
    s = result.json()
    assert [(f["rows_read"], f["rows_rejected"]) for f in s["files"]] == [(2, 1), (2, 1)]
    assert addresses(store) == {"a@example.com", "b@example.com"}
    assert rejects(store, s["run_id"]) == sorted([(str(blank + 3), "not-an-email", "missing_at"),
                                                  ("6", "nobody", "missing_at")])


# --- 7. Fuzz: whatever the file, exit 0 with every row accounted for, or a one-line refusal ----

ADDRESS = st.sampled_from([
    "a@example.com", "Müller@Example.com", "x@bücher.example", "b@example.org,c@example.org", "d@example.net; e@example.net",
    '"Doe, John" <john@example.com>', "<f@example.com>", "mailto:g@example.com", "not-an-email", "", "  ", "@", "a@b",
    '"', "'h@example.com'", "i@example.com\t", "j@@example.com", "+14155550100",
])
JUNK = st.text(alphabet=st.sampled_from(list('@.,;"\'<> \tabcüé\u00a0\u2028\x00\x1f|{}[]\\')), max_size=12)
LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def hostile_files(draw):
    """(file name, bytes, expected rows or None when the shape decides): random shapes."""
    kind = draw(st.sampled_from(["list", "csv", "ndjson", "json", "bytes"]))
    end = draw(LINE_ENDS)
    lead = end * draw(st.sampled_from([0, 0, 1, 25]))
    expected = None
    if kind == "list":
        # First line an address without a delimiter: a one-column list, one row a non-blank line.
        lines = ["first@example.com"] + draw(st.lists(st.one_of(ADDRESS, JUNK), max_size=12))
        lines = [ln.replace("\r", "").replace("\n", "").replace("\u2028", "") for ln in lines]
        header = draw(st.sampled_from(["", "email" + end]))
        text, name = lead + header + end.join(lines) + draw(st.sampled_from(["", end])), "bounces.txt"
        expected = sum(1 for ln in lines if ln.strip(" \t\u00a0"))  # Polars' blank: Unicode whitespace
    elif kind == "csv":
        rows = draw(st.lists(st.tuples(st.one_of(ADDRESS, JUNK), st.one_of(st.sampled_from(["bounce", "spam", "x"]), JUNK)),
                             max_size=10))
        quote = draw(st.booleans())
        cell = (lambda v: '"' + v.replace('"', '""') + '"') if quote else (lambda v: v)
        text = lead + "email,reason" + end + "".join(cell(a) + "," + cell(b) + end for a, b in rows)
        name = "suppressions.csv"
    elif kind == "ndjson":
        records = draw(st.lists(st.fixed_dictionaries(
            {"emailAddress": st.one_of(ADDRESS, JUNK), "reason": st.sampled_from(["BOUNCE", "COMPLAINT"])},
            optional={"detail": st.one_of(st.none(), st.integers(), JUNK), "meta": st.dictionaries(JUNK, JUNK, max_size=2)}),
            min_size=2, max_size=8))
        text = lead + end.join(json.dumps(r) for r in records) + end
        name = "ses_suppressed_destinations.ndjson"
    elif kind == "json":
        records = draw(st.lists(st.one_of(
            st.fixed_dictionaries({"EmailAddress": st.one_of(ADDRESS, JUNK), "Reason": st.sampled_from(["BOUNCE", "COMPLAINT"]),
                                   "LastUpdateTime": st.sampled_from(["2024-01-01T00:00:00Z", "junk", None])}),
            st.recursive(st.none() | JUNK, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JUNK, inner, max_size=3),
                         max_leaves=6)), max_size=6))
        doc = draw(st.sampled_from([records, {"SuppressedDestinationSummaries": records}, {"meta": {"n": 1}, "data": records}]))
        text, name = lead + json.dumps(doc, ensure_ascii=draw(st.booleans())), "suppressions.json"
    else:
        text, name = "", "export.csv"
    if kind == "bytes":
        data = draw(st.binary(min_size=1, max_size=600))
    else:
        encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
        data = text.encode(encoding, errors="replace")
        if encoding == "utf-8" and draw(st.booleans()):  # stray invalid bytes, never a line end
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.binary(min_size=1, max_size=3).map(lambda b: bytes(x | 0x80 for x in b))) + data[at:]
            expected = None  # a stray byte in a blank line makes it a row
        if encoding == "cp1252" and "\u00a0" in text:
            expected = None  # a lone no-break space byte can be decoded as UTF-8, replaced
    wrapper = draw(st.sampled_from(["", "", "gz", "zip", "truncated_gz"]))
    if wrapper == "gz":
        data, name = gzip.compress(data), name + ".gz"
    elif wrapper == "truncated_gz":
        data, name = gzip.compress(data)[:-draw(st.integers(1, 12))], name + ".gz"
    elif wrapper == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(name, data)
        data, name = buffer.getvalue(), "export.zip"
    return name, data, expected


@pytest.mark.slow
@settings(max_examples=int(os.environ.get("SUPPRESSION_FUZZ_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_files())
def test_fuzz_any_file_loads_accounted_for_or_is_refused_in_one_line(case):
    name, data, expected = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        store = Path(tmp) / "s.duckdb"
        result = ingest(store, "--max-reject-rate", "1", "--default-region", "US", path)
        assert result.code in (0, 3), (result.code, result.stderr)
        event(f"exit {result.code}")  # --hypothesis-show-statistics: how many loaded, how many refused
        if result.code == 3:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
            # "the input holds no rows" is the run's own verdict on a file with no data rows.
            assert name in lines[0] or lines[0] == "error: the input holds no rows", lines[0]
            assert exported(store) == []
            return
        s = result.json()
        assert s["status"] == "succeeded"
        assert s["rows_read"] == s["rows_accepted"] + s["rows_rejected"] > 0
        assert 0 <= s["rows_ignored"] <= s["rows_accepted"]
        assert sum(f["rows_read"] for f in s["files"]) == s["rows_read"]
        if expected is not None:
            assert s["rows_read"] == expected
        assert len(exported(store)) <= s["rows_accepted"] * 8  # a row yields at most a few records
