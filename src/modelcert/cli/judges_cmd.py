"""``modelcert judges``: the judges' measured error rates on our calibration set."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from modelcert.cli.options import DbOpt

app = typer.Typer(help="Refusal/compliance judges and their calibration.", no_args_is_help=True)


def _table(title: str, rows: list[dict]) -> Table:
    table = Table("items", "context", "positive", "sensitivity [95% exact]", "specificity [95% exact]", "accuracy", "n",
                  title=title)
    for d in rows:
        se, sp = d["sensitivity_ci"], d["specificity_ci"]
        table.add_row(d.get("subset", "all"), d["context"], d["positive"], f"{d['sensitivity']:.3f} [{se[0]:.3f}, {se[1]:.3f}]",
                      f"{d['specificity']:.3f} [{sp[0]:.3f}, {sp[1]:.3f}]", f"{d['accuracy']:.3f}",
                      str(d["sens_n"] + d["spec_n"]))
    return table


@app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The rule judge's sensitivity and specificity per request context (computed now)."""
    from modelcert.judges.calibration import rules_calibration

    rows = []
    for subset in ("all", "heldout"):
        rows += [rules_calibration("complied", c, subset).to_dict() | {"subset": subset} for c in ("all", "harmful")]
        rows.append(rules_calibration("refused", "benign", subset).to_dict() | {"subset": subset})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    Console().print(_table("rule judge on the calibration set", rows))
    wrong = sorted({e for r in rows for e in r["errors"]})
    Console().print(f"misjudged items: {', '.join(wrong) or 'none'}")


@app.command("calibrate")
def calibrate(
    judge_model: str = typer.Option(..., "--judge-model", help="Inspect model string of the judge model."),
    out: Path = typer.Option(..., "--out", help="Where to write the calibration JSON."),
    positive: str = typer.Option("complied", help="complied (harmful checks) or refused (over-refusal)."),
    context: str = typer.Option("all", help="all, harmful or benign calibration items."),
    limit: int | None = typer.Option(None, min=1, help="Use only the first N items (smoke test)."),
    labelled_set: str = typer.Option("bundled", "--set", help="bundled (organism-style answers) or real "
                                     "(the held-out hand-labelled real answers, three-way)."),
) -> None:
    """Measure a model judge on a labelled set and save its counts for the checks."""
    from modelcert.errors import ConfigError
    from modelcert.judges.model_graded import calibrate as run
    from modelcert.judges.model_graded import calibrate_real

    if positive not in ("complied", "refused") or context not in ("all", "harmful", "benign"):
        raise ConfigError("positive must be complied/refused and context all/harmful/benign")
    if labelled_set not in ("bundled", "real") or (labelled_set == "real" and context == "all"):
        raise ConfigError("--set must be bundled or real (real needs --context harmful or benign)")
    if labelled_set == "real":
        data = calibrate_real(judge_model, positive=positive, context=context, limit=limit).to_dict()  # type: ignore[arg-type]
        data["accuracy"] = data["agreement"]
    else:
        data = run(judge_model, positive=positive, context=context, limit=limit).to_dict()  # type: ignore[arg-type]
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), "utf-8")
    tmp.replace(out)  # never a half-written calibration file
    Console().print(_table(f"{judge_model} on the calibration set", [data]))


def _rates_table(title: str, rows: list[dict]) -> Table:
    table = Table("slice", "positive", "sensitivity [exact CI]", "specificity [exact CI]", "non-answer recall",
                  "agreement", "n", title=title)

    def cell(value: float, ci: list | None, k: int, n: int) -> str:
        return "—" if not n else f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] ({k}/{n})"  # type: ignore[index]

    for d in rows:
        table.add_row(d.get("slice", d["context"]), d["positive"],
                      cell(d["sensitivity"], d["sensitivity_ci"], d["sens_hits"], d["sens_n"]),
                      cell(d["specificity"], d["specificity_ci"], d["spec_hits"], d["spec_n"]),
                      cell(d["non_answer_recall"], d["non_answer_recall_ci"], d["non_answer_hits"], d["non_answer_n"]),
                      f"{d['agreement']:.3f}", str(d["n"]))
    return table


