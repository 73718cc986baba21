"""Tables that never cut an id, digest or name.

Rich's default overflow is an ellipsis, which turns three check ids into the same
``security.backdo…`` at 80 columns or in a pipe. Here the columns named ``whole`` keep
their longest cell on one line (no wrap, minimum width); every other column folds onto
more lines instead of being cut. Rich already takes the width from ``COLUMNS`` when set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table


def listing(columns: Sequence[str], rows: Iterable[Sequence[str]], *, whole: Iterable[str] = (),
            title: str | None = None) -> Table:
    """A table of ``rows`` under ``columns``; the ``whole`` columns are never wrapped or cut.

    A cell of a ``whole`` column may hold several lines (one id per line); the column is
    as wide as its longest line. Light borders leave the width to the cells.
    """
    rows = [list(map(str, r)) for r in rows]
    keep = set(whole)
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    for i, name in enumerate(columns):
        if name in keep:
            width = max([len(name), *(len(line) for r in rows for line in r[i].splitlines())])
            table.add_column(name, no_wrap=True, overflow="ignore", min_width=width)
        else:
            table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(*r)
    return table


def print_table(table: Table) -> None:
    """Print to stdout (plain text when piped: no colour codes in a log or a file)."""
    Console().print(table)
