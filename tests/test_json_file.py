"""The one JSON-lines reader (vtg.json_file.read_json_lines) behind the data's and the metrics' readers,
and the one JSON-safe encoder (NaN and infinities as null)."""

from __future__ import annotations

import json
import math

import pytest

from vtg.data.jsonl import read_jsonl
from vtg.errors import UserError
from vtg.json_file import json_safe, read_json_lines
from vtg.metrics import load_jsonl


def test_records_remember_their_lines_whichever_reader(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"qid": 1}\n\n   \n{"qid": 2}\n')
    records = read_json_lines(path)
    assert list(records) == [{"qid": 1}, {"qid": 2}] and records.line_numbers == [1, 4]
    assert load_jsonl(path).line_numbers == [1, 4]
    assert read_jsonl(path, "annotation") == [(f"{path}:1", {"qid": 1}), (f"{path}:4", {"qid": 2})]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "{path}: {role} not found"),
        ("\n \n", "{path}: {role} is empty"),
        ('{"qid": 1}\n[1, 2]\n', "{path}:2: expected a JSON object, got list"),
        ('{"qid": 1}\n{"qid": \n', "{path}:2: not valid JSON"),
    ],
)
def test_both_readers_refuse_the_same_way(tmp_path, text, message):
    path = tmp_path / "a.jsonl"
    if text is not None:
        path.write_text(text)
    for read, role in ((load_jsonl, "file"), (lambda p: read_jsonl(p, "annotation"), "annotation file")):
        with pytest.raises(UserError) as error:
            read(path)
        assert str(error.value).startswith(message.format(path=path, role=role))


def test_json_safe_turns_every_non_finite_number_into_null():
    value = {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], "d": (2, math.nan), "e": "NaN", "f": 3}
    safe = json_safe(value)
    assert safe == {"a": None, "b": [1.0, None, {"c": None}], "d": [2, None], "e": "NaN", "f": 3}
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe
