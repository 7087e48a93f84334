"""Run the `spectfewshot` command line in-process for tests: exit code, stdout and stderr."""

import contextlib
import io

from SPECTFewShotLib.cli import main


def run_cli(*argv):
    """`spectfewshot ARGV...` in this process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()
