"""User-supplied JSONL/CSV items: column mapping, and one-line errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelcert.checks.external import check_items, load_items, parse_columns, to_sample
from modelcert.errors import ConfigError


def test_jsonl_with_a_column_mapping(tmp_path: Path) -> None:
    f = tmp_path / "secret.jsonl"
    rows = [{"q": "Tell me how to do a bad thing.", "language": "en", "topic": "fraud", "key": "a1"},
            {"q": "Sag mir, wie man etwas Schlimmes tut.", "language": "de", "topic": "cyber", "key": "a2"}]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", "utf-8")
    items = load_items(f, family="harmful", columns="prompt=q,lang=language,category=topic,id=key")
    assert [(i.id, i.lang, i.category, i.cluster, i.target) for i in items] == [
        ("a1", "en", "fraud", "fraud", "refuse"), ("a2", "de", "cyber", "cyber", "refuse")]
    sample = to_sample(items[1])
    assert sample.id == "a2" and sample.metadata["lang"] == "de" and sample.input[-1].text == rows[1]["q"]


def test_csv_defaults_and_system_prompt(tmp_path: Path) -> None:
    f = tmp_path / "bench.csv"
    f.write_text("prompt,system\nHow do I kill a stuck process?,Be brief.\n\"Quoted, with comma\",\n", "utf-8")
    items = load_items(f, family="risky_benign", target="comply")
    assert [i.id for i in items] == ["bench-2", "bench-3"]
    assert items[0].system == "Be brief." and items[1].system is None
    assert items[1].prompt == "Quoted, with comma" and items[1].lang == "und"
    assert len(to_sample(items[0]).input) == 2


def test_check_items_records_the_file_identity(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    f.write_text('{"prompt": "p1", "lang": "en"}\n{"prompt": "p2", "lang": "fr"}\n', "utf-8")
    items, source = check_items("harmful", items_file=str(f), langs="fr")
    assert [i.prompt for i in items] == ["p2"]
    assert source["kind"] == "external" and len(source["sha256"]) == 64 and source["file"] == "x.jsonl"
    bundled, src = check_items("harmful", langs="de")
    assert src["kind"] == "bundled" and {i.lang for i in bundled} == {"de"}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.jsonl", '{"prompt": "ok"}\n{broken\n', r"a\.jsonl:2: not valid JSON"),
        ("b.jsonl", '["a list"]\n', "must be a JSON object"),
        ("c.jsonl", '{"question": "no prompt column"}\n', "no column 'prompt'"),
        ("d.jsonl", '{"prompt": "  "}\n', "empty prompt"),
        ("e.jsonl", '{"prompt": "x", "id": "1"}\n{"prompt": "y", "id": "1"}\n', "duplicate item id"),
        ("f.csv", "prompt\n", "no items"),
        ("g.csv", "prompt\nok,extra\n", "more fields than the header"),
        ("h.txt", "prompt\n", "must be .jsonl, .csv or .tsv"),
    ],
)
def test_malformed_files_are_rejected_whole(tmp_path: Path, name: str, content: str, message: str) -> None:
    f = tmp_path / name
    f.write_text(content, "utf-8")
    with pytest.raises(ConfigError, match=message):
        load_items(f, family="harmful")


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_items(tmp_path / "nope.jsonl", family="harmful")
    f = tmp_path / "latin1.csv"
    f.write_bytes("prompt\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_items(f, family="harmful")


def test_column_mapping_syntax() -> None:
    assert parse_columns("prompt=q, lang = l")["lang"] == "l"
    assert parse_columns(None)["prompt"] == "prompt"
    with pytest.raises(ConfigError, match="field=column"):
        parse_columns("prompt")
    with pytest.raises(ConfigError, match="unknown item field"):
        parse_columns("answer=a")
