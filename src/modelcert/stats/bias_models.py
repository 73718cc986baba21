"""Per-attribute bias effects from counterfactual decision data, tested two-sided.

Each row of the input is one decision: the scenario it came from, the protected
attribute varied, that attribute's value in this variant, and the outcome (1/0 for a
sampled decision at the ``api`` tier, or the yes/no log-odds at ``logprobs``). Within a
cell (attribute x domain x language) a linear mixed model with a random intercept per
scenario estimates each value's effect against the reference value: on 0/1 outcomes
that is a linear-probability model, so effects read directly as approval-rate gaps.
All cells are then corrected together with Benjamini–Hochberg, and each effect is
tested for equivalence (TOST) against the declared tolerance.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import t as student_t

from modelcert.errors import ConfigError
from modelcert.stats.multiple import benjamini_hochberg

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Effect:
    """One attribute value's effect against its reference, in one cell."""

    attribute: str
    level: str
    reference: str
    estimate: float
    se: float
    lower: float  # (1 - alpha) CI, two-sided
    upper: float
    pvalue: float  # two-sided, H0: no effect
    n: int
    method: str
    cell: Mapping[str, str] = field(default_factory=dict)
    df: float = float("inf")  # degrees of freedom of the t reference (CI, p-value, TOST)
    adjusted_p: float = float("nan")  # Benjamini–Hochberg across the table
    flagged: bool = False  # survives BH at level q
    equivalent: bool | None = None  # TOST within the tolerance (None: not tested)

    def to_dict(self) -> dict:
        return {
            "attribute": self.attribute, "level": self.level, "reference": self.reference,
            **dict(self.cell), "estimate": self.estimate, "se": self.se, "lower": self.lower,
            "upper": self.upper, "pvalue": self.pvalue, "adjusted_p": self.adjusted_p,
            "flagged": self.flagged, "equivalent": self.equivalent, "n": self.n, "method": self.method,
            "df": self.df,
        }


