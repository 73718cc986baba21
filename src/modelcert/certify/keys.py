"""Ed25519 lab keys: create, store, load, and name them.

A lab signs certificates with one Ed25519 key. The private key is a PKCS#8 PEM file,
mode 0600, optionally encrypted with a passphrase; the public key is a
SubjectPublicKeyInfo PEM file that the lab publishes.

The **key id** is ``sha256(raw 32-byte Ed25519 public key).hexdigest()``: it depends
only on the key, not on its file encoding, so any party can recompute it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from modelcert.errors import ConfigError


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key id: SHA-256 hex of the raw public key bytes (see module docstring)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_new_file(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to a new file atomically; refuse to overwrite an existing one.

    The bytes go to a temporary file in the same folder (mkstemp creates it 0600) that
    is hard-linked into place, so a crash never leaves a half-written key and an
    existing key is never clobbered.
    """
    path = Path(path)
    if path.exists():
        raise ConfigError(f"{path} already exists; refusing to overwrite it")
    if not path.parent.is_dir():
        raise ConfigError(f"folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600 if private else 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise ConfigError(f"{path} already exists; refusing to overwrite it") from None
    finally:
        os.unlink(tmp)


def generate_keypair(
    private_path: Path, public_path: Path, *, passphrase: bytes | None = None
) -> Ed25519PrivateKey:
    """Create a key pair: private key at ``private_path`` (0600), public at ``public_path``."""
    if passphrase is not None and not passphrase:
        raise ConfigError("the passphrase is empty")
    key = Ed25519PrivateKey.generate()
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    if Path(public_path).exists():
        raise ConfigError(f"{public_path} already exists; refusing to overwrite it")
    write_new_file(Path(private_path), pem, private=True)
    write_new_file(Path(public_path), public_pem(key.public_key()))
    return key


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc.strerror}") from None


def is_encrypted(path: Path) -> bool:
    """Whether a private key file is passphrase-protected (without decrypting it)."""
    return b"BEGIN ENCRYPTED PRIVATE KEY" in _read(path, "private key")


def load_private_key(path: Path, *, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Load an Ed25519 private key; a clear one-line error for every way this can fail."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError:
        if passphrase:
            raise ConfigError(f"private key {path} is not encrypted; drop the passphrase") from None
        raise ConfigError(f"private key {path} is encrypted; give its passphrase") from None
    except ValueError:
        # A wrong passphrase usually fails AES-CBC's padding check ("Incorrect password"), but
        # about 1 in 600 wrong passphrases decrypt to valid padding and then fail to parse
        # ("Could not deserialize"); both mean the passphrase is wrong for an encrypted file.
        if passphrase and b"BEGIN ENCRYPTED PRIVATE KEY" in data:
            raise ConfigError(f"wrong passphrase for private key {path} (or the file is damaged)") from None
        raise ConfigError(f"{path} is not a PEM private key") from None
    except Exception:  # cryptography raises assorted errors for corrupt key material
        raise ConfigError(f"{path} is not a readable PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"private key {path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load an Ed25519 public key (SubjectPublicKeyInfo PEM)."""
    data = _read(path, "public key")
    if b"PRIVATE KEY" in data:
        raise ConfigError(f"{path} is a private key; pass the public key (modelcert keys export-public)")
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:
        raise ConfigError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"public key {path} is not an Ed25519 key")
    return key
