"""``modelcert evidence``: list, verify, show and export runs in the evidence store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Inspect, verify and export the tamper-evident evidence log.", no_args_is_help=True)

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Evidence store: SQLAlchemy URL or SQLite path (default: $MODELCERT_DB or user data dir)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def _open(db: str | None) -> Any:
    from modelcert.evidence.store import EvidenceStore

    return EvidenceStore(db, create=False)


@app.command("list")
def list_runs(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List the runs in the store, oldest first."""
    with _open(db) as store:
        runs = store.runs()
    if as_json:
        rows = [
            {
                "run_id": r.run_id,
                "created_at": r.created_at.isoformat(),
                "check": (r.start or {}).get("check", {}).get("id"),
                "model": (r.start or {}).get("address") or (r.start or {}).get("model"),
                "records": r.records,
                "samples": r.samples,
                "errors": r.errors,
                "closed": r.closed,
            }
            for r in runs
        ]
        typer.echo(json.dumps({"runs": rows}))
        return
    table = Table(title=f"{len(runs)} run(s); the run id starts with its UTC start time")
    table.add_column("run", no_wrap=True)
    for col in ("check", "model", "samples", "errors", "state"):
        table.add_column(col, overflow="fold")
    for r in runs:
        start = r.start or {}
        table.add_row(
            r.run_id,
            str(start.get("check", {}).get("id", "-")),
            str(start.get("address") or start.get("model", "-")),
            str(r.samples),
            str(r.errors),
            "closed" if r.closed else "open",
        )
    Console().print(table)


