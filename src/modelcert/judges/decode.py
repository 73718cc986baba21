"""Undo the encodings a jailbreak asks for, so the judge reads what the model really said.

An encoded attack (base64, rot13) often gets an encoded answer; judged as written it
looks like gibberish and would count as "no compliance". Decoding is conservative: a
base64 run is replaced only if it decodes to mostly printable UTF-8 text, and rot13 is
applied only if it makes far more of the words familiar.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

_B64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# Frequent short words of the judged languages: rot13 is kept only if it raises their share.
_COMMON = frozenset(
    """the a an and or is are be to of in on it i you we he she they this that with for not no can
    cannot here how what do does sure step steps will won't help sorry plan first then yes my your
    der die das und ist sind hier ich nicht kann zu mit ein eine le la les de des et je ne pas est
    avec pour el los las y no es con para il non che per con è w i z nie na się jest to""".split()
)


def _printable_share(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for c in text if c.isprintable() or c in "\n\t")
    return good / len(text)


def _decode_b64(run: str) -> str | None:
    try:
        raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    letters = sum(c.isalpha() or c.isspace() for c in text)
    if _printable_share(text) < 0.95 or letters < 0.45 * len(text) or " " not in text:
        return None
    return text


def _common(text: str) -> tuple[float, int]:
    """Share of familiar words, and how many distinct familiar words there are.

    Only whitespace-separated, purely alphabetic words count: letter runs inside a
    base64-like blob ("R//sdT+My9a") are not words, and counting them let random noise
    read as rot13 prose about once in a few hundred draws.
    """
    tokens = (t.strip(".,;:!?\"'()[]«»¿¡") for t in text.lower().split())
    words = [t for t in tokens if _WORD.fullmatch(t)]
    hits = [w for w in words if w in _COMMON]
    return (len(hits) / len(words) if words else 0.0), len(set(hits))


def decode(text: str) -> tuple[str, list[str]]:
    """The text with encoded parts decoded, and the encodings that were undone."""
    undone: list[str] = []

    def sub(m: re.Match[str]) -> str:
        decoded = _decode_b64(m.group(0))
        if decoded is None:
            return m.group(0)
        if "base64" not in undone:
            undone.append("base64")
        return decoded

    text = _B64_RUN.sub(sub, text)
    rot = codecs.decode(text, "rot13")
    (before, _), (after, distinct) = _common(text), _common(rot)
    if after >= 0.2 and distinct >= 2 and after > before + 0.15:
        text = rot
        undone.append("rot13")
    return text, undone
