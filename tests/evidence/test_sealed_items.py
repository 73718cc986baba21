"""Sealed suite folders as check items: ids, mapping, roots, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelcert.checks.external import check_items, is_sealed_suite, load_items, sealed_roots
from modelcert.errors import ConfigError, EvidenceError
from modelcert.evidence import suites
from modelcert.evidence.chain import canonical_json, sha256_hex

ITEMS = [
    {"id": "a", "question": "first secret question", "lang": "en", "category": "c1"},
    {"id": 7, "question": "zweite geheime Frage", "lang": "de", "category": "c2"},
]


def _sealed(tmp_path: Path) -> tuple[Path, suites.SealedSuite]:
    sealed = suites.seal(ITEMS, name="mine")
    suites.write_sealed(sealed, tmp_path / "sealed")
    return tmp_path / "sealed", sealed


def test_a_sealed_folder_gives_the_suite_ids_and_root(tmp_path: Path) -> None:
    folder, sealed = _sealed(tmp_path)
    assert is_sealed_suite(folder) and not is_sealed_suite(tmp_path)
    items, source = check_items("harmful", items_file=str(folder), columns="prompt=question")
    assert [i.id for i in items] == ["a", "7"] and items[1].prompt == "zweite geheime Frage"
    assert items[0].meta == {"source": "sealed", "suite": "mine", "suite_root": sealed.root, "row": 1}
    assert source["suite_digest"] == source["root"] == sealed.root and source["size"] == 2
    assert suites.loaded(sealed.root) is not None  # registered for the evidence ingest
    assert "first secret question" not in json.dumps(source)
    only_de, _ = check_items("harmful", items_file=str(folder), columns="prompt=question", langs="de")
    assert [i.id for i in only_de] == ["7"]


def test_sealed_roots_are_found_where_checks_put_their_source() -> None:
    src = {"kind": "sealed", "suite": "mine", "root": "ab" * 32}
    assert sealed_roots({"check": "x", "items": src}) == {"mine": "ab" * 32}
    assert sealed_roots({"items": {"base": src, "transforms": ["t"]}}) == {"mine": "ab" * 32}  # jailbreak
    assert sealed_roots({"items": {"kind": "bundled", "suite_digest": "cd" * 32}}) == {}


@pytest.mark.parametrize(("columns", "error", "message"), [
    (None, ConfigError, "no column 'prompt' for the prompt"),
    ("prompt=question,id=lang", ConfigError, "item ids are its 'id' fields"),
])
def test_bad_mappings_are_one_line_errors(tmp_path: Path, columns, error, message) -> None:
    folder, _ = _sealed(tmp_path)
    with pytest.raises(error, match=message) as err:
        check_items("harmful", items_file=str(folder), columns=columns)
    assert "\n" not in str(err.value)


def test_checks_reading_files_only_refuse_a_sealed_folder(tmp_path: Path) -> None:
    folder, _ = _sealed(tmp_path)
    with pytest.raises(ConfigError, match="is a sealed suite folder; this check reads only"):
        load_items(folder, family="injection")


def test_a_corrupt_sealed_folder_is_refused(tmp_path: Path) -> None:
    folder, _ = _sealed(tmp_path)
    secret = json.loads((folder / suites.SECRET_FILE).read_text())
    secret["entries"][0]["item"]["question"] = "changed"
    (folder / suites.SECRET_FILE).write_text(json.dumps(secret))
    with pytest.raises(EvidenceError, match="do not give its root"):
        check_items("harmful", items_file=str(folder), columns="prompt=question")


def test_redact_record_takes_pointers_and_binds_values_with_the_salt() -> None:
    sealed = suites.seal(ITEMS, name="mine")
    c, salt = sealed.commitments[0], sealed.salts[0]
    data = {"sample_id": "a", "epoch": 1, "messages": [{"role": "user", "content": "q"}, {"role": "assistant",
            "content": "answer"}], "metadata": {"a/b~c": "q"}}
    ptrs = ["/messages/0/content", suites.pointer("metadata", "a/b~c"), "/missing", "/messages/9/content"]
    assert ptrs[1] == "/metadata/a~1b~0c"
    red = suites.redact_record(data, {"a": c}, fields=ptrs, salts={"a": salt})
    mark = suites.redaction(c, "q", salt)
    assert red["messages"][0]["content"] == mark == red["metadata"]["a/b~c"]
    assert mark["value"] == sha256_hex(salt + canonical_json("q"))  # the replaced text, bound with the salt
    assert red["messages"][1]["content"] == "answer" and data["messages"][0]["content"] == "q"
    assert suites.redact_record(red, {"a": c}, fields=ptrs, salts={"a": salt}) == red
    assert suites.redact_record(data, {"a": c}, fields=["/messages/0/content"])["messages"][0]["content"] == {
        "redacted": "secret-suite", "commitment": c}  # without the salt: the commitment alone


def test_a_jailbreak_run_on_a_sealed_suite_does_not_digest_the_plaintext(tmp_path: Path) -> None:
    """The attacked prompts enter the jailbreak suite digest salted: two seals of the same items
    give different digests, so the digest cannot confirm a guessed suite."""
    from modelcert.checks.jailbreak import jailbreak

    digests = []
    for name in ("one", "two"):
        sealed = suites.seal(ITEMS, name="mine")
        suites.write_sealed(sealed, tmp_path / name)
        task = jailbreak(items_file=str(tmp_path / name), columns="prompt=question", transforms="prefix_injection")
        assert "first secret question" not in canonical_json(task.metadata).decode()
        digests.append(task.metadata["suite_digest"])
    assert digests[0] != digests[1]
