"""Secret test suites: commit to every item now, reveal any single item later.

A regulator must not publish its test items (providers would tune to them), yet must be
able to show a court that a given item was part of the suite a certificate names. So:

- each item gets a fresh random 32-byte salt and a **commitment**
  ``sha256(salt || canonical_json(item))`` (hex); the salt makes the commitment hiding,
  so nobody can confirm a guessed prompt against it;
- the suite's **root** is the RFC 6962 Merkle root over the 32-byte commitments, in
  item order (:func:`modelcert.evidence.chain.merkle_root`); only the root goes into a
  certificate;
- a **reveal** hands out chosen items with their salts and RFC 6962 inclusion proofs;
  anyone holding the root checks them without seeing the other items.

Sealing writes two files: ``suite.public.json`` (ids, commitments, root: shareable) and
``suite.secret.json`` (items and salts, mode 0600: never leaves the lab).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelcert.errors import ConfigError, EvidenceError, VerificationError
from modelcert.evidence.chain import (
    canonical_json,
    inclusion_proof,
    merkle_root,
    sha256_hex,
    verify_inclusion,
)

SALT_BYTES = 32
PUBLIC_FILE = "suite.public.json"
SECRET_FILE = "suite.secret.json"
PUBLIC_FORMAT = "modelcert-sealed-suite/1"
SECRET_FORMAT = "modelcert-sealed-suite-secret/1"
PROOF_FORMAT = "modelcert-suite-proof/1"
REDACTED = "secret-suite"

Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
ItemId = str | int


def commitment(item: Mapping[str, Any], salt: bytes) -> str:
    """The salted commitment to one item: ``sha256(salt || canonical_json(item))`` as hex."""
    return sha256_hex(salt + canonical_json(item))


def _leaves(commitments: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(c) for c in commitments]


@dataclass(frozen=True)
class SealedSuite:
    """A suite with its salts: the lab's private view. ``public()`` is what leaves the lab."""

    name: str
    items: tuple[dict[str, Any], ...]
    salts: tuple[bytes, ...]

    @cached_property
    def commitments(self) -> list[str]:
        return [commitment(i, s) for i, s in zip(self.items, self.salts, strict=True)]

    @cached_property
    def root(self) -> str:
        return merkle_root(_leaves(self.commitments))

    @cached_property
    def _index(self) -> dict[str, int]:
        return {str(item["id"]): n for n, item in enumerate(self.items)}

    def position(self, item_id: ItemId) -> int | None:
        """The index of the item with this id (compared as strings), or None."""
        return self._index.get(str(item_id))

    def public(self) -> dict[str, Any]:
        cs = self.commitments
        return {
            "format": PUBLIC_FORMAT,
            "name": self.name,
            "size": len(cs),
            "root": merkle_root(_leaves(cs)),
            "commitment": "sha256(salt || canonical_json(item)), salt 32 random bytes per item",
            "merkle": "RFC 6962 over the 32-byte commitments in item order",
            "commitments": [{"id": i["id"], "commitment": c} for i, c in zip(self.items, cs, strict=True)],
        }

    def secret(self) -> dict[str, Any]:
        return {
            "format": SECRET_FORMAT,
            "name": self.name,
            "root": self.root,
            "entries": [{"item": i, "salt": s.hex()} for i, s in zip(self.items, self.salts, strict=True)],
        }


def _check_items(items: Sequence[Any], where: str) -> None:
    if not items:
        raise ConfigError(f"{where}: the suite has no items")
    seen: set[Any] = set()
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: item {n} is not a JSON object")
        item_id = item.get("id")
        if isinstance(item_id, bool) or not isinstance(item_id, str | int) or item_id == "":
            raise ConfigError(f"{where}: item {n} has no string or integer 'id'")
        if str(item_id) in seen:
            raise ConfigError(f"{where}: item {n} repeats id {item_id!r}")
        seen.add(str(item_id))


def read_items(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL suite (one JSON object per line, each with a unique ``id``)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"suite file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read suite file {path}: {exc}") from None
    items: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line, parse_constant=_no_constant)
        except ValueError as exc:
            raise ConfigError(f"{path}:{n}: not valid JSON ({exc})") from None
        if not isinstance(item, dict):
            raise ConfigError(f"{path}:{n}: not a JSON object")
        items.append(item)
    _check_items(items, str(path))
    return items


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def seal(
    items: Sequence[Mapping[str, Any]], *, name: str, salt: Callable[[int], bytes] = secrets.token_bytes
) -> SealedSuite:
    """Commit to ``items`` with a fresh random salt each (``salt`` is injectable for tests)."""
    _check_items(items, name)
    frozen = tuple(json.loads(canonical_json(i)) for i in items)  # own copies, JSON-clean
    return SealedSuite(name=name, items=frozen, salts=tuple(salt(SALT_BYTES) for _ in frozen))