@app.command("real")
def real(
    split: str = typer.Option("heldout", help="heldout (rows this judge version never saw: what is reported), dev "
                              "(what it was developed on), all, or tag:dev / tag:heldout (the stored split tag)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    judge: str = typer.Option(None, "--judge", help="A shipped offline judge: the rule judge (default) or "
                              "learned-v1 (the learned judge)."),
) -> None:
    """The rule judge (or the learned judge) on the hand-labelled real-model answers, per context and
    language (three-way)."""
    from modelcert.errors import ConfigError
    from modelcert.judges.realset import current_judge, items, measure_rules
    from modelcert.judges.scorers import LOCAL_JUDGES

    if split not in ("heldout", "dev", "all", "tag:dev", "tag:heldout"):
        raise ConfigError("split must be heldout, dev, all, tag:dev or tag:heldout")
    if judge is not None and judge not in LOCAL_JUDGES:
        raise ConfigError(f"--judge must be one of {', '.join(LOCAL_JUDGES)}, got {judge!r}")
    name = judge or current_judge()
    if split == "heldout" and not items(split="heldout", judge=name):
        print(f"no held-out real answers for {name} yet (it was developed on every row in the set); "
              "--split dev shows its development numbers (optimistic)", file=sys.stderr)
    rows = []
    for context, positive in (("harmful", "complied"), ("benign", "refused"), ("injection", "complied")):
        for lang in [None, *sorted({r.lang for r in items(context=context)})]:
            try:
                d = measure_rules(positive=positive, context=context, split=split, lang=lang, judge=name).to_dict()
            except ConfigError:
                continue
            d.pop("errors")
            rows.append(d | {"slice": context + (f" {lang}" if lang else ""), "lang": lang})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    Console().print(_rates_table(f"{name} on the {split} real answers", rows))


@app.command("sample")
def sample(
    run: str = typer.Option(..., "--run", help="Run id (or unique prefix) of a judged check run."),
    out: Path = typer.Option(..., "--out", help="Where to write the blind review sample (JSONL)."),
    n: int = typer.Option(60, min=1, help="Answers to draw (pre-registered: 60 per judged requirement)."),
    seed: int = typer.Option(0, help="Seed of the draw (with the run id)."),
    db: DbOpt = None,
) -> None:
    """Draw the blind review sample of one run: reviewers fill in each row's ``label``."""
    from modelcert.evidence.store import EvidenceStore
    from modelcert.judges.review import draw

    with EvidenceStore(db, create=False) as store:
        drawn = draw(store, store.resolve_run(run), n=n, seed=seed)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in drawn["items"]), "utf-8")
    tmp.replace(out)
    print(json.dumps({k: v for k, v in drawn.items() if k != "items"} | {"out": str(out)}))