@app.command()
def verify(
    run: Annotated[str | None, typer.Argument(help="Run id (or unique prefix).")] = None,
    bundle: Annotated[Path | None, typer.Option("--bundle", help="Verify an exported bundle folder instead.")] = None,
    root: Annotated[str | None, typer.Option("--root", help="Merkle root held independently (e.g. a certificate's).")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute every hash and the Merkle root; name the first bad record. Exit 0 intact, 1 not."""
    from modelcert.errors import ConfigError

    if (run is None) == (bundle is None):
        raise ConfigError("give either a run id or --bundle DIR")
    if bundle is not None:
        from modelcert.evidence.bundle import check_bundle

        result = check_bundle(bundle, expected_root=root)
    else:
        from modelcert.evidence.verify import verify_run

        with _open(db) as store:
            result = verify_run(store, run, expected_root=root)  # type: ignore[arg-type]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run_id": result.run_id,
                    "intact": result.ok,
                    "records": result.records,
                    "closed": result.closed,
                    "merkle_root": result.merkle_root,
                    "head": result.head,
                    "bad_record": result.bad_seq,
                    "problem": result.problem,
                }
            )
        )
    else:
        typer.echo(result.summary())
    raise typer.Exit(0 if result.ok else 1)


def _opened(data: dict[str, Any], values: dict[str, Any] | None) -> dict[str, Any]:
    """The record's data with disclosed plaintext put back at its places; else secret values
    as a short placeholder."""
    from modelcert.evidence import suites

    if values:
        data = json.loads(json.dumps(data))
        for ptr, value in values.items():
            node, key = suites.resolve(data, ptr)
            node[key] = value
    return data


def _short(value: Any, width: int = 200) -> str:
    if isinstance(value, dict) and value.get("redacted") == "secret-suite":
        value = f"<secret-suite item, commitment {str(value.get('commitment'))[:16]}…>"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command()
def show(
    run: Annotated[str, typer.Argument(help="Run id (or unique prefix).")],
    samples: Annotated[int, typer.Option("--samples", "-n", help="How many sample transcripts to print.")] = 5,
    errors_only: Annotated[bool, typer.Option("--errors", help="Show only error records' transcripts.")] = False,
    disclose: Annotated[
        bool, typer.Option("--disclose", help="Show secret-suite plaintext from the store's disclosures (lab only).")
    ] = False,
    db: DbOpt = None,
) -> None:
    """A readable summary of a run and some sample transcripts.

    Secret-suite values show as their commitment unless --disclose puts the stored
    plaintext back (each disclosure is checked against its record first).
    """
    from modelcert.evidence.store import RUN_END, RUN_START, SAMPLE, SAMPLE_ERROR

    console = Console(highlight=False)
    with _open(db) as store:
        run_id = store.resolve_run(run)
        records = list(store.records(run_id))
        opened: dict[int, dict[str, Any]] = {}
        if disclose:
            from modelcert.evidence.disclosure import check_disclosures

            disclosures = list(store.disclosures(run_id))
            check_disclosures(run_id, records, disclosures)
            opened = {d["seq"]: d["values"] for d in disclosures}
    by_kind: dict[str, int] = {}
    start: dict[str, Any] = {}
    end: dict[str, Any] | None = None
    scores: dict[str, list[float]] = {}
    shown = 0
    transcripts = []
    for rec in records:
        by_kind[rec.kind] = by_kind.get(rec.kind, 0) + 1
        if rec.kind == RUN_START:
            start = rec.data
        elif rec.kind == RUN_END:
            end = rec.data
        elif rec.kind in (SAMPLE, SAMPLE_ERROR):
            data = _opened(rec.data, opened.get(rec.seq))
            for name, s in data.get("scores", {}).items():
                if isinstance(s.get("value"), int | float) and not isinstance(s.get("value"), bool):
                    scores.setdefault(name, []).append(float(s["value"]))
            if shown < samples and (not errors_only or rec.kind == SAMPLE_ERROR):
                transcripts.append((rec, data))
                shown += 1
    console.print(f"[bold]run[/bold] {run_id}")
    if start:
        check = start.get("check", {})
        console.print(f"  check      {check.get('id')} v{check.get('version')}  suite {check.get('suite_digest')}")
        console.print(f"  model      {start.get('model')}  access {start.get('access')}")
        console.print(f"  identity   {start.get('target_digest')}")
        console.print(f"  generation {_short(start.get('generation'))}  seed {start.get('seed')}")
        console.print(f"  software   {_short(start.get('software'))}")
    console.print(f"  records    {len(records)}  " + ", ".join(f"{k}={v}" for k, v in sorted(by_kind.items())))
    for name, vals in sorted(scores.items()):
        console.print(f"  score      {name}: mean {sum(vals) / len(vals):.4f} over {len(vals)}")
    if end is not None:
        console.print(f"  closed     run_end root {end.get('merkle_root')} (records before run_end)")
    else:
        console.print("  open       (no run_end record yet)")
    for rec, data in transcripts:
        console.print(f"\n[bold]#{rec.seq} {rec.kind}[/bold] sample {data['sample_id']} epoch {data['epoch']}")
        for msg in data.get("input", []):
            console.print(f"  {msg['role']:>9}: {_short(msg['content'])}")
        out = data.get("output") or {}
        console.print(f"  {'output':>9}: {_short(out.get('completion', ''))}")
        for name, s in data.get("scores", {}).items():
            expl = f" ({_short(s.get('explanation'), 120)})" if s.get("explanation") else ""
            console.print(f"  {'score':>9}: {name} = {s.get('value')}{expl}")
        if data.get("retries"):
            console.print(f"  {'retries':>9}: {len(data['retries'])}")
        if data.get("error"):
            console.print(f"  {'error':>9}: [red]{_short(data['error']['message'])}[/red]")


@app.command()
def export(
    run: Annotated[str, typer.Argument(help="Run id (or unique prefix).")],
    out: Annotated[Path, typer.Option("--out", help="Bundle folder to create (must not exist or be empty).")],
    redact: Annotated[
        str | None,
        typer.Option("--redact", help="'secret': leave out disclosures.jsonl, so secret-suite items appear "
                     "only as commitments (the Merkle root is the same)."),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Write a self-contained bundle (records.jsonl + manifest.json) for third-party verification.

    By default the lab's plaintext of secret-suite samples goes into disclosures.jsonl,
    checkable against the commitments in the records; --redact secret leaves it out.
    """
    from modelcert.errors import ConfigError
    from modelcert.evidence.bundle import export_bundle

    if redact not in (None, "secret"):
        raise ConfigError(f"--redact takes 'secret', not {redact!r}")
    with _open(db) as store:
        manifest = export_bundle(store, run, out, redact=redact == "secret")
    typer.echo(f"exported {manifest['records']} records of run {manifest['run_id']} to {out}")
    red = manifest["redaction"]
    if red["secret_samples"]:
        how = "withheld (commitments only)" if redact else "disclosed in disclosures.jsonl"
        typer.echo(f"secret-suite samples: {red['secret_samples']}, plaintext {how}")
    echoes = red.get("secret_text_in_answers") or []
    if echoes:
        typer.echo(f"warning: {len(echoes)} record(s) still hold secret text in the model's answer "
                   f"(records {', '.join(map(str, echoes[:10]))}{' …' if len(echoes) > 10 else ''}); "
                   "review before handing the bundle out", err=True)
    typer.echo(f"merkle root {manifest['merkle_root']}")


@app.command()
def prove(
    run: Annotated[str, typer.Argument(help="Run id (or unique prefix).")],
    seq: Annotated[int, typer.Option("--seq", help="The record to prove (its position in the run).")],
    db: DbOpt = None,
) -> None:
    """Print one record with its RFC 6962 inclusion proof against the run's Merkle root.

    Lets a single record (e.g. one revealed test item and its answer) be checked against
    a certified root without disclosing the rest of the log.
    """
    from modelcert.errors import EvidenceError
    from modelcert.evidence.chain import inclusion_proof
    from modelcert.evidence.verify import verify_records

    with _open(db) as store:
        run_id = store.resolve_run(run)
        records = list(store.records(run_id))
    result = verify_records(run_id, records)
    if not result.ok:
        raise EvidenceError(result.summary())
    leaves = records  # the anchored root covers every record, run_end included
    if not 0 <= seq < len(leaves):
        raise EvidenceError(f"run {run_id} has no provable record {seq} (0..{len(leaves) - 1})")
    rec = leaves[seq]
    items = [bytes.fromhex(r.hash) for r in leaves]
    typer.echo(
        json.dumps(
            {
                "run_id": run_id,
                "record": {"seq": rec.seq, "kind": rec.kind, "body": rec.body, "prev": rec.prev, "hash": rec.hash},
                "leaf": rec.hash,
                "index": seq,
                "size": len(items),
                "proof": inclusion_proof(items, seq),
                "merkle_root": result.merkle_root,
            },
            indent=2,
        )
    )
