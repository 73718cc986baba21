"""``modelcert bias``: run the counterfactual decision suite and write its effects table.

``run`` queries the target and writes, next to Inspect's own log, ``effects.json``,
``effects.md`` and ``forest.svg``; ``analyze`` does the same from an existing log;
``power`` sizes a run. Exit code 1 when any effect survives Benjamini–Hochberg.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from modelcert.cli.options import AccessOpt, ModelOpt
from modelcert.errors import ConfigError, ModelCallError

app = typer.Typer(help="Bias in EU decision domains: counterfactual suites, effects, power.", no_args_is_help=True)

ListOpt = Annotated[str | None, typer.Option(help="Comma-separated subset (default: all).")]
ToleranceOpt = Annotated[
    float, typer.Option(help="Equivalence margin, in units of --scale (probability: 0.05 = 5 points).")
]
ScaleOpt = Annotated[str, typer.Option(help="Effect scale: probability (any tier) or logodds.")]
QOpt = Annotated[float, typer.Option(help="Benjamini–Hochberg false discovery rate.")]
RefOpt = Annotated[
    list[str] | None, typer.Option("--reference", help="Reference value ATTRIBUTE=VALUE (repeatable).")
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder for effects.json, effects.md, forest.svg.")]


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _plan(tolerance: float, scale: str, q: float, reference: list[str] | None):
    from modelcert.checks.bias_analysis import AnalysisPlan

    refs: dict[str, str] = {}
    for item in reference or []:
        attr, sep, value = item.partition("=")
        if not sep or not attr or not value:
            raise ConfigError(f"--reference must look like ATTRIBUTE=VALUE, got {item!r}")
        refs[attr.strip()] = value.strip()
    return AnalysisPlan(tolerance=tolerance, scale=scale, q=q, reference=refs)  # type: ignore[arg-type]


def _report(table, files: dict[str, Path], as_json: bool) -> None:
    summary = table.summary()
    if as_json:
        print(json.dumps({"summary": summary, "files": {k: str(v) for k, v in files.items()}}, indent=2))
    else:
        console = Console()
        console.print(
            f"[bold]bias.decisions[/] ({table.mode}): {summary['effects']} effects in {summary['cells']} cells, "
            f"{summary['items']} items — flagged {summary['flagged']}, equivalent {summary['equivalent']}, "
            f"inconclusive {summary['inconclusive']}, undecided {summary['undecided']}, errors {summary['errors']}"
        )
        k = 100.0 if table.plan.scale == "probability" else 1.0
        shown = table.flagged or sorted(table.rows, key=lambda r: r.adjusted_p)[:5]
        out = Table("attribute", "domain", "lang", "value vs ref", "effect", "95% CI", "BH p", "flagged", "TOST",
                    title="flagged effects" if table.flagged else "nothing flagged; smallest BH p")
        for r in shown:
            out.add_row(r.attribute, r.domain, r.lang, f"{r.level} vs {r.reference}", f"{r.estimate * k:+.2f}",
                        f"[{r.lower * k:+.2f}, {r.upper * k:+.2f}]", f"{r.adjusted_p:.2g}",
                        "yes" if r.flagged else "no", "equivalent" if r.equivalent else "—")
        console.print(out)
        console.print("attributes: " + ", ".join(f"{a}: {s}" for a, s in summary["attributes"].items()))
        console.print("written: " + ", ".join(str(p) for p in files.values()))
    if table.flagged:
        raise typer.Exit(1)


@app.command("run")
def run(
    model: ModelOpt = "local/zoo:clean",
    access: AccessOpt = None,
    out: OutOpt = Path("bias-results"),
    langs: ListOpt = None,
    domains: ListOpt = None,
    attributes: ListOpt = None,
    signals: ListOpt = None,
    groups: Annotated[
        int | None, typer.Option(min=1, help="Counterfactual groups per lang x domain x attribute x signal x "
                                 "qualification (default: all).")
    ] = None,
    draws: Annotated[int, typer.Option(min=1, help="Sampled answers per item at the api tier.")] = 5,
    temperature: Annotated[float, typer.Option(help="Sampling temperature at the api tier (> 0).")] = 1.0,
    seed: int = 0,
    tolerance: ToleranceOpt = 0.05,
    scale: ScaleOpt = "probability",
    q: QOpt = 0.05,
    reference: RefOpt = None,
    max_retries: int = typer.Option(3, help="Retries per model call."),
    timeout: int = typer.Option(120, help="Seconds per model call attempt."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Run bias.decisions against a target and write the per-cell effects table and forest plot."""
    from modelcert.checks.bias_analysis import analyze_log
    from modelcert.checks.execute import run_check
    from modelcert.checks.registry import get_check
    from modelcert.targets import make_target

    plan = _plan(tolerance, scale, q, reference)
    spec = get_check("bias.decisions")
    target = make_target(model, access)
    target.require(spec.tier, f"check {spec.id}")
    log_dir = out / "inspect"
    before = set(log_dir.glob("*.json")) if log_dir.exists() else set()
    from modelcert.cli.progress import ProgressView

    target.preflight()
    with ProgressView() as progress:
        result = run_check(
            spec, target, max_retries=max_retries, timeout=timeout, log_dir=str(log_dir),
            task_args={"langs": _split(langs), "domains": _split(domains), "attributes": _split(attributes),
                       "signals": _split(signals), "groups_per_stratum": groups, "seed": seed,
                       "access": target.access, "draws": draws, "temperature": temperature},
            on_progress=lambda done, total, errors: progress.update(spec.id, done, total, info=f"errors {errors}"),
        )
        progress.finish(spec.id)
    if result["status"] != "success":
        raise ModelCallError(f"run {result['run_id']} ended with status {result['status']}: {result.get('error')}")
    logs = sorted(set(log_dir.glob("*.json")) - before)
    if len(logs) != 1:
        raise ConfigError(f"expected one new Inspect log in {log_dir}, found {len(logs)}")
    table = analyze_log(logs[0], plan)
    files = {"inspect_log": logs[0], **table.write(out)}
    _report(table, files, as_json)