def write_sealed(suite: SealedSuite, out: Path) -> None:
    """Write the public and secret files into a new folder ``out``, all or nothing."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        fd = os.open(tmp / SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(canonical_json(suite.secret()) + b"\n")
        (tmp / PUBLIC_FILE).write_text(json.dumps(suite.public(), indent=1, ensure_ascii=False) + "\n", "utf-8")
        os.chmod(tmp, 0o700)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class _SecretEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: dict[str, Any]
    salt: str = Field(pattern=r"^[0-9a-f]{64}$")


class _SecretFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str
    name: str
    root: Hex64
    entries: list[_SecretEntry] = Field(min_length=1)


def load_sealed(folder: Path) -> SealedSuite:
    """Load a sealed suite and check that its salts, items and root still agree."""
    folder = Path(folder)
    path = folder / SECRET_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        secret = _SecretFile.model_validate(raw)
    except FileNotFoundError:
        raise ConfigError(f"{folder} is not a sealed suite folder ({SECRET_FILE} missing)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        detail = _first_error(exc) if isinstance(exc, ValidationError) else "not valid JSON"
        raise EvidenceError(f"{path} is corrupt: {detail}") from None
    if secret.format != SECRET_FORMAT:
        raise EvidenceError(f"{path}: unsupported format {secret.format!r}")
    suite = SealedSuite(
        name=secret.name,
        items=tuple(e.item for e in secret.entries),
        salts=tuple(bytes.fromhex(e.salt) for e in secret.entries),
    )
    if suite.root != secret.root:
        raise EvidenceError(f"{path} is corrupt: its items and salts do not give its root")
    public_path = folder / PUBLIC_FILE
    if public_path.exists():
        try:
            public_root = json.loads(public_path.read_text(encoding="utf-8")).get("root")
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            public_root = None
        if public_root != suite.root:
            raise EvidenceError(f"{public_path} does not match {SECRET_FILE} (root differs)")
    return suite


def reveal(suite: SealedSuite, ids: Iterable[ItemId]) -> dict[str, Any]:
    """A proof document for the chosen items: each with its salt and inclusion proof."""
    index = {str(item["id"]): n for n, item in enumerate(suite.items)}
    wanted = [str(i) for i in ids]
    if not wanted:
        raise ConfigError("no item ids to reveal")
    missing = [i for i in wanted if i not in index]
    if missing:
        raise ConfigError(f"not in suite {suite.name!r}: {', '.join(missing)}")
    leaves = _leaves(suite.commitments)
    revealed = []
    for item_id in dict.fromkeys(wanted):
        n = index[item_id]
        revealed.append(
            {
                "index": n,
                "item": suite.items[n],
                "salt": suite.salts[n].hex(),
                "commitment": leaves[n].hex(),
                "proof": inclusion_proof(leaves, n),
            }
        )
    return {
        "format": PROOF_FORMAT,
        "suite": suite.name,
        "root": merkle_root(leaves),
        "size": len(leaves),
        "items": revealed,
    }


class _ProofItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    index: int = Field(ge=0)
    item: dict[str, Any]
    salt: str = Field(pattern=r"^[0-9a-f]{64}$")
    commitment: Hex64
    proof: list[Hex64]


class _Proof(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    format: str
    suite: str
    root: Hex64
    size: int = Field(ge=1)
    items: list[_ProofItem] = Field(min_length=1)


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    return " ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}".split())


def check_proof(proof: Any, root: str) -> list[dict[str, Any]]:
    """Verify a reveal against a trusted ``root`` (e.g. from a verified certificate).

    Returns the revealed items; raises :class:`VerificationError` naming the first item
    that fails (changed item, wrong salt, wrong proof, wrong index or size).
    """
    try:
        doc = _Proof.model_validate(proof)
    except ValidationError as exc:
        raise VerificationError(f"not a suite proof: {_first_error(exc)}") from None
    if doc.format != PROOF_FORMAT:
        raise VerificationError(f"unsupported proof format {doc.format!r}")
    if doc.root != root:
        raise VerificationError(f"the proof is for root {doc.root[:16]}…, not the trusted root {root[:16]}…")
    for entry in doc.items:
        who = f"item {entry.item.get('id')!r} (index {entry.index})"
        try:
            c = commitment(entry.item, bytes.fromhex(entry.salt))
        except ValueError:
            raise VerificationError(f"{who}: the item cannot be hashed canonically") from None
        if c != entry.commitment:
            raise VerificationError(f"{who}: item and salt do not match its commitment (changed item or salt)")
        if not verify_inclusion(bytes.fromhex(c), entry.index, doc.size, entry.proof, root):
            raise VerificationError(f"{who}: the inclusion proof does not lead to the root")
    return [e.item for e in doc.items]


def commitments_by_id(public: Mapping[str, Any]) -> dict[str, str]:
    """Map item id (as a string) to commitment, from a ``suite.public.json`` document."""
    try:
        return {str(c["id"]): c["commitment"] for c in public["commitments"]}
    except (KeyError, TypeError):
        raise ConfigError("not a sealed suite's public file (no commitments list)") from None


def redaction(commitment_hex: str, value: Any = None, salt: bytes | None = None) -> dict[str, Any]:
    """The one form a redacted value takes in the evidence log.

    ``{"redacted": "secret-suite", "commitment": <item commitment>}``, plus, when the
    item's salt is known, ``"value": sha256(salt || canonical_json(value))``: the
    replaced value itself, bound with the same secret salt, so a later disclosure of
    the exact text sent (a trigger inserted, an attack wrapper) checks against the
    hashed record and a guess of it cannot be confirmed without the salt.
    """
    marker: dict[str, Any] = {"redacted": REDACTED, "commitment": commitment_hex}
    if salt is not None:
        marker["value"] = sha256_hex(salt + canonical_json(value))
    return marker


def is_redaction(value: Any) -> bool:
    return isinstance(value, dict) and value.get("redacted") == REDACTED and "commitment" in value


def _pointer_parts(pointer: str) -> list[str]:
    if not pointer.startswith("/"):
        return [pointer]  # a bare top-level field name
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def pointer(*parts: str | int) -> str:
    """An RFC 6901 JSON Pointer to a value inside a record's ``data``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(data: Any, ptr: str) -> tuple[Any, str | int]:
    """The container holding ``ptr`` and the key or index in it; KeyError if absent."""
    parts = _pointer_parts(ptr)
    node = data
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last: str | int = int(parts[-1]) if isinstance(node, list) else parts[-1]
    if isinstance(node, list) and not 0 <= int(last) < len(node):
        raise KeyError(ptr)
    if isinstance(node, dict) and last not in node:
        raise KeyError(ptr)
    if not isinstance(node, list | dict):
        raise KeyError(ptr)
    return node, last


