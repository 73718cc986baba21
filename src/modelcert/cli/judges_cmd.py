"""``modelcert judges``: the judges' measured error rates on our calibration set."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

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
) -> None:
    """Measure a model judge on the calibration set and save its counts for the checks."""
    from modelcert.errors import ConfigError
    from modelcert.judges.model_graded import calibrate as run

    if positive not in ("complied", "refused") or context not in ("all", "harmful", "benign"):
        raise ConfigError("positive must be complied/refused and context all/harmful/benign")
    cal = run(judge_model, positive=positive, context=context, limit=limit)  # type: ignore[arg-type]
    data = cal.to_dict()
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), "utf-8")
    tmp.replace(out)  # never a half-written calibration file
    Console().print(_table(f"{judge_model} on the calibration set", [data]))