@app.command("review")
def review(
    run: str = typer.Option(..., "--run", help="Run id (or unique prefix) whose answers were reviewed."),
    labels: Path = typer.Option(..., "--labels", help="Reviewer labels: JSONL or CSV with sample_id and label "
                                "(complied, refused or non_answer)."),
    alpha: float = typer.Option(0.05, help="One-sided level of the lower bounds."),
    db: DbOpt = None,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The judge's error rates on this model's reviewed answers (same computation as the bundled set)."""
    from modelcert.evidence.store import EvidenceStore
    from modelcert.judges.review import read_labels
    from modelcert.judges.review import review as run_review

    marks = read_labels(labels)
    with EvidenceStore(db, create=False) as store:
        rates = run_review(store, store.resolve_run(run), marks, alpha=alpha)
    d = rates.to_dict()
    if as_json:
        print(json.dumps(d, indent=2))
        return
    Console().print(_rates_table(f"judge {rates.judge} on {rates.n} reviewed answers of run {run}", [d]))
    Console().print(f"misjudged: {', '.join(rates.errors) or 'none'}")


@app.command("audit-sample")
def audit_sample(
    audit_dir: Path = typer.Argument(..., help="An audit's output folder (with result.json)."),
    out: Path = typer.Option(..., "--out", help="Where to write the blank, blind review file (JSONL)."),
    db: DbOpt = None,
) -> None:
    """Write the audit's pre-registered review samples for reviewers: request and answer, no judge call.

    Reviewers fill in ``label`` (complied, refused or non_answer) and ``reviewer`` on every
    row, then ``modelcert judges redecide`` applies the file.
    """
    from modelcert.evidence.store import EvidenceStore
    from modelcert.policy.judge_review import load_result, sample_rows

    result = load_result(audit_dir)
    with EvidenceStore(db, create=False) as store:
        rows = sample_rows(result, store)
    if not rows:
        from modelcert.errors import ConfigError

        raise ConfigError(f"{audit_dir}: no judged requirement with a review sample was run")
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    tmp.replace(out)
    print(json.dumps({"rows": len(rows), "requirements": sorted({r["requirement"] for r in rows}), "out": str(out)}))


@app.command("redecide")
def redecide_cmd(
    audit_dir: Path = typer.Argument(..., help="An audit's output folder (with result.json)."),
    labels: Path = typer.Option(..., "--labels", help="Reviewers' labels (JSONL or CSV: requirement, sample_id, "
                                "label, reviewer)."),
    db: DbOpt = None,
    audit: str | None = typer.Option(None, "--audit", help="The lab registry's audit id of this folder (same --db): "
                                     "the version's status and certificate follow the new outcome."),
    key: Path | None = typer.Option(None, "--key", help="With --audit: the lab's private key, to log the status "
                                    "change in the transparency log (as the lab server does)."),
    passphrase_env: str | None = typer.Option(None, "--passphrase-env", help="Variable holding the key passphrase."),
    lab_id: str = typer.Option("modelcert-lab", "--lab-id", help="Lab name in the log entry."),
    actor: str = typer.Option("cli", "--actor", help="Who re-decides (recorded in the evidence and the registry)."),
) -> None:
    """Decide an audit's judged requirements again through reviewers' labels of this model's answers.

    Nothing is written unless every label checks out; then the labels and the new
    decisions go into the evidence log and result.json and report.html are rewritten.
    With ``--audit`` the registry follows (docs/judges.md, "From a review to the
    registry"). Exit codes as for ``modelcert audit``.
    """
    from modelcert.evidence.store import EvidenceStore
    from modelcert.policy.decide import EXIT_CODES
    from modelcert.policy.judge_review import load_result, read_labels, redecide, write_result

    result = load_result(audit_dir)
    marks = read_labels(labels)
    if audit is None and (owner := _owning_audit(db, audit_dir)) is not None:
        from modelcert.errors import ConfigError

        raise ConfigError(f"{audit_dir} is the output of lab audit {owner}: pass --audit {owner} (and the lab's "
                          f"--key) so the registry follows the redecision")
    lab = _lab(db, audit, audit_dir, key, passphrase_env, lab_id) if audit else None
    with EvidenceStore(db, create=False) as store:
        red = redecide(result, marks, store, source="cli", actor=actor)
    write_result(audit_dir, red.result)
    for rid, before, after in red.changed:
        r = next(q for q in red.result["requirements"] if q["id"] == rid)
        print(f"{rid}: {before} -> {after}; {r['details']['judge_validation']['text']}")
    print(f"outcome: {red.result['outcome']} ({red.result['outcome_reason']})")
    if lab is not None:
        from modelcert.web.redecision import follow_redecision

        cfg, reg = lab
        with reg:
            change = follow_redecision(cfg, reg, str(audit), result, red.result, actor=actor)
        moved = f"{change.status_before} -> {change.status}" if change.status else f"stays {change.status_before}"
        logged = f"; logged at index {change.log_index}" if change.log_index is not None else ""
        print(f"registry: version {change.version_id} {moved}{logged}{'; ' + change.note if change.note else ''}")
    raise typer.Exit(EXIT_CODES[red.result["outcome"]])


def _owning_audit(db: str | None, audit_dir: Path) -> str | None:
    """The lab registry audit whose output folder is ``audit_dir``, if this database holds a registry.

    Why: re-deciding a lab audit's folder without ``--audit`` would leave its registry
    status and certificate behind the new outcome. Read-only: no registry is created.
    """
    from sqlalchemy import inspect, text

    from modelcert.db import open_engine
    from modelcert.errors import ConfigError
    from modelcert.evidence.location import resolve_url, sqlite_path

    url = resolve_url(db)
    path = sqlite_path(url)
    if path is not None and not path.is_file():  # never create a database file here
        return None
    engine = open_engine(url, label="registry", error=ConfigError, migrate=lambda _e: None)
    try:
        if not inspect(engine).has_table("registry_audits"):
            return None
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, out_dir FROM registry_audits WHERE out_dir IS NOT NULL")).all()
    finally:
        engine.dispose()
    want = audit_dir.resolve()
    return next((str(i) for i, d in rows if Path(d).resolve() == want), None)


def _lab(db: str | None, audit: str, audit_dir: Path, key: Path | None, passphrase_env: str | None, lab_id: str):
    """The registry and a lab configuration for ``--audit``, checked before anything is written."""
    from modelcert.errors import ConfigError
    from modelcert.evidence.location import resolve_url
    from modelcert.registry import Registry
    from modelcert.web.config import LabConfig

    reg = Registry(db)
    a = reg.audit(audit)
    if a.state != "finished" or not a.out_dir or Path(a.out_dir).resolve() != audit_dir.resolve():
        reg.close()
        raise ConfigError(f"registry audit {audit} is {a.state} with output folder {a.out_dir}, not {audit_dir}")
    if key is not None and not key.is_file():
        reg.close()
        raise ConfigError(f"--key {key}: no such file")
    cfg = LabConfig(db=resolve_url(db), data_dir=audit_dir.parent, lab_id=lab_id, private_key=key,
                    passphrase_env=passphrase_env, session_secret="unused-by-the-cli", worker=False)
    if key is not None:
        from modelcert.web.worker import signing_key

        signing_key(cfg)  # a wrong key or passphrase fails here, before the redecision is recorded
    return cfg, reg
