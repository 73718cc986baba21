"""Load policies, the catalogue, claims and attestations from YAML with located errors.

PyYAML's node tree keeps the line of every key and value, so a pydantic validation
error (which knows the *path* of the bad field) is mapped back to the *line* it came
from: every problem is reported as one line, ``file:line: field: what is wrong``.
Duplicate keys, which plain YAML loading silently collapses, are errors too.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from modelcert.errors import ConfigError
from modelcert.evidence.chain import digest, sha256_hex
from modelcert.policy.schema import AttestationFile, Catalogue, ClaimsFile, Policy

M = TypeVar("M", bound=BaseModel)

_Path = tuple[str | int, ...]


def _policies_dir() -> Path:
    return Path(str(resources.files("modelcert.policy") / "policies"))


def bundled_policies() -> list[str]:
    """Names of the policies shipped with modelcert."""
    return sorted(p.stem for p in _policies_dir().glob("*.yaml"))


def _line_map(node: yaml.Node, source: str) -> dict[_Path, int]:
    """Map every key path to its 1-based line; refuse duplicate keys."""
    lines: dict[_Path, int] = {(): node.start_mark.line + 1}

    def walk(n: yaml.Node, path: _Path) -> None:
        if isinstance(n, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in n.value:
                key = key_node.value
                if key in seen:
                    raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
                seen.add(key)
                lines[(*path, key)] = key_node.start_mark.line + 1
                walk(value_node, (*path, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    walk(node, ())
    return lines


def _locate(loc: tuple[Any, ...], lines: dict[_Path, int]) -> tuple[int, str]:
    """The line of the deepest known prefix of a pydantic error location, and its dotted name."""
    path: _Path = ()
    shown: list[str] = []
    for part in loc:
        candidate = (*path, part)
        if candidate in lines:
            path = candidate
            shown.append(f"[{part}]" if isinstance(part, int) else str(part))
        # other parts are pydantic's union/discriminator tags: not in the file
    name = "".join(s if s.startswith("[") else f".{s}" for s in shown).lstrip(".")
    return lines.get(path, 1), name


def _one_line(exc: ValidationError, lines: dict[_Path, int], source: str) -> str:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    if err["type"] == "requirement_kind" and (*loc, "kind") in lines:
        loc = (*loc, "kind")
    line, name = _locate(loc, lines)
    msg = err["msg"].replace("\n", " ")
    if err["type"] == "missing":
        missing = err["loc"][-1]
        return f"{source}:{line}: {name + ': ' if name else ''}missing required field {missing!r}"
    if err["type"] == "extra_forbidden":
        return f"{source}:{line}: unknown field {name!r}"
    return f"{source}:{line}: {name or 'document'}: {msg}"


@dataclass(frozen=True)
class Loaded:
    """A validated document, the file it came from and that file's SHA-256."""

    model: Any
    path: str
    file_sha256: str


def load_yaml_model(path: str | Path, model: type[M], what: str) -> tuple[M, str]:
    """Parse and validate one YAML file; return the model and the file's SHA-256."""
    p = Path(path)
    source = str(p)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {source}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {source}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {str(exc).splitlines()[0]}") from None
    if node is None or not isinstance(data, dict):
        raise ConfigError(f"{source}:1: a {what} must be a YAML mapping")
    lines = _line_map(node, source)
    try:
        return model.model_validate(data), sha256_hex(raw)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, lines, source)) from None


def resolve_policy_path(name_or_path: str) -> Path:
    """A bundled policy name (``eu-gpai-systemic-risk``) or a path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists() or "/" in name_or_path:
        return p
    bundled = _policies_dir() / f"{name_or_path}.yaml"
    if not bundled.exists():
        known = ", ".join(bundled_policies())
        raise ConfigError(f"no bundled policy {name_or_path!r} (bundled: {known}); or give a YAML file path")
    return bundled


def policy_digest(policy: Policy) -> str:
    """Digest of the validated policy (canonical JSON, defaults filled in).

    It changes with any setting that changes what the audit does, and not with
    comments or formatting; the file's own SHA-256 is recorded beside it.
    """
    return digest(policy.model_dump(mode="json"))


def load_policy(name_or_path: str, *, catalogue: Catalogue | None = None) -> Loaded:
    """Load a policy and check it against the catalogue (unknown legal items are errors)."""
    path = resolve_policy_path(name_or_path)
    policy, sha = load_yaml_model(path, Policy, "policy")
    from modelcert.policy.catalogue import load_catalogue

    cat = catalogue or load_catalogue()
    known = {e.id: e for e in cat.entries}
    node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    lines = _line_map(node, str(path))
    for i, req in enumerate(policy.requirements):
        for j, ref in enumerate(req.catalogue):
            if ref not in known:
                line = lines.get(("requirements", i, "catalogue", j), lines.get(("requirements", i), 1))
                raise ConfigError(f"{path}:{line}: requirements[{i}].catalogue: unknown catalogue entry {ref!r}")
    for j, ref in enumerate(policy.documentation):
        entry = known.get(ref)
        if entry is None or entry.testable:
            line = lines.get(("documentation", j), 1)
            why = "unknown catalogue entry" if entry is None else "is testable, not a documentation item"
            raise ConfigError(f"{path}:{line}: documentation[{j}]: {ref!r} {why}")
    return Loaded(policy, str(path), sha)


def load_claims(path: str | Path) -> ClaimsFile:
    return load_yaml_model(path, ClaimsFile, "claims")[0]


def load_attestations(path: str | Path) -> AttestationFile:
    return load_yaml_model(path, AttestationFile, "attestations")[0]
