"""The round-based run engine: Inspect runs the queries, every finished sample is evidence.

A run is one check (an Inspect task) against one target. The engine runs it in
rounds of sample ids; the policy layer can decide after each round whether to go on.
Each sample is written to the evidence store *as it finishes* (from Inspect's
``on_sample_end`` hook), so a crash or SIGKILL loses at most the samples in flight.

Running the same configuration again resumes the newest unfinished run with the same
resume key: samples with a ``sample`` record are not queried again, so nothing is
duplicated and nothing is lost. Samples that ended in an error keep their
``sample_error`` record and are tried again on resume.

Inspect's defaults retry a failing model call forever with no timeout. The engine
always bounds both (:class:`Limits`) and runs with ``fail_on_error=False``, so a
failing sample becomes an error record instead of stopping or hanging the run.
Rate-limit responses (HTTP 429) back off exponentially inside Inspect; every retry
and its wait are recorded with the sample.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python

from modelcert import __version__
from modelcert.errors import ConfigError, EvidenceError
from modelcert.evidence.chain import digest
from modelcert.evidence.disclosure import commit_secret, hide_secret
from modelcert.evidence.ingest import eval_sample, sample_record
from modelcert.evidence.store import (
    PREREGISTRATION,
    ROUND,
    RUN_START,
    SAMPLE,
    SAMPLE_KINDS,
    EvidenceStore,
    Record,
)
from modelcert.evidence.verify import verify_records
from modelcert.runner import _hooks

RESUME = "resume"


@contextlib.contextmanager
def relaxed_gc(gen0: int = 50_000) -> Iterator[None]:
    """Collect cyclic garbage less often while an eval runs, then restore the thresholds.

    Inspect allocates many small objects per sample (events, pydantic models), so with
    Python's default thresholds (700, 10, 10) the collector runs constantly and its full
    collections walk everything the process holds (a loaded model, a 33k-item suite).
    Measured on a 512-sample eval on the zoo organism: 18.3 ms of CPU per sample with the
    defaults, 14.2 ms with (50000, 50, 100). Memory use grows by at most the garbage of
    ``gen0`` allocations between collections.
    """
    old = gc.get_threshold()
    gc.set_threshold(max(gen0, old[0]), max(50, old[1]), max(100, old[2]))
    try:
        yield
    finally:
        gc.set_threshold(*old)


@contextlib.contextmanager
def no_acp_session() -> Iterator[None]:
    """Skip Inspect's per-sample live ACP session while the engine runs an eval.

    Inspect opens an Agent Client Protocol session for every sample and maps each transcript
    event to ACP messages for clients attached through its control server. The engine runs
    without that server (``ctl_server=False``), so nothing can attach; the mapping cost about
    1 ms of CPU per sample on the zoo organism (13.3 -> 12.5 ms, bench/throughput.py's eval
    path, one torch thread). Inspect's own flag for "a live session is already open upstream"
    makes every sample's session a no-op. If an Inspect upgrade drops the flag, this does
    nothing.
    """
    try:
        from inspect_ai.agent._acp.transport import _acp_live_active
    except ImportError:  # pragma: no cover - another Inspect version
        yield
        return
    token = _acp_live_active.set(True)
    try:
        yield
    finally:
        _acp_live_active.reset(token)


@dataclass(frozen=True)
class Limits:
    """Bounds on every model call (Inspect's own defaults are unbounded).

    Args:
        max_retries: Retries per model call after the first attempt (rate limits and
            transient server errors back off exponentially between them).
        attempt_timeout: Seconds before one attempt is abandoned and retried.
        timeout: Seconds for a call including all retries and back-off.
        max_samples: Samples in flight at once (None: Inspect's default).
        retry_on_error: Times Inspect re-runs a whole sample that errored.
    """

    max_retries: int = 3
    attempt_timeout: int = 120
    timeout: int = 600
    max_samples: int | None = None
    retry_on_error: int = 0


@dataclass(frozen=True)
class SampleRecord:
    """One sample's evidence as the engine returns it."""

    sample_id: Any
    epoch: int
    ok: bool
    seq: int
    hash: str
    data: dict[str, Any] = field(repr=False)
    resumed: bool = False
    """True if the record was written before this round (a resumed run)."""

    @property
    def scores(self) -> dict[str, Any]:
        return self.data.get("scores", {})

    @property
    def error(self) -> str | None:
        err = self.data.get("error")
        return err["message"] if err else None

    @classmethod
    def from_record(cls, rec: Record, *, resumed: bool = False) -> SampleRecord:
        data = rec.data
        return cls(data["sample_id"], data["epoch"], rec.kind == SAMPLE, rec.seq, rec.hash, data, resumed)


def software_versions() -> dict[str, str]:
    """Versions recorded in every run start: what produced this evidence."""
    out = {"modelcert": __version__, "python": platform.python_version()}
    for pkg in ("inspect-ai", "transformers", "torch", "sqlalchemy"):
        try:
            out[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


class Runner:
    """Runs one Inspect task against one target in rounds, recording each sample.

    Args:
        store: Where the evidence goes.
        target: A :class:`modelcert.targets.Target` (identity, tier, Inspect model).
        task: An Inspect ``Task`` or a factory returning one (called once per runner: the
            task and its dataset are built once, and each round runs a shallow copy).
        check_id: The check's id, recorded in the run start.
        check_version: Bumped by the check when its items or scoring change.
        suite_digest: Digest of the item suite (e.g. a secret suite's commitment); by
            default the task metadata's ``suite_digest``, else the digest of the task's
            dataset (ids, inputs, targets), which is recorded and keyed on either way.
        seed: Recorded, and part of the resume key.
        limits: Retry and timeout bounds.
        log_dir: Where Inspect writes its own eval logs, samples included. Default: none
            kept (a temp dir per round, and Inspect logs no samples: the evidence log is
            the record).
        on_record: Called with each :class:`SampleRecord` right after it is stored.
        plan: Extra settings that define "the same run" for resuming (e.g. a
            ``--limit``); recorded in the run start and part of the resume key.
        eval_args: Extra keyword arguments for ``inspect_ai.eval``.
        executor: Where rounds run (:mod:`modelcert.executors`; a name or an instance;
            default ``$MODELCERT_EXECUTOR``, else this process). A distributed executor
            splits each round into chunks run on model replicas; the records still reach
            the store only here, so the resume logic stays the one source of truth.
    """

    def __init__(
        self,
        store: EvidenceStore,
        target: Any,
        task: Any,
        *,
        check_id: str,
        check_version: str = "0",
        suite_digest: str | None = None,
        seed: int = 0,
        limits: Limits | None = None,
        log_dir: str | Path | None = None,
        on_record: Callable[[SampleRecord], None] | None = None,
        plan: dict[str, Any] | None = None,
        eval_args: dict[str, Any] | None = None,
        executor: Any = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.target = target
        self._task_source = task
        self.check_id = check_id
        self.check_version = check_version
        self.seed = seed
        self.limits = limits or Limits()
        self.log_dir = Path(log_dir) if log_dir else None
        self.on_record = on_record
        self.plan = plan or {}
        self.eval_args = eval_args or {}
        self.run_id: str | None = None
        self._model: Any = None
        self._built: Any = None
        self._ids, self.dataset_digest = self._dataset()
        self.suite_digest = suite_digest or self.task_metadata.get("suite_digest") or self.dataset_digest
        # per-round state, touched only from Inspect's event loop via the hooks
        self._retries: dict[str, list[dict[str, Any]]] = {}
        self._round_new: list[SampleRecord] = []
        self._done: set[tuple[Any, int]] = set()
        self._failure: BaseException | None = None
        # records() reads incrementally: what it has parsed so far, for which run
        self._latest: dict[tuple[str, int], SampleRecord] = {}
        self._latest_seq: int | None = None
        self._latest_run: str | None = None
        self.evidence_seconds = 0.0
        """Wall time spent turning finished samples into stored records (all rounds so far)."""
        self.evidence_cpu_seconds = 0.0
        """CPU time of the same work (excludes waiting on the disk, the database or the GIL)."""

    # -- setup ---------------------------------------------------------------------------

    def _task(self) -> Any:
        """The task, built once: a large suite (33k bias items) is costly to build twice."""
        if self._built is None:
            src = self._task_source
            task = src() if callable(src) and not hasattr(src, "dataset") else src
            # Inspect numbers id-less samples 1..n at run time; do it up front so rounds and
            # resume can name them.
            for i, sample in enumerate(task.dataset, 1):
                if sample.id is None:
                    sample.id = i
            self._built = task
        return self._built

    def _dataset(self) -> tuple[list[Any], str]:
        task = self._task()
        ids, items = [], []
        self.task_metadata = to_jsonable_python(dict(task.metadata or {}), fallback=repr)
        # the task's own generation settings (e.g. max_tokens) apply on top of the target's
        config = getattr(task, "config", None)
        self.task_config = config.model_dump(mode="json", exclude_none=True) if config is not None else {}
        self.sample_metadata: list[dict[str, Any]] = []  # for a stratified --limit draw (checks/sampling.py)
        for s in task.dataset:
            ids.append(s.id)
            self.sample_metadata.append(dict(s.metadata or {}))
            inp = s.input if isinstance(s.input, str) else [m.model_dump(mode="json", exclude={"id"}) for m in s.input]
            # a secret-suite sample enters the digest salted: it must not confirm a guessed suite
            items.append([s.id, hide_secret(s.metadata, s.id, inp), hide_secret(s.metadata, s.id, s.target),
                          s.choices])
        if len(set(map(repr, ids))) != len(ids):
            raise ConfigError(f"check {self.check_id}: sample ids are not unique")
        return ids, digest(items)

    @property
    def sample_ids(self) -> list[Any]:
        """Every sample id of the task's dataset, in dataset order."""
        return list(self._ids)

    def resume_key(self) -> str:
        """What makes two invocations "the same run": target, check, suite, settings, seed, plan."""
        return digest(
            {
                "target": self.target.identity_digest,
                "access": self.target.access,
                "check": [self.check_id, self.check_version],
                "suite": self.suite_digest,
                "dataset": self.dataset_digest,
                "generation": self.target.generation,
                "task_config": self.task_config,
                "seed": self.seed,
                "plan": self.plan,
            }
        )

    def _model_for_rounds(self) -> Any:
        if self._model is None:
            lim = self.limits
            self._model = self.target.inspect_model(
                max_retries=lim.max_retries, attempt_timeout=lim.attempt_timeout, timeout=lim.timeout
            )
        return self._model

    # -- run lifecycle -------------------------------------------------------------------

    def start_run(
        self, *, preregistration: dict[str, Any] | None = None, resume: bool = True, run_id: str | None = None
    ) -> str:
        """Open the run: resume the newest unfinished one with this resume key, or start anew.

        A new run gets, in order, the optional ``preregistration`` record (policy digest,
        suite digests, target identity, analysis plan: written before any query) and
        the ``run_start`` record. A resumed run is verified first and gets a ``resume``
        record; it refuses to continue a chain that does not verify.
        """
        key = self.resume_key()
        existing = self.store.find_open_run(key) if resume and run_id is None else None
        if existing is not None:
            result = verify_records(existing, self.store.records(existing))
            if not result.ok:
                raise EvidenceError(f"cannot resume: {result.summary()}")
            self.run_id = existing
            done = self.store.completed_items(existing)
            self.store.append(
                existing, RESUME, {"software": software_versions(), "runtime": self.target.runtime(),
                                   "completed": len(done), "host": platform.node()}
            )
            return existing
        self.run_id = self.store.create_run(resume_key=key, run_id=run_id)
        if preregistration is not None:
            self.store.append(self.run_id, PREREGISTRATION, preregistration)
        self.store.append(self.run_id, RUN_START, self._start_data(key))
        return self.run_id

    def _start_data(self, key: str) -> dict[str, Any]:
        from modelcert.checks.settings import generation_used  # the settings in force, not the defaults

        t = self.target
        return {
            "model": t.model,
            "address": getattr(t, "address", t.model),  # as the user typed it (local/zoo:clean)
            "access": t.access,
            "max_access": t.max_access,
            "downgraded": t.downgraded,
            "target": t.identity(),
            "target_digest": t.identity_digest,
            "check": {"id": self.check_id, "version": self.check_version, "suite_digest": self.suite_digest},
            "dataset": {"samples": len(self._ids), "digest": self.dataset_digest, "ids_digest": digest(self._ids)},
            "task_metadata": self.task_metadata,
            "generation": generation_used(t.generation, self.task_config, self.task_metadata),
            "task_config": self.task_config,
            "limits": asdict(self.limits),
            "seed": self.seed,
            "plan": self.plan,
            "software": software_versions(),
            "runtime": t.runtime(),
            "resume_key": key,
        }

    def _require_run(self) -> str:
        if self.run_id is None:
            raise EvidenceError("start_run() first")
        return self.run_id

    def completed_ids(self) -> set[tuple[Any, int]]:
        """``(sample_id, epoch)`` pairs already recorded as successful in this run."""
        return self.store.completed_items(self._require_run())

    def records(self) -> list[SampleRecord]:
        """The latest record per sample in this run (a success outranks earlier errors).

        Read from the store, incrementally: records are append-only, so only those after
        the last one read are fetched and parsed. (Re-reading every record after every
        round cost the default audit about 2 s of JSON parsing.)
        """
        run_id = self._require_run()
        if self._latest_run != run_id:
            self._latest, self._latest_seq, self._latest_run = {}, None, run_id
        latest = self._latest
        for rec in self.store.records(run_id, kinds=SAMPLE_KINDS, after=self._latest_seq):
            sr = SampleRecord.from_record(rec)
            key = (repr(sr.sample_id), sr.epoch)
            if key not in latest or not latest[key].ok:
                latest[key] = sr
            self._latest_seq = rec.seq
        return list(latest.values())

    def eval_samples(self) -> list[Any]:
        """The latest record per sample rebuilt as Inspect ``EvalSample`` objects.

        Analyses written against Inspect samples (e.g. a check's summary) can then
        run on the evidence itself rather than on Inspect's log of one round.
        """
        return [eval_sample(r.data) for r in self.records()]

    def run_round(
        self, sample_ids: Sequence[Any] | None = None, *, start: int | None = None, stop: int | None = None
    ) -> list[SampleRecord]:
        """Run the given samples (ids, or the dataset slice ``[start:stop]``) and record them.

        Samples already completed in this run are not queried again; their stored
        records are returned with ``resumed=True``. Returns the latest record for every
        requested sample that has one (errors included).
        """
        run_id = self._require_run()
        ids = list(sample_ids) if sample_ids is not None else self._ids[start:stop]
        known = set(map(repr, self._ids))
        unknown = [i for i in ids if repr(i) not in known]
        if unknown:
            raise ConfigError(f"check {self.check_id} has no sample(s) {unknown[:5]}")
        task = self._task()
        epochs = task.epochs or 1
        self._done = self.completed_ids()
        todo = [i for i in ids if any((i, e) not in self._done for e in range(1, epochs + 1))]
        round_no = sum(1 for _ in self.store.records(run_id, kinds=(ROUND,))) + 1
        self._round_new, self._retries, self._failure = [], {}, None
        t0, ev0 = time.perf_counter(), self.evidence_seconds
        status, error, location = "skipped", None, None
        if todo:
            try:
                status, error, location = self._eval(task, todo)
            finally:
                self.store.flush()  # every queued sample committed (acknowledged) before counting
        failure = self._failure
        new = self._round_new
        requested = {repr(i) for i in ids}
        new_seqs = {r.seq for r in new}
        result = [
            replace(r, resumed=r.seq not in new_seqs) for r in self.records() if repr(r.sample_id) in requested
        ]
        finished = {repr(r.sample_id) for r in result}
        round_data = {
            "round": round_no,
            "requested": len(ids),
            "already_complete": len(ids) - len(todo),
            "queried": len(todo),
            "recorded": len(new),
            "errors": sum(1 for r in new if not r.ok),
            "unfinished": [i for i in todo if repr(i) not in finished],
            "status": status,
            "error": error,
            "evidence_error": None if failure is None else str(failure),
            "inspect_log": location,
            "seconds": round(time.perf_counter() - t0, 3),
            "evidence_seconds": round(self.evidence_seconds - ev0, 4),
        }
        try:
            self.store.append(run_id, ROUND, round_data)
        except EvidenceError:
            if failure is None:
                raise
        if failure is not None:
            raise EvidenceError(f"writing evidence failed during round {round_no}: {failure}") from failure
        return result

    def _only(self, task: Any, todo: list[Any]) -> Any:
        """A copy of ``task`` whose dataset holds just the ``todo`` samples.

        Filtering here rather than with ``eval(sample_id=...)`` keeps ids literal (Inspect
        matches those as glob patterns) and costs O(n) instead of O(n x ids).
        """
        from inspect_ai import task_with

        wanted = {repr(i) for i in todo}
        dataset = task.dataset.filter(lambda s: repr(s.id) in wanted)
        # Inspect starts samples in dataset order and the local provider batches them as they
        # arrive, so ordering by input length gives batches of similar length (as lm-eval
        # does): less padding in every forward pass. Only the order within a round changes;
        # the records and the decisions do not depend on it.
        dataset.sort()  # Inspect's default key: the length of the sample's input
        return task_with(copy.copy(task), dataset=dataset)  # task_with changes the task it is given

    def _eval(self, task: Any, todo: list[Any]) -> tuple[str, str | None, str | None]:
        from modelcert.executors import get_executor

        executor = get_executor(self.executor)
        if executor.distributed:
            from modelcert.runner.fanout import eval_on_replicas

            return eval_on_replicas(self, executor, todo)
        return self._eval_here(task, todo)

    def _eval_here(self, task: Any, todo: list[Any]) -> tuple[str, str | None, str | None]:
        from inspect_ai import eval as inspect_eval

        token = uuid.uuid4().hex
        _hooks.expect(token, self)
        lim = self.limits
        args: dict[str, Any] = {
            "display": "none",
            "fail_on_error": False,
            "retry_on_error": lim.retry_on_error,
            "score_display": False,
            "log_realtime": False,  # the evidence store is the real-time record
            # One log: the evidence store is the record. Inspect's own log keeps only its
            # header (status, error) unless a log_dir was asked for (``--log-dir``).
            **({} if self.log_dir else {"log_samples": False}),
            # Inspect's HTTP control server (uvicorn, started per eval on its event loop) serves
            # `inspect ctl` clients; the engine has none, and it costs every round's start-up.
            "ctl_server": False,
            **({"max_samples": lim.max_samples} if lim.max_samples else {}),
            **self.eval_args,
        }
        try:
            with contextlib.ExitStack() as stack:
                log_dir = str(self.log_dir) if self.log_dir else stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="modelcert-inspect-"))
                # Inspect prints to stdout; keep stdout clean for --json callers.
                stack.enter_context(contextlib.redirect_stdout(sys.stderr))
                stack.enter_context(relaxed_gc())
                stack.enter_context(no_acp_session())
                logs = inspect_eval(
                    self._only(task, todo),
                    model=self._model_for_rounds(),
                    log_dir=log_dir,
                    metadata={_hooks.TOKEN_KEY: token, "modelcert_run": self.run_id},
                    **args,
                )
        finally:
            _hooks.forget(token)
        log = logs[0]
        location = log.location if self.log_dir else None
        return log.status, (log.error.message if log.error else None), location

    # -- hook callbacks (Inspect's event loop) -------------------------------------------

    def _on_retry(self, data: Any) -> None:
        self._retries.setdefault(data.sample_id or "", []).append(
            {
                "attempt": data.attempt,
                "wait_s": round(data.wait_time, 3),
                "status": data.status_code,
                "error": data.exception_type,
            }
        )

    def _on_sample_end(self, data: Any) -> None:
        """Turn the finished sample into a record and queue it; the writer thread commits it.

        The hook returns without waiting for the database, so a slow commit (a PostgreSQL
        round trip) never holds up Inspect's event loop. The sample counts as done (for the
        round's result and ``on_record``) only once its record is committed.
        """
        if self._failure is not None:
            return
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            sample = data.sample
            if (sample.id, sample.epoch) in self._done:
                return  # another epoch of a partly complete sample: already recorded
            kind, body = sample_record(sample, retries=self._retries.pop(data.sample_id, None))
            body, disclosure = commit_secret(body)  # secret-suite samples are hashed committed
            self.store.submit(self._require_run(), kind, body, disclosure=disclosure,
                              on_commit=lambda fut, k=kind, b=body: self._on_commit(fut, k, b))
        except BaseException as exc:  # hooks' exceptions are swallowed by Inspect: keep it
            self._failure = exc
        finally:
            self.evidence_seconds += time.perf_counter() - t0
            self.evidence_cpu_seconds += time.thread_time() - c0

    def _on_commit(self, fut: Any, kind: str, body: dict[str, Any]) -> None:
        """On the store's writer thread: the record is acknowledged (or refused)."""
        try:
            rec = fut.result()
            sr = SampleRecord(body["sample_id"], body["epoch"], kind == SAMPLE, rec.seq, rec.hash, body)
            if sr.ok:
                self._done.add((sr.sample_id, sr.epoch))
            self._round_new.append(sr)
            if self.on_record is not None:
                self.on_record(sr)
        except BaseException as exc:  # a future's callback must not raise: keep it for the round
            if self._failure is None:
                self._failure = exc

    def finish_run(self, data: dict[str, Any] | None = None) -> Record:
        """Write ``run_end``: counts and the Merkle root. Nothing can be appended after it."""
        run_id = self._require_run()
        latest = self.records()
        summary = {
            "samples": sum(1 for r in latest if r.ok),
            "errors": sum(1 for r in latest if not r.ok),
            **(data or {}),
        }
        return self.store.finish(run_id, summary)

    def run(self, *, round_size: int | None = None, limit: int | None = None) -> list[SampleRecord]:
        """Start (or resume), run the first ``limit`` samples in rounds, finish; return records."""
        self.start_run()
        ids = self._ids[:limit] if limit else self._ids
        size = round_size or len(ids) or 1
        for k in range(0, len(ids), size):
            self.run_round(ids[k : k + size])
        self.finish_run()
        return self.records()
