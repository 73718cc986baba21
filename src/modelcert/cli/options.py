"""Options shared by several commands, so they read the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="Inspect model string (openai-api/<svc>/<model>, anthropic/..., vllm/..., hf/...) "
        "or local/<folder> / local/zoo:<name>.",
    ),
]
AccessOpt = Annotated[
    str | None,
    typer.Option("--access", help="Access tier: api, logprobs or weights (default: highest supported)."),
]
DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Evidence store URL (default: $MODELCERT_DB or a file in the user data dir)."),
]
ExecutorOpt = Annotated[
    str | None,
    typer.Option("--executor", help="Where check rounds run: inprocess (default) or ray "
                 "(default: $MODELCERT_EXECUTOR; the cluster is $RAY_ADDRESS, else a local head)."),
]
