"""The judge's calibration: the labelled sets and a judge's measured, pre-registered error rates.

Two labelled sets exist. The organism-style set (``data/calibration/*.yaml``, two-way,
written by us) and, since issue 23, the hand-labelled real-model answers
(:mod:`modelcert.judges.realset`, three-way). The rule judge's pre-registered rates come
from the real answers the frozen version never saw (:func:`pre_registered_rates`,
:func:`judge_record`; which rows those are is :func:`modelcert.judges.realset.heldout_for`).
While no such rows exist (a version frozen before its fresh batch is labelled) the rates fall
back, *explicitly*, to the rows it was developed on: ``subset: real-dev``, ``heldout: false`` and
a note in the record, optimistic by construction.


A judge's sensitivity (it says "complied" when the response complied) and specificity
(it says "refused" when the response refused) are measured per request context, with
exact Clopper–Pearson intervals. Checks record these counts with every run, and the
results correct observed rates for them (Rogan–Gladen, :mod:`modelcert.stats.judge_correction`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from modelcert.errors import ConfigError
from modelcert.evidence.chain import digest
from modelcert.stats.bounds import clopper_pearson

Positive = Literal["complied", "refused"]


class CalibrationItem(BaseModel):
    """One labelled response; ``request`` is the context the response answered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    case: str
    lang: str
    label: Literal["complied", "refused"]
    request: Literal["harmful", "benign"]
    text: str


@cache
def calibration_set() -> tuple[CalibrationItem, ...]:
    """Every labelled response shipped in ``judges/data/calibration/*.yaml``, in id order."""
    folder = resources.files("modelcert.judges.data").joinpath("calibration")
    out: list[CalibrationItem] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        try:
            rows = yaml.safe_load(entry.read_text("utf-8"))["items"]
            out += [CalibrationItem(**row) for row in rows]
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValidationError) as exc:
            raise ConfigError(f"calibration file {entry.name} is malformed: {exc}") from exc
    ids = Counter(i.id for i in out)
    dupes = [k for k, v in ids.items() if v > 1]
    if dupes:
        raise ConfigError(f"duplicate calibration ids: {', '.join(dupes[:5])}")
    return tuple(sorted(out, key=lambda i: i.id))


def calibration_digest() -> str:
    return digest([i.model_dump() for i in calibration_set()])


@dataclass(frozen=True)
class Calibration:
    """A judge's confusion counts on the calibration set, for one positive class.

    ``sens_hits/sens_n``: positives the judge caught; ``spec_hits/spec_n``: negatives it cleared.
    """

    judge: str
    positive: str
    context: str
    sens_hits: int
    sens_n: int
    spec_hits: int
    spec_n: int
    set_digest: str
    errors: list[str] = field(default_factory=list)  # ids the judge got wrong
    by_case: dict[str, list[int]] = field(default_factory=dict)  # case -> [correct, n]

    @property
    def sensitivity(self) -> float:
        return self.sens_hits / self.sens_n if self.sens_n else float("nan")

    @property
    def specificity(self) -> float:
        return self.spec_hits / self.spec_n if self.spec_n else float("nan")

    @property
    def accuracy(self) -> float:
        n = self.sens_n + self.spec_n
        return (self.sens_hits + self.spec_hits) / n if n else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sensitivity"] = self.sensitivity
        d["specificity"] = self.specificity
        d["accuracy"] = self.accuracy
        d["sensitivity_ci"] = list(clopper_pearson(self.sens_hits, self.sens_n))
        d["specificity_ci"] = list(clopper_pearson(self.spec_hits, self.spec_n))
        d["accuracy_ci"] = list(clopper_pearson(self.sens_hits + self.spec_hits, self.sens_n + self.spec_n))
        return d


def measure(
    predict: Callable[[CalibrationItem], str | None],
    *,
    judge: str,
    positive: Positive = "complied",
    context: Literal["harmful", "benign", "all"] = "all",
    items: Iterable[CalibrationItem] | None = None,
) -> Calibration:
    """Run ``predict`` (item -> "complied"/"refused"/None) over the set and count its errors.

    A ``None`` prediction (an unparseable model-judge answer) counts as wrong, never dropped.
    """
    pool = [i for i in (items if items is not None else calibration_set()) if context in ("all", i.request)]
    if not pool:
        raise ConfigError(f"no calibration items for context {context!r}")
    sens_hits = sens_n = spec_hits = spec_n = 0
    errors: list[str] = []
    by_case: dict[str, list[int]] = {}
    for item in pool:
        got = predict(item)
        ok = got == item.label
        if item.label == positive:
            sens_n += 1
            sens_hits += ok
        else:
            spec_n += 1
            spec_hits += ok
        if not ok:
            errors.append(item.id)
        cell = by_case.setdefault(item.case, [0, 0])
        cell[0] += ok
        cell[1] += 1
    return Calibration(judge, positive, context, sens_hits, sens_n, spec_hits, spec_n,
                       calibration_digest(), errors, by_case)


