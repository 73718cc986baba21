"""Monitoring a registered model version: enroll, check, status.

Why it lives on the evidence log: every monitoring step is evidence a regulator may
have to show later, so each enrollment and each check is its own hash-chained run
(``resume_key = "monitor:<version id>"``): a preregistration naming the plan and the
secret prompt set's Merkle root *before* any query, one sample record per query (the
prompt by its salted commitment, never its text), and a ``run_end`` with the test's
figures. The monitor's state (the e-process, the next reference block, the alarm) is
replayed from those runs, so there is no second copy to disagree with the log.

Why a step that dies half-way leaves nothing half-written: a run counts only once its
``run_end`` is written, so an enrollment or a check that stops before it is ignored by
the replay (its records stay in the log as an unfinished run), and a retry starts
afresh. A retried check never reuses the reference block an unfinished check took (its
replies may have been seen), and an alarm is written to the log *before* the registry
is changed, so a retry after a crash in between completes the suspension.

An alarm (e-process >= 1/alpha) moves an in-force version to ``suspended`` with the
figures and the evidence run in the reason. Lifting it is a registry decision: a new
audit (``suspended -> under_audit``) or a reviewed reinstatement recorded in the status
history; monitoring then starts again with a new enrollment.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelcert.errors import ConfigError
from modelcert.evidence.chain import digest
from modelcert.evidence.store import PREREGISTRATION, RUN_END, SAMPLE, EvidenceStore
from modelcert.evidence.suites import SealedSuite, load_sealed, write_sealed
from modelcert.monitor import eprocess, logprob_test, mmd, novelty, prompts, witness
from modelcert.monitor.sample import (
    Plan,
    Reply,
    draw,
    endpoint_for,
    greedy,
    greedy_digest,
    plan_for,
    sample_digest,
)

ENROLL, CHECK = "enroll", "check"
GREEDY_EPOCH = -1  # the enrollment's greedy replies (the shortcut's digest), beside the blocks
LEARN_EPOCH = 0  # api with novelty: the enrollment's learning sample (blocks are epochs 1..blocks)

#: ``progress(done, total, note)``: queries answered so far; what a background job reports.
Progress = Callable[[int, int, str], None]


class MonitorError(ConfigError):
    """A monitoring request that cannot be carried out as asked (exit code 2)."""


def name_reference(result: Path, reference: str) -> None:
    """Write ``monitoring_reference`` into an audit's ``result.json`` before it is signed, so the
    certificate names the reference sample (atomically: a half-written result never exists)."""
    import json
    import os

    data = json.loads(result.read_text(encoding="utf-8"))
    data["monitoring_reference"] = reference
    tmp = result.with_name(f".{result.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, result)


def resume_key(version_id: int) -> str:
    return f"monitor:{version_id}"


@dataclass(frozen=True)
class CheckOutcome:
    run_id: str
    check: int
    block: int
    queries: int
    p_value: float
    e_value: float
    e_process: float
    alarm: bool
    test: dict[str, Any]
    at: str
    status_change: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MonitorState:
    """A version's monitoring, replayed from its evidence runs."""

    version_id: int
    enrollment: str | None = None
    plan: dict[str, Any] | None = None
    prompt_set: dict[str, Any] | None = None
    reference_digest: str | None = None
    tolerance: float | None = None
    enrolled_at: str | None = None
    greedy_digest: str | None = None
    checks: list[CheckOutcome] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    """Check runs of this enrollment without a ``run_end`` (running now, or died): not checks."""
    blocks_taken: int = 0
    """The highest reference block any check run of this enrollment took, finished or not."""

    @property
    def e_values(self) -> list[float]:
        return [c.e_process for c in self.checks]

    @property
    def alarm(self) -> bool:
        return any(c.alarm for c in self.checks)

    @property
    def blocks_used(self) -> int:
        """Reference blocks no later check may use: those of checks, and of unfinished check runs."""
        return max(self.blocks_taken, max((c.block for c in self.checks), default=0))

    @property
    def blocks_left(self) -> int | None:
        if self.plan is None:
            return None
        if self.plan["test"] != "mmd-hamming":
            return None  # the logprob test reuses its reference (see logprob_test)
        return self.plan["blocks"] - self.blocks_used

    def to_dict(self) -> dict[str, Any]:
        return {"version_id": self.version_id, "enrollment": self.enrollment, "plan": self.plan,
                "prompt_set": self.prompt_set, "reference_digest": self.reference_digest,
                "tolerance": self.tolerance, "enrolled_at": self.enrolled_at, "alarm": self.alarm,
                "greedy_digest": self.greedy_digest, "unfinished_checks": self.unfinished,
                "blocks_left": self.blocks_left, "threshold": 1 / self.plan["alpha"] if self.plan else None,
                "checks": [c.to_dict() for c in self.checks]}


