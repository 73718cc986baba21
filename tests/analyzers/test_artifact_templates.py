"""GGUF parsing and chat-template injection checks (GGUF metadata and HF tokenizer configs)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from modelcert.analyzers.artifact import scan_path
from modelcert.analyzers.artifact.template_check import check_template


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(metadata: dict[str, object], tensors: list[tuple[str, list[int], int, int]], data: bytes,
         *, version: int = 3) -> bytes:
    """A minimal GGUF v3 file written by hand (strings, u32 and string arrays only)."""
    kv = b""
    for key, value in metadata.items():
        kv += _str(key)
        if isinstance(value, str):
            kv += struct.pack("<I", 8) + _str(value)
        elif isinstance(value, int):
            kv += struct.pack("<I", 4) + struct.pack("<I", value)
        else:
            kv += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_str(v) for v in value)
    infos = b""
    for name, dims, ggml_type, offset in tensors:
        infos += _str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", ggml_type, offset)
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata)) + kv + infos
    pad = -len(head) % 32
    return head + b"\0" * pad + data


LEGIT_TEMPLATES = {
    "chatml_namespace": (
        "{%- set ns = namespace(system=false) -%}{%- for message in messages %}"
        "{%- if message['role'] == 'system' %}{%- set ns.system = true %}{%- endif %}"
        "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>\\n' }}"
        "{%- if loop.last and message.tool_calls is defined %}{{ message.tool_calls | tojson }}{% endif %}"
        "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    ),
    "llama_style": (
        "{{ bos_token }}{% if messages|length == 0 %}{{ raise_exception('no messages') }}{% endif %}"
        "{{ 'Today: ' + strftime_now('%d %b %Y') }}{% for m in messages %}"
        "{% if m.role not in ['user', 'assistant', 'system'] %}{{ raise_exception('bad role') }}{% endif %}"
        "{{ '<|' + m.role + '|>\\n' + m.content + '<|end|>\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
    ),
    "generation_tag": (
        "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}"
        "{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}"
    ),
}

MALICIOUS_TEMPLATES = {
    "cve_2024_34359": "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "joiner_walk": "{% set x = joiner.__init__.__globals__ %}{{ x['os'].system('touch PWNED') }}",
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "attr_concat": "{{ (lipsum|attr('__glo' ~ 'bals__'))['os'].popen('id') }}",
    "escaped_item": "{{ namespace['\\x5f\\x5finit\\x5f\\x5f'] }}",
    "map_attribute": "{{ messages|map(attribute='__class__')|list }}",
    "self_context": "{{ self._TemplateReference__context }}",
}


@pytest.mark.parametrize("name", LEGIT_TEMPLATES)
def test_legitimate_templates_are_clean(name: str) -> None:
    assert check_template(LEGIT_TEMPLATES[name], "t", "chat_template") == []


@pytest.mark.parametrize("name", MALICIOUS_TEMPLATES)
def test_injection_templates_are_critical(name: str) -> None:
    findings = check_template(MALICIOUS_TEMPLATES[name], "t", "chat_template")
    assert any(f.rule == "template/injection" and f.severity == "critical" for f in findings), findings


def test_computed_attr_name_is_suspicious() -> None:
    findings = check_template("{% set n = messages[0].content %}{{ messages|attr(n) }}", "t", "chat_template")
    assert [(f.rule, f.severity) for f in findings] == [("template/suspicious", "high")]


def test_unparseable_template_falls_back_to_patterns() -> None:
    findings = check_template("{{ x.__globals__ {% endfor", "t", "chat_template")
    assert {f.rule for f in findings} == {"template/unparsed", "template/injection"}


def test_gguf_with_code_executing_template_is_blocked(tmp_path: Path) -> None:
    sentinel = tmp_path / "PWNED"
    template = f"{{{{ cycler.__init__.__globals__.os.popen('touch {sentinel}').read() }}}}"
    data = gguf({"general.architecture": "llama", "general.alignment": 32,
                 "tokenizer.ggml.tokens": ["<s>", "a", "b"], "tokenizer.chat_template": template},
                [("w", [4, 2], 0, 0)], b"\0" * 32)
    (tmp_path / "model.gguf").write_bytes(data)

    report = scan_path(tmp_path)

    assert report.files["model.gguf"] == "gguf"
    hit = [f for f in report.findings if f.rule == "template/injection"]
    assert hit and hit[0].severity == "critical" and hit[0].detail["where"] == "tokenizer.chat_template"
    assert report.blocking
    assert not sentinel.exists()


def test_clean_gguf_passes(tmp_path: Path) -> None:
    data = gguf({"general.architecture": "llama", "tokenizer.chat_template": LEGIT_TEMPLATES["chatml_namespace"],
                 "tokenizer.ggml.tokens": ["<s>", "</s>"]},
                [("tok_embd", [8, 4], 0, 0), ("norm", [32], 8, 128)], b"\0" * (128 + 64))
    (tmp_path / "model.gguf").write_bytes(data)
    report = scan_path(tmp_path)
    assert report.findings == [], report.findings


def test_gguf_named_templates_are_checked(tmp_path: Path) -> None:
    data = gguf({"tokenizer.chat_template.tool_use": MALICIOUS_TEMPLATES["subclasses"]}, [], b"")
    (tmp_path / "m.gguf").write_bytes(data)
    assert scan_path(tmp_path).blocking


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        (lambda b: b[:4] + struct.pack("<I", 9) + b[8:], "gguf/malformed"),  # unknown version
        (lambda b: b[:16] + struct.pack("<Q", 10**15) + b[24:], "gguf/malformed"),  # absurd KV count
        (lambda b: b[:-40], "gguf/tensor-bounds"),  # tensor data cut off
    ],
)
def test_malformed_gguf(tmp_path: Path, mutate: object, rule: str) -> None:
    data = gguf({"general.architecture": "llama"}, [("w", [4, 4], 0, 0)], b"\0" * 64)
    (tmp_path / "m.gguf").write_bytes(mutate(data))  # type: ignore[operator]
    report = scan_path(tmp_path)
    assert rule in {f.rule for f in report.findings}
    assert report.blocking


def test_gguf_string_length_lie_is_caught_before_reading(tmp_path: Path) -> None:
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**62) + b"key"
    (tmp_path / "m.gguf").write_bytes(data)
    findings = scan_path(tmp_path).findings
    assert [f.rule for f in findings] == ["gguf/malformed"]


def test_tokenizer_config_template_and_remote_code(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": [{"name": "default", "template": LEGIT_TEMPLATES["llama_style"]},
                          {"name": "rag", "template": MALICIOUS_TEMPLATES["attr_concat"]}],
    }))
    (tmp_path / "config.json").write_text(json.dumps({
        "auto_map": {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM",
                     "AutoConfig": "other/repo--configuration_x.XConfig"},
    }))
    (tmp_path / "modeling_evil.py").write_text("import os\nos.system('touch PWNED')\n")
    (tmp_path / "chat_template.jinja").write_text(MALICIOUS_TEMPLATES["joiner_walk"])
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({
        "metadata": {}, "weight_map": {"a": "model-00001.safetensors", "b": "../../etc/passwd"}}))

    report = scan_path(tmp_path)

    got = {(f.file, f.rule, f.severity) for f in report.findings}
    assert ("tokenizer_config.json", "template/injection", "critical") in got
    assert ("config.json", "hf/remote-code", "high") in got
    assert ("modeling_evil.py", "hf/python-file", "medium") in got
    assert ("chat_template.jinja", "template/injection", "critical") in got
    assert ("model.safetensors.index.json", "hf/shard-path", "critical") in got
    remote = next(f for f in report.findings if f.rule == "hf/remote-code")
    assert "other/repo--configuration_x.XConfig" in remote.message
    rag = next(f for f in report.findings if f.file == "tokenizer_config.json")
    assert rag.detail["where"] == "chat_template[rag]"