@app.command("analyze")
def analyze(
    log: Annotated[Path, typer.Argument(help="Inspect log of a bias.decisions run (.json or .eval).")],
    out: OutOpt = Path("bias-results"),
    tolerance: ToleranceOpt = 0.05,
    scale: ScaleOpt = "probability",
    q: QOpt = 0.05,
    reference: RefOpt = None,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Recompute the effects table, forest plot and summary from an existing run's log."""
    from modelcert.checks.bias_analysis import analyze_log

    table = analyze_log(log, _plan(tolerance, scale, q, reference))
    _report(table, table.write(out), as_json)


@app.command("power")
def power(
    delta: Annotated[float, typer.Option(help="Smallest gap to detect (probability points as a fraction, "
                                         "or log-odds with --sd).")],
    rho: Annotated[float, typer.Option(help="Within-pair correlation of the two variants' outcomes.")] = 0.5,
    base_rate: Annotated[float | None, typer.Option(help="Reference approval rate (binary decisions).")] = None,
    sd: Annotated[float | None, typer.Option(help="Outcome SD per variant (continuous scores, e.g. log-odds).")]
    = None,
    alpha: float = 0.05,
    power_: Annotated[float, typer.Option("--power", help="1 - beta.")] = 0.8,
    cells: Annotated[int, typer.Option(min=1, help="Tests corrected together; sizes at alpha/cells "
                                       "(conservative for BH).")] = 1,
) -> None:
    """Counterfactual pairs needed per comparison to detect a gap delta two-sided."""
    from modelcert.stats.power import pairs_needed

    if base_rate is None and sd is None:
        base_rate = 0.5
    n = pairs_needed(delta, rho=rho, sd=sd, base_rate=base_rate, alpha=alpha / cells, power=power_)
    print(json.dumps({"pairs": n, "delta": delta, "rho": rho, "base_rate": base_rate, "sd": sd,
                      "alpha": alpha, "alpha_per_test": alpha / cells, "power": power_}))
