"""DSSE wire format: fixed vectors and interoperability with securesystemslib (both ways)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.dsse import Envelope as SslEnvelope
from securesystemslib.exceptions import VerificationError as SslVerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from modelcert.certify import dsse
from modelcert.certify.keys import key_id
from modelcert.errors import VerificationError
from modelcert.evidence.chain import inclusion_proof, merkle_root, verify_inclusion

SEED = bytes(range(32))  # fixed key so the vectors below are reproducible


def test_pae_fixed_vector_from_the_dsse_spec():
    got = dsse.pae("http://example.com/HelloWorld", b"hello world")
    assert got == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_pae_counts_bytes_not_characters():
    assert dsse.pae("t/é", b"\xc3\xa9\x00") == b"DSSEv1 4 t/\xc3\xa9 3 \xc3\xa9\x00"
    assert dsse.pae("", b"") == b"DSSEv1 0  0 "


# RFC 6962 test vectors (Certificate Transparency reference tests): roots of the
# first n leaves of this list.
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
             bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("n", range(1, 9))
def test_merkle_root_rfc6962_vectors(n):
    assert merkle_root(CT_LEAVES[:n]) == CT_ROOTS[n - 1]
    for i in range(n):
        assert verify_inclusion(CT_LEAVES[i], i, n, inclusion_proof(CT_LEAVES[:n], i), CT_ROOTS[n - 1])


def _keys():
    priv = Ed25519PrivateKey.from_private_bytes(SEED)
    ssl_key = SSlibKey.from_crypto(priv.public_key(), keyid=key_id(priv.public_key()))
    return priv, ssl_key


def test_our_envelope_verifies_with_securesystemslib():
    priv, ssl_key = _keys()
    payload = b'{"_type":"https://in-toto.io/Statement/v1"}'
    ours = dsse.sign(payload, dsse.INTOTO_PAYLOAD_TYPE, priv)
    theirs = SslEnvelope.from_dict(json.loads(dsse.envelope_bytes(ours)))
    assert theirs.payload == payload and theirs.payload_type == dsse.INTOTO_PAYLOAD_TYPE
    assert theirs.pae() == dsse.pae(dsse.INTOTO_PAYLOAD_TYPE, payload)
    accepted = theirs.verify([ssl_key], 1)
    assert list(accepted) == [key_id(priv.public_key())]


def test_securesystemslib_rejects_our_envelope_when_payload_changes():
    priv, ssl_key = _keys()
    ours = dsse.sign(b"original", dsse.INTOTO_PAYLOAD_TYPE, priv).model_dump()
    ours["payload"] = dsse.b64encode(b"0riginal")
    with pytest.raises(SslVerificationError):
        SslEnvelope.from_dict(ours).verify([ssl_key], 1)


def test_securesystemslib_envelope_verifies_with_ours():
    priv, ssl_key = _keys()
    signer = CryptoSigner(priv, public_key=ssl_key)
    env = SslEnvelope(payload=b'{"hello": "court"}', payload_type=dsse.INTOTO_PAYLOAD_TYPE, signatures={})
    env.sign(signer)
    wire = env.to_dict()
    ours = dsse.Envelope.model_validate(wire)
    assert dsse.verify(ours, priv.public_key()) == b'{"hello": "court"}'
    # Ed25519 is deterministic: both implementations produce the same signature bytes.
    assert ours.signatures[0].sig == dsse.sign(env.payload, env.payload_type, priv).signatures[0].sig


def test_securesystemslib_envelope_with_other_payload_type_fails_ours():
    priv, ssl_key = _keys()
    env = SslEnvelope(payload=b"x", payload_type="text/plain", signatures={})
    env.sign(CryptoSigner(priv, public_key=ssl_key))
    wire = env.to_dict()
    wire["payloadType"] = dsse.INTOTO_PAYLOAD_TYPE  # the type is covered by the PAE
    with pytest.raises(VerificationError, match="signature does not verify"):
        dsse.verify(dsse.Envelope.model_validate(wire), priv.public_key())


def test_wrong_key_is_named_as_such():
    priv, _ = _keys()
    other = Ed25519PrivateKey.generate()
    env = dsse.sign(b"x", dsse.INTOTO_PAYLOAD_TYPE, priv)
    with pytest.raises(VerificationError, match="no signature by key"):
        dsse.verify(env, other.public_key())


def test_keyid_relabelled_to_another_key_fails_signature():
    priv, _ = _keys()
    other = Ed25519PrivateKey.generate()
    env = dsse.sign(b"x", dsse.INTOTO_PAYLOAD_TYPE, priv).model_dump()
    env["signatures"][0]["keyid"] = key_id(other.public_key())
    with pytest.raises(VerificationError, match="signature does not verify"):
        dsse.verify(dsse.Envelope.model_validate(env), other.public_key())


@pytest.mark.parametrize(
    ("text", "ok"),
    [("aGk=", True), ("aGl=", False), ("aGk", False), ("aG k=", False), ("a-_w", False), ("a+_w", False),
     ("a+/w", True), ("aGk=\n", False)],
)
def test_base64_must_be_canonical(text, ok):
    """Standard base64 only: URL-safe (a-_w), whitespace and missing padding are refused."""
    if ok:
        assert dsse.b64decode_strict(text, "x")
    else:
        with pytest.raises(VerificationError):
            dsse.b64decode_strict(text, "x")


def test_file_form_is_canonical_json_and_round_trips():
    priv, _ = _keys()
    env = dsse.sign(b"x", dsse.INTOTO_PAYLOAD_TYPE, priv)
    data = dsse.envelope_bytes(env)
    assert dsse.parse_envelope(data) == env
    pretty = (json.dumps(json.loads(data), indent=2) + "\n").encode()
    with pytest.raises(VerificationError, match="canonical form"):
        dsse.parse_envelope(pretty)
    with pytest.raises(VerificationError, match="canonical form"):
        dsse.parse_envelope(data.rstrip(b"\n"))
