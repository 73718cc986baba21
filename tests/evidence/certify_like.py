"""An audit result for a refused audit, shaped as ``result.json`` (for the anchoring tests)."""

from __future__ import annotations

import hashlib
from typing import Any


def refused_result(run: str, root: str) -> dict[str, Any]:
    h = hashlib.sha256(b"x").hexdigest()
    return {
        "policy": {"id": "eu-gpai-systemic-risk", "digest": h},
        "outcome": "refused",
        "access_tier": "api",
        "target": {"model": "m", "identity_digest": h, "subject_kind": "behaviour-fingerprint", "subject_digest": h},
        "requirements": [{"id": "CoP-SSR-harmful-compliance", "legal_basis": "AI Act Art. 55(1)(a)",
                          "verdict": "FAIL", "estimate": 0.5, "bound": 0.3, "n": 4}],
        "evidence": {run: root},
    }
