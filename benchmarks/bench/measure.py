"""Scripts that measure, often in child processes, and keep one JSON file (sharing, speed, scale).

:func:`add_json_report_arguments` gives their options, :func:`run_json_child` runs a
measuring process, :func:`machine_record` says where and when a measurement was taken,
and :func:`save_and_report` writes the JSON file and its table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from .reports import write_docs_block


def add_json_report_arguments(parser: argparse.ArgumentParser, name: str, docs: str) -> None:
    """``--data-home``, ``--out``, ``--report`` and ``--docs`` of a script with one JSON file.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    name : str
        The script's name: its JSON file is ``docs/data/NAME.json``, its block ``NAME``.
    docs : str
        The page its ``--report`` writes into.
    """
    parser.add_argument(
        "--data-home", help="folder holding the data files (default: $DOS_ESTIMATORS_DATA)"
    )
    parser.add_argument("--out", default=f"docs/data/{name}.json", help="the JSON file")
    parser.add_argument("--report", action="store_true", help="only rebuild the docs table")
    parser.add_argument("--docs", default=docs, help="the page the table goes into")


def run_json_child(command: list[str], what: str, env: dict | None = None) -> dict:
    """Run a measuring process to its end and return the last JSON line it printed.

    Parameters
    ----------
    command : list of str
    what : str
        What it measures, for the message when it fails.
    env : dict, optional
        Its environment (default: this process's).

    Raises
    ------
    SystemExit
        If it fails or prints no JSON line (its standard error is shown first).
    """
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{what}: the measuring process failed (exit {done.returncode})")
    return json.loads(lines[-1])


def machine_record(script: str, argv=None) -> dict:
    """Where, when and how a measurement was taken.

    Parameters
    ----------
    script : str
        ``benchmarks/NAME.py``.
    argv : list of str, optional
        The script's arguments (default: this process's command line).

    Returns
    -------
    dict
        ``platform``, ``cores``, ``date`` (UTC), ``command`` and ``load_average`` (the
        1-minute load when the measurement started: near 0 on an idle machine).
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    return {
        "platform": platform.platform(),
        "cores": len(os.sched_getaffinity(0)),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "command": shlex.join(["python", script, *arguments]),
        "load_average": os.getloadavg()[0],
    }


def save_and_report(result: dict | None, out: Path, table, args, script: str) -> str:
    """Write a new ``result`` to ``out``; print the table of what ``out`` holds.

    With ``--report`` (``args.report``) the table also goes into the ``--docs`` page
    (``args.docs``), in the block named after ``script`` (``benchmarks/NAME.py``).

    Parameters
    ----------
    result : dict or None
        A new measurement, or None to report the stored one.
    out : pathlib.Path
        The script's JSON file.
    table : callable
        ``table(result)``: the Markdown text.
    args : argparse.Namespace
    script : str

    Returns
    -------
    str
        The text.
    """
    if result is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
    text = table(json.loads(out.read_text()))
    print(text)
    if args.report:
        write_docs_block(text, Path(args.docs), Path(script).stem, script)
        print(f"wrote {args.docs}")
    return text