#: Id prefix of the calibration items written after the current rule judge was frozen.
HELDOUT_PREFIX = "hr-"


@cache
def rules_calibration(positive: Positive = "complied", context: str = "all", subset: str = "all") -> Calibration:
    """The rule judge's calibration, computed on demand (about 400 regex passes, milliseconds).

    ``subset="heldout"`` uses only the items written after the judge was frozen: fewer items,
    wider intervals, but free of the optimism of items the judge was developed on.
    """
    from modelcert.judges.rules import JUDGE_ID, JUDGE_VERSION, judge

    if subset not in ("all", "heldout"):
        raise ConfigError(f"calibration subset must be 'all' or 'heldout', got {subset!r}")
    items = [i for i in calibration_set() if subset == "all" or i.id.startswith(HELDOUT_PREFIX)]
    # this set is labelled two-way (help given or not): a non-answer gives no help
    return measure(lambda i: "complied" if judge(i.text, i.request).label == "complied" else "refused",
                   judge=f"{JUDGE_ID}-v{JUDGE_VERSION}", positive=positive, context=context,
                   items=items)  # type: ignore[arg-type]


def load_calibration(path: str) -> dict[str, Any]:
    """A calibration written by ``modelcert judges calibrate`` (JSON), validated for its counts."""
    import json
    from pathlib import Path

    try:
        data = json.loads(Path(path).expanduser().read_text("utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"judge calibration file not found: {path}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"judge calibration file {path} is unreadable: {exc}") from exc
    keys = ("sens_hits", "sens_n", "spec_hits", "spec_n")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), int) and data[k] >= 0 for k in keys):
        raise ConfigError(f"judge calibration file {path} lacks the counts {', '.join(keys)}")
    if data["sens_hits"] > data["sens_n"] or data["spec_hits"] > data["spec_n"]:
        raise ConfigError(f"judge calibration file {path} has more hits than items")
    return data


@dataclass(frozen=True)
class PreRegistered:
    """A judge's pre-registered error rates: what a verdict engine folds into its bound.

    ``sensitivity_lower``/``specificity_lower`` are one-sided exact (Clopper–Pearson) lower
    bounds at ``alpha``; ``digest`` identifies the labelled set (or calibration file) they
    come from; ``source`` says which (``real-heldout``: the held-out hand-labelled real
    answers; ``file``: a model judge's calibration file; ``bundled``: the organism-style set).
    """

    judge: str
    positive: str
    context: str
    sensitivity: float
    specificity: float
    sensitivity_lower: float
    specificity_lower: float
    sens_n: int
    spec_n: int
    alpha: float
    digest: str
    source: str
    non_answer_recall: float | None = None
    non_answer_n: int | None = None
    heldout: bool = True  # False: measured on rows the judge was developed on (the explicit fallback)
    note: str | None = None


#: What a record says when the current rule judge has no held-out rows yet.
DEV_FALLBACK_NOTE = ("no held-out real answers exist yet for {judge}: these rates are measured on the rows it was "
                     "developed on (optimistic); they are replaced by held-out rates once a batch labelled after "
                     "its freeze is added")


def real_rates(positive: str, context: str, alpha: float = 0.05, judge: str | None = None) -> tuple[Any, bool]:
    """A local judge's rates (default: the rule judge; ``learned-v1``: the learned judge) on the real
    answers it never saw, or (explicit fallback) on its development rows when there are none:
    (ErrorRates, held_out)."""
    from modelcert.judges.realset import items, measure_rules

    held = bool(items(split="heldout", context=context, judge=judge))
    r = measure_rules(positive=positive, context=context, split="heldout" if held else "dev", alpha=alpha,
                      judge=judge)
    if not held:
        r = replace(r, split="dev-fallback")
    return r, held


def _lower(k: int, n: int, alpha: float) -> float:
    return clopper_pearson(k, n, confidence=1 - alpha, side="lower")[0] if n else 0.0


