"""Statistics for certification: exact and anytime-valid verdicts, bias effects, power.

The decision engine calls ``decide_fixed`` (fixed-n designs) or feeds a
``SequentialDesign`` round by round; both return a ``Decision``. See
``docs/statistics.md`` for each method, its assumptions and its validation.
"""

from modelcert.stats.bias_models import (
    Effect,
    RateGap,
    approval_rate_gaps,
    approval_rates,
    demographic_parity_difference,
    effects_table,
    mixed_effects,
)
from modelcert.stats.bounds import clopper_pearson, decide_fixed
from modelcert.stats.claims import ClaimCheck, check_rate_claim
from modelcert.stats.clustered import ClusteredEstimate, clustered_mean
from modelcert.stats.equivalence import Equivalence, tost_paired, tost_proportions
from modelcert.stats.judge_correction import CorrectedRate, corrected_rate, rogan_gladen
from modelcert.stats.multiple import benjamini_hochberg, e_bh
from modelcert.stats.operating import OperatingPoint, exact_oc, simulate
from modelcert.stats.paired import McNemarResult, PairedDifference, mcnemar_exact, paired_difference
from modelcert.stats.power import FixedDesign, fixed_n_design, paired_sd, pairs_needed
from modelcert.stats.sequential import SequentialDesign, anytime_lower, anytime_upper
from modelcert.stats.verdict import Decision, Direction, Verdict

__all__ = [
    "ClaimCheck",
    "ClusteredEstimate",
    "CorrectedRate",
    "Decision",
    "Direction",
    "Effect",
    "Equivalence",
    "FixedDesign",
    "McNemarResult",
    "OperatingPoint",
    "PairedDifference",
    "RateGap",
    "SequentialDesign",
    "Verdict",
    "anytime_lower",
    "anytime_upper",
    "approval_rate_gaps",
    "approval_rates",
    "benjamini_hochberg",
    "check_rate_claim",
    "clopper_pearson",
    "clustered_mean",
    "corrected_rate",
    "decide_fixed",
    "demographic_parity_difference",
    "e_bh",
    "effects_table",
    "exact_oc",
    "fixed_n_design",
    "mcnemar_exact",
    "mixed_effects",
    "paired_difference",
    "paired_sd",
    "pairs_needed",
    "rogan_gladen",
    "simulate",
    "tost_paired",
    "tost_proportions",
]