def _teller(progress: Progress | None, total: int, note: str) -> Callable[[int], Callable[[int], None] | None]:
    """``tell(offset)``: a draw's progress callback reporting ``offset + answered`` of ``total``."""
    def tell(offset: int) -> Callable[[int], None] | None:
        if progress is None:
            return None
        return lambda answered: progress(offset + answered, total, f"{note}: {offset + answered}/{total} queries")
    return tell


def _record_replies(store: EvidenceStore, run: str, suite: SealedSuite, replies: list[Reply], epoch: int) -> None:
    commitments = dict(zip((str(i["id"]) for i in suite.items), suite.commitments, strict=True))
    for j, r in enumerate(replies):
        store.append(run, SAMPLE, {
            "sample_id": f"{r.prompt_id}:{j}", "epoch": epoch,
            "prompt": {"id": r.prompt_id, "commitment": commitments[r.prompt_id]},
            "output": r.text, "positions": r.positions, "seed": r.seed,
        })


def _replies(store: EvidenceStore, run: str) -> dict[int, list[Reply]]:
    out: dict[int, list[Reply]] = {}
    for rec in store.records(run, kinds=(SAMPLE,)):
        d = rec.data
        out.setdefault(int(d["epoch"]), []).append(Reply(d["prompt"]["id"], d["output"], d["positions"], d["seed"]))
    return out