def _frame(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(f"decision data lacks column(s) {', '.join(missing)}")
    if df.empty:
        raise ConfigError("decision data is empty")
    return df


#: Estimates within this multiple of the outcome scale are rounding noise around 0.
_PRECISION = 1e-9


def _term(level: str) -> str:
    return f"C(g, Treatment(reference=ref))[T.{level}]"


def mixed_effects(
    df: pd.DataFrame,
    *,
    reference: str,
    outcome: str = "outcome",
    group: str = "value",
    scenario: str = "scenario",
    alpha: float = 0.05,
    attribute: str = "",
) -> list[Effect]:
    """Effects of each ``group`` value against ``reference`` with a random intercept per scenario.

    Falls back to OLS with scenario fixed effects when the mixed model cannot be fitted
    (fewer than 3 scenarios, non-finite SEs); the ``method`` field says which was used.
    Scenario-clustered SEs are no fallback: with two scenarios the sandwich has one degree
    of freedom and rejected a true null in about 30 % of simulated cells.

    CIs and p-values use a t reference with the residual degrees of freedom of the
    equivalent fixed-effects model (N - scenarios - values + 1 when complete), exact for
    balanced counterfactual groups: MixedLM's Wald z rejected a true null in 13.5 % of
    simulated cells of 4 groups (11 % with 8).

    An estimate within floating-point noise of 0 (``_PRECISION`` times the outcome scale) is
    exactly 0 with p = 1: identical outcomes leave a residual variance of ~0, and the
    ratio of two rounding errors would otherwise read as a highly significant effect.
    """
    _frame(df, [outcome, group, scenario])
    import pandas as pd
    import statsmodels.formula.api as smf  # lazy, with pandas: seconds to import, needed only by bias analyses

    data = pd.DataFrame({"y": pd.to_numeric(df[outcome], errors="coerce"), "g": df[group].astype(str),
                         "s": df[scenario].astype(str)})
    if data["y"].isna().any():
        raise ConfigError(f"column {outcome!r} must be numeric (0/1 decisions or log-odds)")
    levels = [lv for lv in sorted(data["g"].unique()) if lv != str(reference)]
    if str(reference) not in set(data["g"]) or not levels:
        raise ConfigError(f"need the reference value {reference!r} and at least one other value in {group!r}")
    formula = "y ~ C(g, Treatment(reference=ref))"
    env = {"ref": str(reference)}
    method = "mixed LM (random intercept per scenario)"
    result = None
    if data["s"].nunique() >= 3:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = smf.mixedlm(formula, data, groups=data["s"], eval_env=env)
                # L-BFGS can stop at the zero-variance boundary with a singular Hessian;
                # BFGS (then Powell) reaches the interior optimum.
                result = model.fit(reml=True, method=["bfgs", "powell"])
            if not all(np.isfinite(result.bse[_term(lv)]) for lv in levels):
                result = None
        except (np.linalg.LinAlgError, ValueError):
            result = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a perfect fit (identical outcomes) warns; handled below
        fixed = smf.ols(formula + (" + C(s)" if data["s"].nunique() > 1 else ""), data, eval_env=env).fit()
    if result is None:
        method, result = "OLS with scenario fixed effects", fixed
    df = float(fixed.df_resid)
    noise = _PRECISION * max(1.0, float(data["y"].abs().max()))
    crit = float(student_t.ppf(1 - alpha / 2, df)) if df >= 1 else float("nan")
    effects = []
    for lv in levels:
        term = _term(lv)
        est, se, how = float(result.params[term]), float(result.bse[term]), method
        if df < 1:  # as many parameters as observations: nothing left to estimate the noise
            se, lo, hi, p, how = float("nan"), float("nan"), float("nan"), 1.0, f"{method}; no residual df"
        elif abs(est) <= noise:  # no effect, up to rounding
            se = se if np.isfinite(se) else 0.0
            est, lo, hi, p = 0.0, -crit * se, crit * se, 1.0
            how = f"{method}; effect 0 within floating-point precision"
        elif not np.isfinite(se) or se <= noise:  # a perfect fit: an exact, constant shift
            se, lo, hi, p, how = 0.0, est, est, 0.0, f"{method}; exact fit (no residual variance)"
        else:
            lo, hi = est - crit * se, est + crit * se
            p = float(2 * student_t.sf(abs(est / se), df))
        effects.append(Effect(
            attribute=attribute, level=lv, reference=str(reference), estimate=est, se=se, lower=lo, upper=hi,
            pvalue=p, n=int((data["g"] == lv).sum() + (data["g"] == str(reference)).sum()), method=how, df=df,
        ))
    return effects


def effects_table(
    df: pd.DataFrame,
    *,
    reference: Mapping[str, str],
    tolerance: float,
    cells: Sequence[str] = ("attribute", "domain", "language"),
    attribute: str = "attribute",
    outcome: str = "outcome",
    group: str = "value",
    scenario: str = "scenario",
    alpha: float = 0.05,
    q: float = 0.05,
) -> list[Effect]:
    """Fit every cell, then apply BH across all effects and TOST against ``tolerance``.

    Args:
        reference: the reference value of each attribute (e.g. {"sex": "male"} or a
            neutral variant that names no attribute).
        tolerance: the largest gap that still counts as fair, in outcome units;
            ``equivalent`` is True when the (1 - 2 alpha) CI lies inside +/- tolerance.
        cells: columns that define a cell; must include the attribute column.
    """
    if attribute not in cells:
        raise ConfigError(f"cells must include the attribute column {attribute!r}")
    if tolerance <= 0:
        raise ConfigError(f"tolerance must be positive, got {tolerance}")
    _frame(df, [*cells, outcome, group, scenario])
    rows: list[Effect] = []
    for key, part in df.groupby(list(cells), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        cell = {c: str(v) for c, v in zip(cells, key, strict=True)}
        attr = cell.pop(attribute)
        if attr not in reference:
            raise ConfigError(f"no reference value declared for attribute {attr!r}")
        for eff in mixed_effects(part, reference=reference[attr], outcome=outcome, group=group,
                                 scenario=scenario, alpha=alpha, attribute=attr):
            z = student_t.ppf(1 - alpha, eff.df)
            inside = -tolerance < eff.estimate - z * eff.se and eff.estimate + z * eff.se < tolerance
            rows.append(replace(eff, cell=cell, equivalent=bool(inside)))
    reject, adjusted = benjamini_hochberg([r.pvalue for r in rows], q=q)
    return [replace(r, adjusted_p=float(a), flagged=bool(f)) for r, a, f in zip(rows, adjusted, reject, strict=True)]


@dataclass(frozen=True)
class RateGap:
    group: str
    rate: float
    n: int
    gap: float  # rate - reference rate
    lower: float
    upper: float
    pvalue: float


def approval_rates(decisions, groups) -> dict[str, tuple[float, int]]:
    """Approval rate and count per group."""
    import pandas as pd

    d = pd.DataFrame({"y": np.asarray(decisions, dtype=float), "g": np.asarray(groups).astype(str)})
    if d.empty or not d["y"].isin((0.0, 1.0)).all():
        raise ConfigError("decisions must be a non-empty sequence of 0/1")
    agg = d.groupby("g")["y"].agg(["mean", "size"])
    return {str(g): (float(r["mean"]), int(r["size"])) for g, r in agg.iterrows()}


def demographic_parity_difference(decisions, groups) -> float:
    """Largest minus smallest approval rate across groups."""
    rates = [r for r, _ in approval_rates(decisions, groups).values()]
    return float(max(rates) - min(rates))


def approval_rate_gaps(decisions, groups, *, reference: str, alpha: float = 0.05) -> list[RateGap]:
    """Each group's approval-rate gap to ``reference``: Newcombe CI and two-sided score test.

    These treat the groups as independent samples (descriptive); counterfactual pairs
    are better analysed with ``paired`` or ``effects_table``.
    """
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    rates = approval_rates(decisions, groups)
    if str(reference) not in rates:
        raise ConfigError(f"reference group {reference!r} not present")
    r0, n0 = rates[str(reference)]
    c0 = round(r0 * n0)
    out = []
    for g, (r, n) in sorted(rates.items()):
        if g == str(reference):
            continue
        c = round(r * n)
        lo, hi = confint_proportions_2indep(c, n, c0, n0, method="newcomb", alpha=alpha)
        p = 1.0 if c / n == c0 / n0 else float(test_proportions_2indep(c, n, c0, n0, method="score").pvalue)
        out.append(RateGap(g, r, n, r - r0, float(lo), float(hi), p))
    return out


__all__ = [
    "Effect", "RateGap", "approval_rate_gaps", "approval_rates", "demographic_parity_difference",
    "effects_table", "mixed_effects",
]
