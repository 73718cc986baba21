"""Lab keys: file modes, passphrases, key ids, and one-line errors."""

from __future__ import annotations

import hashlib
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelcert.certify import keys
from modelcert.errors import ConfigError


def test_keypair_files_modes_and_key_id(tmp_path):
    priv_path, pub_path = tmp_path / "lab.key", tmp_path / "lab.pub"
    key = keys.generate_keypair(priv_path, pub_path)
    assert stat.S_IMODE(priv_path.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in priv_path.read_bytes()  # PKCS#8
    pub = keys.load_public_key(pub_path)
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert len(raw) == 32
    assert keys.key_id(pub) == hashlib.sha256(raw).hexdigest() == keys.key_id(key.public_key())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_refuses_to_overwrite(tmp_path):
    priv_path, pub_path = tmp_path / "lab.key", tmp_path / "lab.pub"
    keys.generate_keypair(priv_path, pub_path)
    before = priv_path.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        keys.generate_keypair(priv_path, tmp_path / "other.pub")
    assert priv_path.read_bytes() == before
    assert not (tmp_path / "other.pub").exists()


def test_passphrase(tmp_path):
    priv_path, pub_path = tmp_path / "lab.key", tmp_path / "lab.pub"
    key = keys.generate_keypair(priv_path, pub_path, passphrase=b"correct horse")
    assert keys.is_encrypted(priv_path)
    loaded = keys.load_private_key(priv_path, passphrase=b"correct horse")
    assert keys.key_id(loaded.public_key()) == keys.key_id(key.public_key())
    with pytest.raises(ConfigError, match="wrong passphrase"):
        keys.load_private_key(priv_path, passphrase=b"wrong")
    with pytest.raises(ConfigError, match="is encrypted"):
        keys.load_private_key(priv_path)


# An encrypted key (passphrase "correct horse") and a wrong passphrase that decrypts it to
# valid AES-CBC padding, so cryptography reports a parse failure instead of "Incorrect
# password". About 1 wrong passphrase in 600 does this; CI once drew one at random.
_PADDING_COLLISION_KEY = b"""-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGjMF8GCSqGSIb3DQEFDTBSMDEGCSqGSIb3DQEFDDAkBBBk38SPikzBHCq6a9MF
1J6zAgIIADAMBggqhkiG9w0CCQUAMB0GCWCGSAFlAwQBKgQQ13CPQdVMCq0HSfob
as/SbQRAiNsduNCrFZefBOJxIOUTUShO/4ukl3xgmxp2oigaLQAvg5N4v/qS4TJT
A1PasR/UeJAERFPxpAcite1QKfEkbA==
-----END ENCRYPTED PRIVATE KEY-----
"""


def test_wrong_passphrase_that_passes_the_padding_check(tmp_path):
    path = tmp_path / "lab.key"
    path.write_bytes(_PADDING_COLLISION_KEY)
    assert isinstance(keys.load_private_key(path, passphrase=b"correct horse"), Ed25519PrivateKey)
    with pytest.raises(ConfigError, match="wrong passphrase"):
        keys.load_private_key(path, passphrase=b"wrong59")


@pytest.mark.parametrize(
    ("content", "loader", "message"),
    [
        (b"not a key", keys.load_private_key, "not a PEM private key"),
        (b"not a key", keys.load_public_key, "not a PEM public key"),
        (None, keys.load_public_key, "not found"),
    ],
)
def test_bad_key_files(tmp_path, content, loader, message):
    path = tmp_path / "k.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        loader(path)


def test_private_key_given_as_public_key(tmp_path):
    keys.generate_keypair(tmp_path / "lab.key", tmp_path / "lab.pub")
    with pytest.raises(ConfigError, match="is a private key"):
        keys.load_public_key(tmp_path / "lab.key")


def test_non_ed25519_key_rejected(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "ec.pub"
    path.write_bytes(other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(ConfigError, match="not an Ed25519 key"):
        keys.load_public_key(path)
