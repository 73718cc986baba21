"""Chat-template injection checks (GGUF metadata and Hugging Face tokenizer configs).

A chat template is Jinja code that the loader renders on every request. Rendered
outside a sandbox, ``{{ cycler.__init__.__globals__.os.popen(...) }}`` runs commands
(CVE-2024-34359). The template is parsed (never rendered) and its syntax tree is
walked for attribute walks into Python internals; legitimate templates only read
message fields, loop, and concatenate strings. A template that does not parse is
checked by patterns only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.nodes import EvalContext

from modelcert.analyzers.artifact.report import Finding

# attribute names that only an escape attempt reaches
_DANGEROUS_ATTRS = {
    "os", "sys", "popen", "system", "subprocess", "eval", "exec", "import_module", "modules", "builtins",
    "globals", "func_globals", "f_globals", "f_locals", "f_back", "f_builtins", "gi_frame", "gi_code",
    "cr_frame", "cr_code", "ag_frame", "tb_frame", "co_code", "im_func", "func_code", "mro",
    "load_module", "check_output", "spawn", "getattr",
}
# globals whose attributes lead to Python internals; templates only ever call them
_GADGET_GLOBALS = {
    "cycler", "joiner", "namespace", "lipsum", "range", "dict", "self", "config", "request", "url_for",
    "get_flashed_messages", "raise_exception", "strftime_now",
}
_ATTR_FILTERS = {"attr"}
_ATTRIBUTE_KWARG_FILTERS = {"map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min", "max"}
_DUNDER = re.compile(r"__\w+__")
_ESCAPES = re.compile(r"\\x5f|\\u005f|\\U0000005f|\\137", re.IGNORECASE)
_CODE_WORDS = re.compile(r"__\w+__|\bpopen\b|\bsubprocess\b|\bos\.system\b|\beval\s*\(|\bexec\s*\(|\bimport_module\b")


class _GenerationTag(jinja2.ext.Extension):
    """Parse transformers' ``{% generation %}...{% endgeneration %}`` block as its body."""

    tags = {"generation"}  # jinja2's extension API

    def parse(self, parser: Any) -> Any:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


_ENV = jinja2.Environment(extensions=[jinja2.ext.loopcontrols, jinja2.ext.do, _GenerationTag])


def _dangerous_name(name: str) -> bool:
    return name.startswith("_") or name in _DANGEROUS_ATTRS


def _fold(node: nodes.Node) -> Any:
    """The constant value of an expression such as ``'__cla' ~ 'ss__'``, or None."""
    try:
        return node.as_const(EvalContext(_ENV))
    except Exception:  # jinja raises Impossible and others for non-constants
        return None


def check_template(source: str, display: str, where: str) -> list[Finding]:
    """Findings for one chat template; ``where`` names it (e.g. the metadata key)."""
    hits: dict[str, list[str]] = defaultdict(list)
    for match in _ESCAPES.finditer(source):
        hits["template/suspicious"].append(f"escaped underscore {match.group(0)!r}")
    try:
        tree = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        hits["template/unparsed"].append(f"line {exc.lineno}: {exc.message}")
        for match in _CODE_WORDS.finditer(source):
            hits["template/injection"].append(f"code-like text {match.group(0)!r}")
    else:
        _walk(tree, hits)
    severity = {"template/injection": "critical", "template/suspicious": "high", "template/unparsed": "low"}
    findings = []
    for rule, messages in hits.items():
        unique = list(dict.fromkeys(messages))
        more = f" (and {len(unique) - 5} more)" if len(unique) > 5 else ""
        if rule == "template/injection" and "template/unparsed" in hits:
            sev = "high"  # a pattern match on an unparsed template is weaker evidence
        else:
            sev = severity[rule]
        findings.append(Finding(rule, sev, display, f"{where}: " + "; ".join(unique[:5]) + more,
                                {"where": where, "count": len(unique)}))
    return findings


def _walk(tree: nodes.Node, hits: dict[str, list[str]]) -> None:
    inject, suspicious = hits["template/injection"], hits["template/suspicious"]
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Getattr):
            if _dangerous_name(node.attr):
                inject.append(f"attribute .{node.attr} (line {node.lineno})")
            if isinstance(node.node, nodes.Name) and node.node.name in _GADGET_GLOBALS:
                inject.append(f"attribute walk from {node.node.name}.{node.attr} (line {node.lineno})")
        elif isinstance(node, nodes.Getitem):
            key = _fold(node.arg)
            if isinstance(key, str) and _dangerous_name(key):
                inject.append(f"item [{key!r}] (line {node.lineno})")
            if isinstance(node.node, nodes.Name) and node.node.name in _GADGET_GLOBALS:
                inject.append(f"item access on {node.node.name} (line {node.lineno})")
        elif isinstance(node, nodes.Filter) and node.name in _ATTR_FILTERS | _ATTRIBUTE_KWARG_FILTERS:
            args = list(node.args) + [kw.value for kw in node.kwargs if kw.key == "attribute"]
            if node.name not in _ATTR_FILTERS:
                args = [kw.value for kw in node.kwargs if kw.key == "attribute"]
            for arg in args:
                value = _fold(arg)
                if isinstance(value, str):
                    if any(_dangerous_name(part) for part in value.split(".")):
                        inject.append(f"|{node.name} reaches {value!r} (line {node.lineno})")
                elif node.name in _ATTR_FILTERS:
                    suspicious.append(f"|attr with a computed name (line {node.lineno})")
        elif isinstance(node, nodes.Const) and isinstance(node.value, str) and _DUNDER.search(node.value):
            suspicious.append(f"string constant {_DUNDER.search(node.value).group(0)!r} (line {node.lineno})")
        elif isinstance(node, nodes.Import | nodes.FromImport | nodes.Include | nodes.Extends):
            suspicious.append(f"{type(node).__name__.lower()} of another template (line {node.lineno})")
    for key in [k for k, v in hits.items() if not v]:
        del hits[key]