class Monitor:
    """Monitoring over one evidence store and registry.

    Args:
        store: the evidence store (runs are written here).
        registry: the registry whose versions are monitored and suspended.
        folder: where sealed monitoring prompt sets are kept (``suite.secret.json``
            never leaves the lab).
    """

    def __init__(self, store: EvidenceStore, registry: Any, folder: Path) -> None:
        self.store = store
        self.registry = registry
        self.folder = Path(folder)

    # -- reading --------------------------------------------------------------------------

    def _runs(self, version_id: int) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
        """(run id, preregistration data, run_end data or None) of a version's monitor runs."""
        out = []
        for info in self.store.runs():
            if info.resume_key != resume_key(version_id):
                continue
            pre = end = None
            for rec in self.store.records(info.run_id, kinds=(PREREGISTRATION, RUN_END)):
                if rec.kind == PREREGISTRATION:
                    pre = rec.data
                else:
                    end = rec.data
            if pre is not None:
                out.append((info.run_id, pre, end))
        return out

    def status(self, version_id: int) -> MonitorState:
        self.registry.version(version_id)  # NotFound for an unknown version
        state = MonitorState(version_id)
        for run_id, pre, end in self._runs(version_id):
            if pre["monitor"] == ENROLL and end is not None:
                state = MonitorState(version_id, run_id, pre["plan"], pre["prompt_set"], end["reference_digest"],
                                     end.get("tolerance"), pre["at"], end.get("greedy_digest"))
            elif pre["monitor"] == CHECK and pre.get("enrollment") == state.enrollment:
                if end is not None:
                    state.checks.append(CheckOutcome(**end["outcome"]))
                else:
                    state.unfinished.append(run_id)
                    state.blocks_taken = max(state.blocks_taken, int(pre.get("block") or 0))
        return state

    def monitored(self) -> list[MonitorState]:
        ids = sorted({int(i.resume_key.split(":", 1)[1]) for i in self.store.runs()
                      if i.resume_key and i.resume_key.startswith("monitor:")})
        return [self.status(v) for v in ids]

    # -- enrolling --------------------------------------------------------------------------

    def _target(self, version_id: int, tier: str | None) -> Any:
        from modelcert.targets import make_target, tier_allows

        v = self.registry.version(version_id)
        granted = self.registry.granted_tier(version_id)
        if granted is None:
            raise MonitorError(f"model version {version_id} has no access grant; record one first")
        tier = tier or ("logprobs" if granted == "weights" else granted)
        if not tier_allows(granted, tier):
            raise MonitorError(f"model version {version_id} granted {granted!r} access, not {tier!r}")
        return make_target(v.address, tier)

    def enroll_plan(self, version_id: int, tier: str | None = None, **plan_overrides: Any) -> tuple[Any, Plan]:
        """The target and the plan an enrollment would use, or the one-line reason it cannot
        run (no grant, a tier above the grant, a bad plan): checked before a job is queued."""
        target = self._target(version_id, tier)
        try:
            plan = plan_for(target.access, **plan_overrides)
        except TypeError as exc:  # an override that is no field of the plan
            raise MonitorError(f"not a monitoring plan setting: {exc}") from None
        return target, plan

    def enroll(self, version_id: int, *, actor: str, tier: str | None = None, endpoint: Any = None,
               seed: int | None = None, prompt_rng: Any = None, progress: Progress | None = None,
               **plan_overrides: Any) -> MonitorState:
        """Draw a secret prompt set and the reference sample; record both as evidence.

        Args:
            tier: ``api`` or ``logprobs`` (default: the granted tier, ``weights`` -> ``logprobs``).
            endpoint: where to query (default: the version's address at ``tier``); tests
                and the bench pass substitutions here.
            seed: first query seed (default: random, recorded).
            progress: told ``(queries answered, queries planned, note)`` as the draw goes.
            plan_overrides: changes to the tier's default :class:`Plan` (pre-registered).
        """
        target, plan = self.enroll_plan(version_id, tier, **plan_overrides)
        endpoint = endpoint or endpoint_for(target)
        seed = secrets.randbits(30) if seed is None else seed
        suite = prompts.sealed_prompt_set(plan.prompts, name=f"monitor-v{version_id}", rng=prompt_rng)
        run = self.store.create_run(resume_key=resume_key(version_id))
        folder = self.folder / f"v{version_id}-{run}"
        write_sealed(suite, folder)
        try:
            self._draw_reference(run, folder, suite, version_id, actor, target, plan, endpoint, seed, progress)
        except BaseException:
            # the run stays unfinished (ignored by the replay); its secret prompts go with it
            if not self._finished(run):
                import shutil

                shutil.rmtree(folder, ignore_errors=True)
            raise
        return self.status(version_id)

    def _finished(self, run: str) -> bool:
        try:
            return any(True for _ in self.store.records(run, kinds=(RUN_END,)))
        except Exception:  # cannot tell: keep the prompt set
            return True

    def _draw_reference(self, run: str, folder: Path, suite: SealedSuite, version_id: int, actor: str,
                        target: Any, plan: Plan, endpoint: Any, seed: int, progress: Progress | None) -> None:
        from datetime import UTC, datetime

        pre = {"monitor": ENROLL, "version_id": version_id, "actor": actor, "at": datetime.now(UTC).isoformat(),
               "plan": plan.to_dict(), "target": target.identity_digest, "seed": seed,
               "prompt_set": {"name": suite.name, "root": suite.root, "size": len(suite.items),
                              "folder": folder.name, "pool_size": len(prompts.pool())}}
        self.store.append(run, PREREGISTRATION, pre)
        items = list(suite.items)
        end: dict[str, Any] = {}
        n = len(items)
        learn = n * plan.learn_per_prompt if plan.novelty else 0
        total = (n * plan.per_prompt * plan.blocks + learn if plan.test == "mmd-hamming"
                 else 2 * n * plan.reference_per_prompt) + (n if plan.shortcut else 0)
        tell = _teller(progress, total, "reference sample")
        if plan.test == "mmd-hamming":
            replies = draw(endpoint, items, plan, per_prompt=plan.per_prompt * plan.blocks, seed=seed,
                           progress=tell(0))
            # block b holds per_prompt replies to every prompt: deal them out in order
            by_prompt: dict[str, list[Reply]] = {}
            for r in replies:
                by_prompt.setdefault(r.prompt_id, []).append(r)
            for b in range(plan.blocks):
                block = [r for rs in by_prompt.values() for r in rs[b * plan.per_prompt:(b + 1) * plan.per_prompt]]
                _record_replies(self.store, run, suite, block, b + 1)
            if plan.novelty:  # the novelty score's learning sample: never a block, never tested against
                learned = draw(endpoint, items, plan, per_prompt=plan.learn_per_prompt, seed=seed + len(replies),
                               progress=tell(len(replies)))
                _record_replies(self.store, run, suite, learned, LEARN_EPOCH)
                replies = replies + learned
            end["reference_digest"] = sample_digest(replies)
        else:
            reference = draw(endpoint, items, plan, per_prompt=plan.reference_per_prompt, seed=seed,
                             progress=tell(0))
            replicate = draw(endpoint, items, plan, per_prompt=plan.reference_per_prompt,
                             seed=seed + len(reference), progress=tell(len(reference)))
            _record_replies(self.store, run, suite, reference, 0)
            _record_replies(self.store, run, suite, replicate, 1)
            floor = logprob_test.noise_floor([(r.prompt_id, r.positions or []) for r in reference],
                                             [(r.prompt_id, r.positions or []) for r in replicate])
            end.update(reference_digest=sample_digest(reference), noise_floor=floor,
                       tolerance=max(plan.min_tolerance, 4 * floor))
        if plan.shortcut:
            g = greedy(endpoint, items, plan, progress=tell(total - n))
            _record_replies(self.store, run, suite, g, GREEDY_EPOCH)
            end["greedy_digest"] = greedy_digest(g)
        self.store.finish(run, end)

    # -- checking -----------------------------------------------------------------------------

    def check_plan(self, version_id: int) -> tuple[MonitorState, Plan]:
        """The state and plan a check would run under, or the one-line reason it cannot run
        (not enrolled, an alarm already raised, the reference blocks used up): checked
        before a job is queued, and again when it runs."""
        state = self.status(version_id)
        if state.enrollment is None or state.plan is None or state.prompt_set is None:
            raise MonitorError(f"model version {version_id} is not enrolled for monitoring; run enroll first")
        if state.alarm:
            raise MonitorError(f"model version {version_id} already raised an alarm; lift the suspension "
                               "(new audit or reviewed decision) and enroll again")
        plan = Plan(**state.plan)
        if plan.test == "mmd-hamming" and state.blocks_used + 1 > plan.blocks:
            raise MonitorError(f"the reference sample's {plan.blocks} blocks are used up; enroll again "
                               "to draw a new reference")
        return state, plan

    def check(self, version_id: int, *, actor: str, endpoint: Any = None, seed: int | None = None,
              progress: Progress | None = None) -> CheckOutcome:
        """One check: fresh queries, the tier's test, the e-process update, maybe an alarm.

        ``progress`` is told ``(queries answered, queries planned, note)`` as the draw goes.
        """
        self.complete_suspension(version_id)
        state, plan = self.check_plan(version_id)
        t = len(state.checks) + 1
        suite = load_sealed(self.folder / state.prompt_set["folder"])
        if suite.root != state.prompt_set["root"]:
            raise MonitorError("the stored monitoring prompt set does not match the enrolled root")
        from modelcert.targets import make_target

        endpoint = endpoint or endpoint_for(make_target(self.registry.version(version_id).address, plan.tier))
        seed = secrets.randbits(30) if seed is None else seed
        reference = _replies(self.store, state.enrollment)
        run = self.store.create_run(resume_key=resume_key(version_id))
        from datetime import UTC, datetime

        block = state.blocks_used + 1 if plan.test == "mmd-hamming" else 0
        self.store.append(run, PREREGISTRATION, {
            "monitor": CHECK, "version_id": version_id, "actor": actor, "at": datetime.now(UTC).isoformat(),
            "enrollment": state.enrollment, "check": t, "block": block, "plan_digest": digest(state.plan),
            "seed": seed, "prompt_set_root": suite.root})
        figures: dict[str, Any] = {}
        n = len(suite.items)
        total = n * plan.per_prompt + (n if plan.shortcut and state.greedy_digest else 0)
        tell = _teller(progress, total, f"check {t}")
        if plan.shortcut and state.greedy_digest:
            g = greedy(endpoint, list(suite.items), plan, progress=tell(0))
            _record_replies(self.store, run, suite, g, GREEDY_EPOCH)
            figures["greedy_digest_equal"] = greedy_digest(g) == state.greedy_digest
            if figures["greedy_digest_equal"]:
                return self._identical(run, state, t, len(g))
        replies = draw(endpoint, list(suite.items), plan, per_prompt=plan.per_prompt, seed=seed,
                       progress=tell(total - n * plan.per_prompt))
        _record_replies(self.store, run, suite, replies, t)
        if plan.test == "mmd-hamming":
            ref_t = [(r.prompt_id, r.text) for r in reference[block]]
            new_t = [(r.prompt_id, r.text) for r in replies]
            res: Any = mmd.mmd_test(ref_t, new_t, length=plan.length, permutations=plan.permutations, seed=seed)
            if plan.witness:
                w = self._witness(state, reference, plan)
                figures["witness_e"] = witness.e_value(w, ref_t, new_t)
            if plan.novelty:
                g = novelty.Novelty([(r.prompt_id, r.text) for r in reference[LEARN_EPOCH]], plan.length)
                figures["novelty_e"] = witness.e_value(g, ref_t, new_t, lambdas=novelty.LAMBDAS)
        else:
            res = logprob_test.logprob_test([(r.prompt_id, r.positions or []) for r in reference[0]],
                                            [(r.prompt_id, r.positions or []) for r in replies],
                                            tolerance=float(state.tolerance or plan.min_tolerance),
                                            null_rate=plan.null_rate)
        ep = self._eprocess(state, plan)
        e = eprocess.calibrate(res.p_value, plan.kappa)
        value = (ep.update(e, figures["witness_e"], figures.get("novelty_e", 1.0)) if plan.witness
                 else ep.update(e))
        outcome = CheckOutcome(run, t, block, len(replies), res.p_value, e, value, ep.alarm,
                               {**res.to_dict(), **figures},
                               datetime.now(UTC).isoformat())
        if outcome.alarm:
            from modelcert.registry.lifecycle import IN_FORCE, Status

            if Status(self.registry.version(version_id).status) in IN_FORCE:
                outcome = CheckOutcome(**{**outcome.to_dict(), "status_change": Status.SUSPENDED.value})
        # the evidence first: a crash before the registry changes is completed by the next check
        self.store.finish(run, {"outcome": outcome.to_dict()})
        if outcome.status_change:
            self._suspend(version_id, outcome, plan)
        return outcome

    def complete_suspension(self, version_id: int) -> str | None:
        """Apply an alarm the evidence log holds but the registry does not (the process died
        between the two); returns the new status, or None when there is nothing to do."""
        state = self.status(version_id)
        last = state.checks[-1] if state.checks else None
        if last is None or not last.alarm or not last.status_change or state.plan is None:
            return None
        if any(last.run_id in (e.reason or "") for e in self.registry.history(version_id)):
            return None  # already applied (and perhaps lifted since)
        return self._suspend(version_id, last, Plan(**state.plan))

    def _identical(self, run: str, state: MonitorState, t: int, queries: int) -> CheckOutcome:
        """Equal greedy digests: no test, no reference block used, e-value 1 (no evidence either way)."""
        from datetime import UTC, datetime

        assert state.plan is not None
        plan = Plan(**state.plan)
        ep = self._eprocess(state, plan)
        value = ep.update(1.0, 1.0) if plan.witness else ep.update(1.0)
        outcome = CheckOutcome(run, t, 0, queries, 1.0, 1.0, value, ep.alarm,
                               {"shortcut": "greedy digest equal to the enrollment's: no test needed",
                                "greedy_digest": state.greedy_digest}, datetime.now(UTC).isoformat())
        self.store.finish(run, {"outcome": outcome.to_dict()})
        return outcome

    @staticmethod
    def _eprocess(state: MonitorState, plan: Plan) -> Any:
        """The e-process replayed over the enrollment's checks (api with the witness: the
        weighted average of the MMD and learned-witness processes, :class:`witness.Combined`)."""
        if not plan.witness:
            ep: Any = eprocess.EProcess(plan.alpha)
            for c in state.checks:
                ep.update(c.e_value)
            return ep
        ep = witness.Combined(plan.alpha, plan.witness_weight, plan.novelty_weight if plan.novelty else 0.0)
        for c in state.checks:
            ep.update(c.e_value, float(c.test.get("witness_e", 1.0)), float(c.test.get("novelty_e", 1.0)))
        return ep

    def _witness(self, state: MonitorState, reference: dict[int, list[Reply]], plan: Plan) -> witness.Witness:
        """The witness learned from this enrollment's earlier checks (their blocks and replies)."""
        w = witness.Witness(plan.length)
        for c in state.checks:
            if c.block == 0:  # a shortcut check: no block, no test
                continue
            new = _replies(self.store, c.run_id).get(c.check, [])
            w.add([(r.prompt_id, r.text) for r in reference[c.block]], [(r.prompt_id, r.text) for r in new])
        return w

    def _suspend(self, version_id: int, c: CheckOutcome, plan: Plan) -> str | None:
        from modelcert.registry.lifecycle import IN_FORCE, Status

        v = self.registry.version(version_id)
        if Status(v.status) not in IN_FORCE:
            return None
        reason = (f"monitoring alarm: e-process {c.e_process:.1f} >= {1 / plan.alpha:.0f} (1/alpha) at check {c.check}; "
                  f"{plan.test} p={c.p_value:.2g} on {c.queries} queries; evidence run {c.run_id}")
        self.registry.set_status(version_id, Status.SUSPENDED.value, reason=reason, actor="monitor")
        return Status.SUSPENDED.value
