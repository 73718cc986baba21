"""Statistics for certification: exact and anytime-valid verdicts, bias effects, power.

The decision engine calls ``decide_fixed`` (fixed-n designs) or feeds a
``SequentialDesign`` round by round; both return a ``Decision``.
"""

from modelcert.stats.bounds import clopper_pearson, decide_fixed
from modelcert.stats.operating import OperatingPoint, exact_oc, simulate
from modelcert.stats.sequential import SequentialDesign, anytime_lower, anytime_upper
from modelcert.stats.verdict import Decision, Direction, Verdict

__all__ = [
    "Decision",
    "Direction",
    "OperatingPoint",
    "SequentialDesign",
    "Verdict",
    "anytime_lower",
    "anytime_upper",
    "clopper_pearson",
    "decide_fixed",
    "exact_oc",
    "simulate",
]
