"""Files as customers send them: archives, encodings, line endings, delimiters, JSON shapes."""
from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path

import polars as pl
import pytest

from pipelines.errors import UserError
from pipelines.readers import iter_inputs, read_table


def read(path, tmp_path):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return [read_table(f) for f in iter_inputs([path], work)]


def rows(table):
    return table.frame.collect()


def test_utf8_bom_and_crlf(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(b"\xef\xbb\xbfEmail,Reason\r\nA@example.com,bounce\r\nb@example.com,spam\r\n")
    (t,) = read(p, tmp_path)
    assert t.columns == ["Email", "Reason"]
    assert rows(t)["Email"].to_list() == ["A@example.com", "b@example.com"]
    assert rows(t)["_line"].to_list() == [2, 3]


def test_utf16_tab_separated_excel_unicode_text(tmp_path):
    p = tmp_path / "excel.txt"
    p.write_bytes("email\tstatus\njürgen@bücher.example\tbounced\n".encode("utf-16"))
    (t,) = read(p, tmp_path)
    assert t.delimiter == "\t"
    assert rows(t)["email"].to_list() == ["jürgen@bücher.example"]


def test_cp1252_fallback(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("email;name\nrene@example.com;Ren\xe9\n".encode("latin-1"))
    (t,) = read(p, tmp_path)
    assert t.delimiter == ";"
    assert rows(t)["name"].to_list() == ["René"]


def test_bare_cr_line_endings(tmp_path):
    p = tmp_path / "mac.csv"
    p.write_bytes(b"email\ra@example.com\rb@example.com\r")
    (t,) = read(p, tmp_path)
    assert rows(t)["email"].to_list() == ["a@example.com", "b@example.com"]
    assert rows(t)["_line"].to_list() == [2, 3]


def test_multiline_quoted_fields_and_blank_lines_keep_true_line_numbers(tmp_path):
    p = tmp_path / "notes.csv"
    p.write_text('email,notes\na@example.com,"first\nsecond\nthird"\n\nb@example.com,plain\n,\n')
    (t,) = read(p, tmp_path)
    got = rows(t)
    assert got["email"].to_list() == ["a@example.com", "b@example.com"]
    assert got["_line"].to_list() == [2, 6]  # the note spans lines 2-4, line 5 is blank, line 7 empty


def test_headerless_list_is_detected(tmp_path):
    p = tmp_path / "list.txt"
    p.write_text("a@example.com\nb@example.com\n")
    (t,) = read(p, tmp_path)
    assert not t.has_header
    assert rows(t)["_col1"].to_list() == ["a@example.com", "b@example.com"]


def test_duplicate_and_case_colliding_headers_are_kept(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("Email,Region,REGION,Email\na@example.com,x,y,z\n")
    (t,) = read(p, tmp_path)
    assert t.columns == ["Email", "Region", "REGION__2", "Email__2"]


def test_gzip_and_zip_with_mac_junk(tmp_path):
    gz = tmp_path / "bounces.csv.gz"
    gz.write_bytes(gzip.compress(b"email\na@example.com\n"))
    zp = tmp_path / "members_export_0a1b2c3d4e.zip"
    with zipfile.ZipFile(zp, "w") as z:
        z.writestr("members_export_0a1b2c3d4e/cleaned_members_export_0a1b2c3d4e.csv", "Email Address\nb@example.com\n")
        z.writestr("__MACOSX/members_export_0a1b2c3d4e/._cleaned_members_export_0a1b2c3d4e.csv", b"\x00\x05junk")
        z.writestr("members_export_0a1b2c3d4e/", "")
    work = tmp_path / "w"
    work.mkdir()
    found = list(iter_inputs([gz, zp], work))
    assert [f.name for f in found] == ["bounces.csv", "cleaned_members_export_0a1b2c3d4e.csv"]
    assert found[1].display.endswith("!members_export_0a1b2c3d4e/cleaned_members_export_0a1b2c3d4e.csv")
    assert rows(read_table(found[0]))["email"].to_list() == ["a@example.com"]


def test_sha256_is_of_the_original_bytes(tmp_path):
    import hashlib

    p = tmp_path / "x.csv"
    data = "email\nr\xe9@example.com\n".encode("latin-1")
    p.write_bytes(data)
    work = tmp_path / "w"
    work.mkdir()
    (f,) = iter_inputs([p], work)
    assert f.sha256 == hashlib.sha256(data).hexdigest()


def test_json_document_with_record_key_is_flattened(tmp_path):
    p = tmp_path / "dump.json"
    p.write_text(json.dumps({"Suppressions": [
        {"EmailAddress": "a@example.com", "SuppressionReason": "HardBounce", "Meta": {"Stream": "outbound"}},
        {"EmailAddress": "b@example.com", "SuppressionReason": "SpamComplaint", "Meta": {"Stream": "broadcast"}},
    ]}))
    (t,) = read(p, tmp_path)
    got = rows(t)
    assert got["EmailAddress"].to_list() == ["a@example.com", "b@example.com"]
    assert got["Meta.Stream"].to_list() == ["outbound", "broadcast"]
    assert got["_line"].to_list() == [1, 2]


def test_ndjson_lines_numbered_by_file_line(tmp_path):
    p = tmp_path / "events.ndjson"
    p.write_text('{"emailAddress": "a@example.com", "reason": "BOUNCE"}\n\n{"emailAddress": "b@example.com", "reason": "COMPLAINT", "n": 3}\n')
    (t,) = read(p, tmp_path)
    got = rows(t)
    assert got["_line"].to_list() == [1, 3]
    assert got["n"].to_list() == [None, "3"]
    assert got.schema["n"] == pl.String


def test_bare_string_array_becomes_email_column(tmp_path):
    p = tmp_path / "group.json"
    p.write_text('["a@example.com", "b@example.com"]')
    (t,) = read(p, tmp_path)
    assert rows(t)["email"].to_list() == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.csv", b"", "the file is empty"),
    ("broken.json", b'{"Suppressions": [', "not valid JSON"),
])
def test_unreadable_files_are_refused_with_their_name(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(UserError, match=f"{name}.*{message}"):
        read(p, tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read(tmp_path / "nope.csv", tmp_path)


def test_cp1252_byte_beyond_the_first_megabyte(tmp_path):
    p = tmp_path / "late.csv"
    p.write_bytes(b"email\n" + b"a@example.com\n" * 90_000 + "ren\xe9@example.com\n".encode("latin-1"))
    (t,) = read(p, tmp_path)
    assert rows(t)["email"].to_list()[-1] == "rené@example.com"


def test_trailing_empty_columns_and_ragged_rows(tmp_path):
    p = tmp_path / "excel.csv"
    p.write_text("email,created,,\na@example.com,1700000000,,\nb@example.com,1700000001\nc@example.com,1700000002,,,extra\n")
    (t,) = read(p, tmp_path)
    assert t.columns == ["email", "created", "_col3", "_col4"]
    got = rows(t)
    assert got["email"].to_list() == ["a@example.com", "b@example.com", "c@example.com"]
    assert got["_line"].to_list() == [2, 3, 4]


def test_lists_of_objects_stay_json_with_their_field_names(tmp_path):
    p = tmp_path / "profiles.json"
    p.write_text(json.dumps({"data": [
        {"email": "a@example.com", "suppression": [{"reason": "HARD_BOUNCE", "timestamp": None}],
         "tags": ["vip", "news"]},
        {"email": "b@example.com", "suppression": [], "tags": []},
    ]}))
    (t,) = read(p, tmp_path)
    got = rows(t)
    assert json.loads(got["suppression"][0]) == [{"reason": "HARD_BOUNCE", "timestamp": None}]
    assert got["suppression"][1] == "[]"
    assert got["tags"].to_list() == ["vip,news", ""]


def test_files_as_they_arrive_through_ingest(cli, tmp_path):
    """Excel's UTF-16 text, a cp1252 bare-CR semicolon file, spreadsheet artifacts and header
    collisions, all in one `suppress ingest` run: every row loaded or quarantined with its code."""
    unicode_text = tmp_path / "excel_unicode_text.txt"
    unicode_text.write_bytes(
        "Email\tReason\r\n'Jane@Example.com\tbounce\r\nx@example.com; y@example.org\tspam\r\n"
        "c@example.com, d@example.org\tunsubscribed\r\n".encode("utf-16")
    )
    old_mac = tmp_path / "old_mac_excel.csv"
    old_mac.write_bytes("email;status\rren\xe9@example.com;bounced\r'=formula@example.com;bounced\r".encode("cp1252"))
    opt_outs = tmp_path / "opt_outs.csv"
    opt_outs.write_text("phone,sender,keyword,received_at\n1.41555E+10,+14155550100,STOP,2024-05-01T12:00:00Z\n"
                        "'+447700900123,+14155550100,STOP,2024-05-01T12:00:00Z\n(415) 555-0142,+14155550100,stop,\n")
    events = tmp_path / "events.csv"
    events.write_text(
        "\ufeffaddress,event,occurred_at,detail,Detail,,\n"
        'a@example.com,hard_bounce,2024-01-01T00:00:00Z,"line one\nline two",other,,\n'
        "\n"
        "b@example.com,spam_complaint,2024-01-02,,,,\n"
        "not-an-email,hard_bounce,,,,,\n"
    )
    result = cli("ingest", "--tenant", "t", "--json", "--default-region", "US", "--max-reject-rate", "0.5",
                 unicode_text, old_mac, opt_outs, events)
    assert result.code == 0, result.stderr
    s = result.json()
    assert [(f["platform"], f["rows_read"], f["rows_rejected"]) for f in s["files"]] == [
        ("generic", 3, 0), ("generic", 2, 0), ("twilio", 3, 1), ("events", 3, 1),
    ]
    rejected = list(csv.DictReader(io.StringIO(cli("rejects", s["run_id"], "--format", "csv").stdout)))
    assert sorted((Path(r["file"]).name, r["line"], r["value"], r["error"]) for r in rejected) == [
        # The quoted note took lines 2-3, line 4 is blank. No `@`: the event file reads it as a phone.
        ("events.csv", "6", "not-an-email", "invalid_phone"),
        ("opt_outs.csv", "2", "1.41555E+10", "excel_mangled_phone"),
    ]
    exported = cli("export", "--tenant", "t", "--format", "jsonl").stdout.splitlines()
    rows = {(r["channel"], r["address"]): r for r in map(json.loads, exported)}
    got = {key: r["reason"] for key, r in rows.items()}
    assert got == {
        ("email", "jane@example.com"): "hard_bounce",  # the formula guard stripped
        ("email", "x@example.com"): "spam_complaint",  # two addresses in one cell
        ("email", "y@example.org"): "spam_complaint",
        ("email", "c@example.com"): "unsubscribe",
        ("email", "d@example.org"): "unsubscribe",
        ("email", "rené@example.com"): "hard_bounce",
        ("email", "=formula@example.com"): "hard_bounce",
        ("sms", "+447700900123"): "unsubscribe",
        ("sms", "+14155550142"): "unsubscribe",
        ("email", "a@example.com"): "hard_bounce",
        ("email", "b@example.com"): "spam_complaint",
    }
    assert rows[("email", "a@example.com")]["detail"] == "line one\nline two"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("broken.json", b'{"Suppressions": [', "not valid JSON (line 1"),
    ("archive.zip", b"PK\x03\x04 not really a zip", "not a readable zip archive"),
    ("bad_quotes.csv", b'email,reason\n"Jane" <jane@example.com>,bounce\n', "cannot be read as comma-separated text"),
    ("empty.csv", b"\n\n", "the file is empty"),
])
def test_unreadable_file_is_refused_in_one_line_naming_it(cli, tmp_path, name, content, message):
    good = tmp_path / "good.csv"
    good.write_text("email\na@example.com\n")
    bad = tmp_path / name
    bad.write_bytes(content)
    result = cli("ingest", "--tenant", "t", good, bad)
    assert result.code == 3, result.stderr
    assert name in result.stderr and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert cli("export", "--tenant", "t").stdout.strip().splitlines()[1:] == []  # nothing loaded


# --- Encodings: per-row replacement, cp1252 only for files that are not UTF-8 as a whole ---------


def test_a_stray_byte_is_replaced_in_its_row_and_the_file_stays_utf8(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes("email\nmüller@example.com\n".encode() + b"bad\xff@example.com\n")
    (t,) = read(p, tmp_path)
    assert (t.source.encoding, t.source.invalid_sequences) == ("utf-8", 1)
    assert rows(t)["email"].to_list() == ["müller@example.com", "bad\ufffd@example.com"]


def test_a_file_mostly_invalid_as_utf8_is_cp1252(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("email\nrené@example.com\nzoë@example.com\n".encode("cp1252") + "jürgen@example.com\n".encode())
    (t,) = read(p, tmp_path)
    assert t.source.encoding == "cp1252"  # two invalid sequences against one valid character
    assert rows(t)["email"].to_list()[:2] == ["rené@example.com", "zoë@example.com"]


def test_a_utf8_bom_keeps_a_damaged_file_utf8(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbfemail\nren\xe9@example.com\n")
    (t,) = read(p, tmp_path)
    assert (t.source.encoding, t.source.invalid_sequences) == ("utf-8", 1)
    assert rows(t)["email"].to_list() == ["ren\ufffd@example.com"]


def test_a_late_stray_byte_after_a_megabyte_of_utf8(tmp_path):
    p = tmp_path / "late.csv"
    p.write_bytes(b"email\n" + "müller@example.com\n".encode() * 60_000 + b"x\xe9@example.com\n")
    (t,) = read(p, tmp_path)
    assert (t.source.encoding, t.source.invalid_sequences) == ("utf-8", 1)
    got = rows(t)["email"]
    assert (got[0], got[-1], got.len()) == ("müller@example.com", "x\ufffd@example.com", 60_001)


def test_utf16_encoding_is_reported(tmp_path):
    p = tmp_path / "u.txt"
    p.write_bytes("email\nä@example.com\n".encode("utf-16"))
    (t,) = read(p, tmp_path)
    assert t.source.encoding == "utf-16"


# --- Field cap, one-column lists, leading blank lines ---------------------------------------------


def test_fields_over_the_cap_are_cut_at_read_time(tmp_path):
    p = tmp_path / "wide.csv"
    p.write_text("email,note\na@example.com," + "n" * 70_000 + "\n")
    (t,) = read(p, tmp_path)
    assert rows(t)["note"].to_list() == ["n" * 65_536 + "\u2026"]


def test_a_one_column_list_keeps_whole_lines(tmp_path):
    p = tmp_path / "list.txt"
    p.write_text('\n\na@example.com\n"Doe, John" <john@example.com>\nb@example.com,c@example.com\n')
    (t,) = read(p, tmp_path)
    got = rows(t)
    assert got["_col1"].to_list() == ["a@example.com", '"Doe, John" <john@example.com>', "b@example.com,c@example.com"]
    assert got["_line"].to_list() == [3, 4, 5]


def test_leading_blank_lines_before_a_header(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("\n \n\t\nemail,reason\na@example.com,bounce\n")
    (t,) = read(p, tmp_path)
    assert t.columns == ["email", "reason"]
    assert rows(t)["_line"].to_list() == [5]


# --- JSON in batches --------------------------------------------------------------------------------


def test_a_json_array_is_read_in_batches_with_every_column(tmp_path, monkeypatch):
    from pipelines.readers import json_records

    monkeypatch.setattr(json_records, "JSON_BATCH_ROWS", 2)
    p = tmp_path / "api.json"
    records = [{"email": f"u{i}@example.com", "meta": {"n": i}} for i in range(1, 6)]
    records[3]["reason"] = "late field"
    p.write_text(json.dumps(records))
    (t,) = read(p, tmp_path)
    assert t.columns == ["email", "meta.n", "reason"]
    assert t.sample.columns == ["email", "meta.n", "reason", "_line"]
    got = rows(t)
    assert got["_line"].to_list() == [1, 2, 3, 4, 5]
    assert got["meta.n"].to_list() == ["1", "2", "3", "4", "5"]
    assert got["reason"].to_list() == [None, None, None, "late field", None]


def test_ndjson_in_batches_keeps_file_lines(tmp_path, monkeypatch):
    from pipelines.readers import json_records

    monkeypatch.setattr(json_records, "JSON_BATCH_ROWS", 2)
    p = tmp_path / "events.ndjson"
    p.write_text('\n{"e": "a@example.com"}\n\n{"e": "b@example.com"}\n{"e": "c@example.com", "x": {"y": 1}}\n\n')
    (t,) = read(p, tmp_path)
    got = rows(t)
    assert (t.fmt, t.columns) == ("ndjson", ["e", "x.y"])
    assert got["_line"].to_list() == [2, 4, 5]
    assert got["x.y"].to_list() == [None, None, "1"]


def test_a_document_s_records_are_found_after_other_lists(tmp_path):
    p = tmp_path / "members.json"
    p.write_text(json.dumps({"_links": [{"rel": "self"}], "total_items": 2,
                             "members": [{"email_address": "a@example.com"}, {"email_address": "b@example.com"}]}))
    (t,) = read(p, tmp_path)
    assert rows(t)["email_address"].to_list() == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize(("text", "deep"), [
    ('{"a": "x\\\\\\\\", "b": ' + "[" * 33 + "]" * 33 + "}", True),  # a backslash pair, then a real quote
    ('{"a": "\\"' + "[" * 40 + '"}', False),  # brackets inside a string after an escaped quote
    ("[" * 32 + "]" * 32, False),
])
def test_json_depth_is_measured_across_chunk_boundaries(tmp_path, monkeypatch, text, deep):
    from pipelines.readers import InputFile, json_shape

    monkeypatch.setattr(json_shape, "_DEPTH_CHUNK", 3)
    p = tmp_path / "d.json"
    p.write_text(text)
    source = InputFile("d.json", "d.json", "", p)
    if deep:
        with pytest.raises(UserError, match="nested more than 32 levels"):
            json_shape.check_document(source)
    else:
        json_shape.check_document(source)


@pytest.mark.parametrize(("text", "refused"), [('["ab", "' + "x" * 10 + '"]', False), ('["ab", "' + "x" * 11 + '"]', True),
                                              ('["' + "x" * 20, True)])
def test_an_overlong_json_string_is_refused_before_parsing(tmp_path, monkeypatch, text, refused):
    from pipelines.readers import InputFile, json_shape

    monkeypatch.setattr(json_shape, "_DEPTH_CHUNK", 3)
    monkeypatch.setattr(json_shape, "JSON_MAX_STRING", 10)
    p = tmp_path / "s.json"
    p.write_text(text)
    source = InputFile("s.json", "s.json", "", p)
    if refused:
        with pytest.raises(UserError, match="a JSON string longer than 10 bytes"):
            json_shape.check_document(source)
    else:
        json_shape.check_document(source)


# --- The one input resolver (CLI, DAGs, sync) ------------------------------------------------------


@pytest.fixture
def export_dir(tmp_path) -> Path:
    d = tmp_path / "data exports"  # a space, to exercise URI quoting
    d.mkdir()
    for name in ("b.csv", "a.csv", "c.txt", ".DS_Store"):
        (d / name).write_text("email\nx@example.com\n")
    for folder in ("sub", ".git", "__MACOSX"):
        (d / folder).mkdir()
        (d / folder / "d.csv").write_text("email\ny@example.com\n")
    return d


def test_resolve_plain_files_in_order_each_once(export_dir):
    from pipelines.readers import resolve_paths

    a, b = export_dir / "a.csv", export_dir / "b.csv"
    assert resolve_paths([str(b), str(a), str(b)]) == [b, a]
    assert resolve_paths(str(a)) == [a]
    assert resolve_paths([str(export_dir / ".DS_Store")]) == [export_dir / ".DS_Store"]  # named: taken


def test_resolve_a_folder_recursively_skipping_hidden_and_macos_junk(export_dir):
    from pipelines.readers import resolve_paths

    expected = [export_dir / n for n in ("a.csv", "b.csv", "c.txt")] + [export_dir / "sub" / "d.csv"]
    assert resolve_paths([str(export_dir)]) == expected
    assert resolve_paths([export_dir.as_uri()]) == expected
    assert resolve_paths(["file://localhost" + str(export_dir / "c.txt")]) == [export_dir / "c.txt"]


def test_patterns_only_where_asked_for(export_dir):
    from pipelines.readers import resolve_paths

    uri = export_dir.as_uri() + "/*.csv"
    assert "%20" in uri
    assert resolve_paths([uri], globs=True) == [export_dir / "a.csv", export_dir / "b.csv"]
    assert resolve_paths([export_dir.as_uri() + "/**/*.csv"], globs=True) == [
        export_dir / "a.csv", export_dir / "b.csv", export_dir / "sub" / "d.csv"]
    with pytest.raises(UserError, match="no such file or directory"):  # the CLI: paths are literal
        resolve_paths([str(export_dir / "*.csv")])
    literal = export_dir / "bounces[12].csv"
    literal.write_text("email\nz@example.com\n")
    assert resolve_paths([str(literal)], globs=True) == [literal]  # a file by that name is that file


def test_resolve_refuses_nothing_and_foreign_schemes(tmp_path):
    from pipelines.errors import UsageError
    from pipelines.readers import resolve_paths

    with pytest.raises(UsageError):
        resolve_paths([])
    with pytest.raises(UsageError):
        resolve_paths(["  "])
    with pytest.raises(UsageError, match="matches no files"):
        resolve_paths([str(tmp_path / "*.csv")], globs=True)
    with pytest.raises(UsageError, match="no such file"):
        resolve_paths([str(tmp_path / "missing.csv")])
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    with pytest.raises(UsageError, match="holds no files"):
        resolve_paths([str(tmp_path / "empty")])
    with pytest.raises(UsageError, match="unsupported URI scheme"):
        resolve_paths(["nosuchscheme://bucket/exports/*.csv"], globs=True)
    with pytest.raises(UsageError, match="local path"):
        resolve_paths(["file://otherhost/data/x.csv"])