def pre_registered_rates(
    judge_model: str | None = None,
    *,
    positive: Positive = "complied",
    context: Literal["harmful", "benign"] = "harmful",
    alpha: float = 0.05,
    calibration_file: str | None = None,
) -> PreRegistered:
    """The error rates a verdict may rely on for a judge, with one-sided lower bounds at ``alpha``.

    The rule judge's come from the real answers its frozen version never saw (:mod:`realset`);
    without any, explicitly from its development rows (``source: real-dev``, ``heldout`` False).
    A model judge's come from its calibration file (``modelcert judges calibrate``); without one it
    has none and this raises ConfigError.
    """
    from modelcert.judges.scorers import is_local

    if is_local(judge_model) and calibration_file in (None, "real"):
        r, held = real_rates(positive, context, alpha, judge=judge_model)
        return PreRegistered(r.judge, positive, context, r.sensitivity, r.specificity, r.sensitivity_lower,
                             r.specificity_lower, r.sens_n, r.spec_n, alpha, r.set_digest,
                             "real-heldout" if held else "real-dev", r.non_answer_recall, r.non_answer_n,
                             held, None if held else DEV_FALLBACK_NOTE.format(judge=r.judge))
    if judge_model is not None and is_local(judge_model):
        raise ConfigError(f"{judge_model} is calibrated on the real answers only: use judge_calibration=real")
    if judge_model is None:
        subset = str(calibration_file)
        if subset not in ("all", "heldout"):
            raise ConfigError("the rule judge's calibration is built in: use judge_calibration=real, all or heldout")
        c = rules_calibration(positive, context, subset)
        data: dict[str, Any] = c.to_dict() | {"set_digest": c.set_digest}
        source = "bundled"
    elif calibration_file:
        data = load_calibration(calibration_file)
        if data.get("positive", positive) != positive:
            data = {**data, "sens_hits": data["spec_hits"], "sens_n": data["spec_n"],
                    "spec_hits": data["sens_hits"], "spec_n": data["sens_n"]}
        source = "file"
    else:
        raise ConfigError(f"judge model:{judge_model} has no calibration; run modelcert judges calibrate")
    from modelcert.judges.scorers import judge_id

    sh, sn, ph, pn = data["sens_hits"], data["sens_n"], data["spec_hits"], data["spec_n"]
    return PreRegistered(judge_id(judge_model), positive, context, sh / sn if sn else float("nan"),
                         ph / pn if pn else float("nan"), _lower(sh, sn, alpha), _lower(ph, pn, alpha), sn, pn, alpha,
                         str(data.get("set_digest") or digest(data)), source)


def judge_record(
    judge_model: str | None,
    *,
    positive: Positive,
    context: str,
    calibration_file: str | None = None,
) -> dict[str, Any]:
    """What a run records about its judge: id and calibration (None if uncalibrated).

    The rule judge's default calibration is its three-way agreement with the real answers its
    frozen version never saw (``subset: real-heldout``, ``heldout: true``), or, while there are
    none, with its development rows (``subset: real-dev``, ``heldout: false`` and a ``note``);
    ``all``/``heldout`` select the older organism-style set.
    """
    from modelcert.judges.scorers import is_local, judge_id

    if judge_model is not None and is_local(judge_model):
        if calibration_file not in (None, "real"):
            raise ConfigError(f"{judge_model} is calibrated on the real answers only: use judge_calibration=real")
        ctx = "harmful" if context == "harmful" else "benign"
        r, held = real_rates(positive, ctx, judge=judge_model)
        cal = r.to_dict() | {"subset": "real-heldout" if held else "real-dev", "heldout": held,
                             "note": None if held else DEV_FALLBACK_NOTE.format(judge=r.judge)}
        cal.pop("errors", None)
    elif judge_model is None:
        if calibration_file not in (None, "real", "all", "heldout"):
            raise ConfigError("the rule judge's calibration is built in: use judge_calibration=real, all or heldout")
        if calibration_file in (None, "real"):
            ctx = "harmful" if context == "harmful" else "benign"
            r, held = real_rates(positive, ctx)
            cal: dict[str, Any] | None = r.to_dict()
            cal |= {"subset": "real-heldout" if held else "real-dev", "heldout": held,  # type: ignore[operator]
                    "note": None if held else DEV_FALLBACK_NOTE.format(judge=r.judge)}
        else:
            cal = rules_calibration(positive, context, calibration_file).to_dict()  # type: ignore[arg-type]
            cal["subset"] = calibration_file  # type: ignore[index]
        cal.pop("errors", None)  # type: ignore[union-attr]
    elif calibration_file:
        cal = load_calibration(calibration_file)
        if cal.get("positive", positive) != positive:
            cal = {**cal, "sens_hits": cal["spec_hits"], "sens_n": cal["spec_n"],
                   "spec_hits": cal["sens_hits"], "spec_n": cal["sens_n"], "positive": positive}
    else:
        cal = None
    return {"id": judge_id(judge_model), "positive": positive, "context": context, "calibration": cal}
