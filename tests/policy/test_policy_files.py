"""Policy, catalogue and claims files: bundled ones load, broken ones fail on one located line."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcert.errors import ConfigError
from modelcert.policy.catalogue import load_catalogue
from modelcert.policy.loader import bundled_policies, load_claims, load_policy, policy_digest

BUNDLED = Path(__file__).resolve().parents[2] / "src/modelcert/policy/policies/eu-gpai-systemic-risk.yaml"


def test_bundled_policies_load_and_reference_the_catalogue() -> None:
    assert {"eu-gpai-systemic-risk", "eu-high-risk-credit"} <= set(bundled_policies())
    cat = {e.id: e for e in load_catalogue().entries}
    assert not cat["AIA-14-human-oversight"].testable  # a documentation item
    for name in bundled_policies():
        p = load_policy(name).model
        assert all(ref in cat for r in p.requirements for ref in r.catalogue)
        assert all(not cat[d].testable for d in p.documentation)
        assert len(policy_digest(p)) == 64
    credit = load_policy("eu-high-risk-credit").model
    assert "AIA-14-human-oversight" in credit.documentation
    assert any(r.kind == "bias" for r in credit.requirements)


def test_digest_ignores_comments_but_not_settings(tmp_path: Path) -> None:
    text = BUNDLED.read_text()
    a, b, c = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"
    a.write_text(text)
    b.write_text("# a comment\n" + text)
    c.write_text(text.replace("threshold: 0.05", "threshold: 0.06", 1))
    da, db, dc = (policy_digest(load_policy(str(p)).model) for p in (a, b, c))
    assert da == db != dc


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "anchor", "message"),
    [
        ("threshold: 0.05", "threshold: 1.5", "threshold: 1.5", "requirements[0].threshold: Input should be less than 1"),
        ("    metric: complied\n", "    metrik: complied\n", "id: CoP-SSR-harmful-compliance", "missing required field 'metric'"),
        ("kind: analyzer", "kind: analyser", "kind: analyser", "kind must be one of: rate (default), bias, scan, analyzer"),
        ("[AIA-15.5-poisoning]", "[AIA-99-nothing]", "AIA-99-nothing", "unknown catalogue entry 'AIA-99-nothing'"),
        ("    check: safety.harmful\n", "    check: safety.harmful\n    check: other\n", "check: other",
         "duplicate key 'check'"),
        ("direction: max", "direction: maximum", "direction: maximum", "requirements[0].direction"),
        ("method: confidence-sequence, round: 100}", "method: sprt, margin: 0.04, cap: 300}",
         "method: sprt, margin: 0.04", "no longer decides verdicts"),
        ("  - AIA-53.1c-copyright-policy", "  - AIA-55.1a-evaluation", "  - AIA-55.1a-evaluation",
         "is testable, not a documentation item"),
        ("outcome: refused", "outcome: rejected", "outcome: rejected", "outcome[0].outcome"),
        ("  - when: {verdict: FAIL}", "  - when: {verdict: FAILED}", "verdict: FAILED", "outcome[0].when.verdict"),
        ("method: confidence-sequence, round: 100}", "method: confidence-sequence, round: 100",
         "method: confidence-sequence, round: 100", "YAML syntax error"),
    ],
)
def test_broken_policy_gives_one_line_with_file_and_line(tmp_path: Path, old: str, new: str, anchor: str,
                                                        message: str) -> None:
    text = BUNDLED.read_text()
    assert old in text
    broken = text.replace(old, new, 1)
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    with pytest.raises(ConfigError) as exc:
        load_policy(str(path))
    msg = str(exc.value)
    assert "\n" not in msg and message in msg, msg
    line = int(msg.split(":")[1])
    assert msg.startswith(f"{path}:")
    assert line == _line_of(broken, anchor) or ("YAML syntax" in msg and abs(line - _line_of(broken, anchor)) <= 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("", "must be a YAML mapping"),
        ("id: x\n", "missing required field"),
        ("\xff\xfe", "not UTF-8"),
    ],
)
def test_not_a_policy(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(ConfigError, match=message):
        load_policy(str(path))


def test_missing_files_and_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="policy file not found"):
        load_policy(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="no bundled policy 'nope'"):
        load_policy("nope")
    with pytest.raises(ConfigError, match="claims file not found"):
        load_claims(tmp_path / "claims.yaml")


def test_claims_file_validation(tmp_path: Path) -> None:
    p = tmp_path / "claims.yaml"
    p.write_text("claims:\n  - {id: a, requirement: R, value: 0.1}\n  - {id: a, requirement: R, value: 2}\n")
    with pytest.raises(ConfigError, match=r"claims.yaml:3: claims\[1\].value"):
        load_claims(p)
    p.write_text("claims:\n  - {id: a, requirement: R, value: 0.1, relation: '<='}\n")
    assert load_claims(p).claims[0].relation == "<="