def redact_record(
    record: Mapping[str, Any],
    commitments: Mapping[str, str],
    *,
    fields: Sequence[str] = ("input",),
    salts: Mapping[str, bytes] | None = None,
) -> dict[str, Any]:
    """Replace a secret-suite sample's values by their :func:`redaction`; other records pass unchanged.

    ``record`` is an evidence record envelope (``{"data": {...}, ...}``) or its ``data``
    alone; the sample is secret when ``str(data["sample_id"])`` is a key of
    ``commitments`` (see :func:`commitments_by_id`). ``fields`` are top-level field
    names or JSON Pointers into ``data`` (``/messages/0/content``); absent ones are
    skipped. With ``salts`` (item id -> salt) each marker also binds the value it
    replaces. The function is idempotent and never mutates its input.

    For a redacted bundle to verify against the certificate, the record must be *hashed*
    in this redacted form: the evidence log stores secret values as commitments and the
    plaintext stays lab-side (the sealed suite, and the store's disclosures), bound by them.
    """
    out = json.loads(canonical_json(record))
    data = out.get("data") if isinstance(out.get("data"), dict) else out
    sample_id = data.get("sample_id")
    if sample_id is None or str(sample_id) not in commitments:
        return out
    c = commitments[str(sample_id)]
    salt = (salts or {}).get(str(sample_id))
    for field in fields:
        try:
            node, key = resolve(data, field)
        except (KeyError, ValueError, IndexError, TypeError):
            continue
        if not is_redaction(node[key]):
            node[key] = redaction(c, node[key], salt)
    return out


# -- sealed suites loaded in this process ---------------------------------------------------

_LOADED: dict[str, SealedSuite] = {}


def register(suite: SealedSuite) -> str:
    """Make a loaded sealed suite findable by its root (see :func:`loaded`); returns the root.

    A check that runs on a sealed suite registers it while its task is built; the
    evidence ingest then looks it up by the root named in each sample's metadata, to
    hash the committed form. Keyed by the root, so a lookup can only find the suite the
    sample names.
    """
    root = suite.root
    _LOADED[root] = suite
    return root


def loaded(root: str) -> SealedSuite | None:
    """The sealed suite with this root, if one was registered in this process."""
    return _LOADED.get(root)


def read_proof(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"proof file {path} not found") from None
    except (OSError, UnicodeDecodeError, ValueError):
        raise VerificationError(f"{path} is not a JSON proof file") from None
