"""The ``modelcert`` command line: one Typer sub-app per area, each in its own module.

Commands stay thin: parse options, call the library, print. Errors derived from
:class:`modelcert.errors.ModelcertError` become one line on stderr and exit code 2
(or the error's own code); FAIL verdicts exit 1. ``MODELCERT_DEBUG=1`` adds the
traceback, for bug reports.
"""

from __future__ import annotations

import os
import sys
import traceback

from modelcert.cli.app import app, register_subapps


def main() -> None:
    """Console entry point."""
    from modelcert.errors import ModelcertError

    register_subapps()
    try:
        rc = app(standalone_mode=False)
        if isinstance(rc, int) and rc:  # typer.Exit(code) is returned, not raised, here
            sys.exit(rc)
    except ModelcertError as exc:
        if _debug():
            traceback.print_exc()
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here with standalone_mode=False
        # Typer may vendor its own click, so match by shape rather than by class.
        if type(exc).__name__ == "Abort":
            print("error: aborted", file=sys.stderr)
            sys.exit(130)
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(2)
        if type(exc).__name__ == "PrerequisiteError":  # Inspect: a missing key or package
            if _debug():
                traceback.print_exc()
            from modelcert.targets import _one_line as plain

            print(f"error: {plain(exc)}", file=sys.stderr)
            sys.exit(2)
        raise


def _debug() -> bool:
    return os.environ.get("MODELCERT_DEBUG", "") not in ("", "0")


def _one_line(exc: BaseException) -> str:
    """The message on one line: the CLI promises exactly one line per error."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__


__all__ = ["app", "main"]
