"""Two fits at once on one machine: seconds per epoch alone, side by side, with and without
the package's CPU sharing (``dos_estimators._cpu``).

Each situation starts its fits as separate processes. Every process loads the phonon
set and its training split first and waits; once all of them are ready they start
fitting together (each waits on a line from this script, not on a clock), so that
loading does not overlap the epochs measured. A fit is ``DOSTransformerRegressor``
with its defaults and ``random_state=0``, on the training part of the seeded split 0
(1,216 crystals) with its validation part for early stopping, for ``--epochs`` epochs.
The script prints the median seconds per epoch of each process, each situation's
slowdown against the fit alone, and whether the test predictions of the fits at one
thread count are bit-identical (sharing changes the order of turns, never the sums).

    python benchmarks/sharing.py                      # the table of the README
    python benchmarks/sharing.py --situations alone shared
    python benchmarks/sharing.py --report             # writes docs/performance.md's block

Run it on an otherwise idle machine: anything else running changes the figures.
``--report`` rebuilds the table from ``docs/data/sharing.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench.measure import add_json_report_arguments, machine_record, save_and_report

SCRIPT = "benchmarks/sharing.py"

# name: (label, processes, environment of each process)
SITUATIONS = {
    "alone": ("one process, torch's default threads", 1, {}),
    "alone_1": ("one process, 1 thread", 1, {"OMP_NUM_THREADS": "1"}),
    # Measured when the turns were on by default (before 2026-12-03); the row's
    # environment now asks for them.
    "shared": (
        "two processes at once, default threads, sharing on (DOS_ESTIMATORS_CPU_LOCKS=on)",
        2,
        {"DOS_ESTIMATORS_CPU_LOCKS": "on"},
    ),
    "unshared": (
        "two processes at once, default threads, sharing off (the default)",
        2,
        {"DOS_ESTIMATORS_CPU_LOCKS": "off"},
    ),
    "shared_1": ("two processes at once, 1 thread each", 2, {"OMP_NUM_THREADS": "1"}),
}


def child(args) -> None:
    """One fit: load, say ready, wait for the go, fit, print a JSON line."""
    import torch

    from dos_estimators import DOSTransformerRegressor
    from dos_estimators.datasets import load_phonon_dos
    from dos_estimators.model_selection import train_valid_test_split

    data = load_phonon_dos(data_home=args.data_home)
    X_train, X_valid, X_test, y_train, y_valid, _ = train_valid_test_split(
        data.structures, data.dos, random_state=0
    )
    model = DOSTransformerRegressor(max_epochs=args.epochs, random_state=0)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    model.fit(X_train, y_train, X_valid=X_valid, y_valid=y_valid)
    fit_seconds = time.perf_counter() - start
    prediction = model.predict(X_test)
    durations = list(model.net_.history[:, "dur"])
    print(
        json.dumps(
            {
                "threads": torch.get_num_threads(),
                "n_train": len(X_train),
                "epoch_seconds": durations,
                "median_epoch_seconds": float(np.median(durations)),
                "fit_seconds": fit_seconds,
                "prediction_sha1": hashlib.sha1(prediction.tobytes()).hexdigest(),
            }
        ),
        flush=True,
    )


def run_situation(name, args) -> list[dict]:
    """Start the situation's processes, let them fit together, return their JSON lines."""
    _, n_processes, environment = SITUATIONS[name]
    command = [sys.executable, __file__, "--child", "--epochs", str(args.epochs)]
    if args.data_home:
        command += ["--data-home", args.data_home]
    processes = [
        subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **args.env, **environment},
        )
        for _ in range(n_processes)
    ]
    for process in processes:  # every one has loaded its data
        while process.stdout.readline().strip() != "ready":
            if process.poll() is not None:
                raise SystemExit(f"{name}: a fit process failed before fitting")
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in processes:
        lines = [line for line in process.stdout.read().splitlines() if line.startswith("{")]
        if process.wait() != 0 or not lines:
            raise SystemExit(f"{name}: a fit process failed (exit {process.returncode})")
        results.append(json.loads(lines[-1]))
    return results


def table(runs: dict) -> str:
    alone = np.mean([r["median_epoch_seconds"] for r in runs["alone"]]) if "alone" in runs else None
    lines = [
        "| situation | threads per process | s/epoch (each process) | × alone |",
        "| --- | --- | --- | --- |",
    ]
    for name, results in runs.items():
        seconds = [r["median_epoch_seconds"] for r in results]
        ratio = f"{max(seconds) / alone:.1f}×" if alone else "—"
        lines.append(
            f"| {SITUATIONS[name][0]} | {results[0]['threads']} | "
            f"{' / '.join(f'{s:.1f}' for s in seconds)} | {ratio} |"
        )
    return "\n".join(lines)


def report_text(result: dict) -> str:
    """The table of ``docs/data/sharing.json`` and its notes."""
    same = ", ".join(
        f"{t} thread{'s' if t != '1' else ''}: {'yes' if v else 'NO'}"
        for t, v in result["identical_predictions_per_thread_count"].items()
    )
    return table(result["runs"]) + (
        f"\n\n{result['cores']} cores, {result['epochs']} epochs per fit, median seconds per "
        f"epoch of each process. Test predictions bit-identical across situations at one "
        f"thread count: {same}.\n"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--situations", nargs="+", default=list(SITUATIONS), choices=SITUATIONS)
    parser.add_argument("--epochs", type=int, default=4)
    add_json_report_arguments(parser, "sharing", "docs/performance.md")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment variable for every fit process (repeatable)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.env = dict(item.split("=", 1) for item in args.env)
    if args.child:
        child(args)
        return
    result = None
    if not args.report:
        runs = {}
        for name in args.situations:
            print(f"{SITUATIONS[name][0]} …", flush=True)
            runs[name] = run_situation(name, args)
            print("  s/epoch:", [round(r["median_epoch_seconds"], 2) for r in runs[name]])
        digests = {}
        for results in runs.values():
            for r in results:
                digests.setdefault(r["threads"], set()).add(r["prediction_sha1"])
        result = {
            **machine_record(SCRIPT, argv),
            "epochs": args.epochs,
            "environment": args.env,
            "runs": runs,
            "identical_predictions_per_thread_count": {
                str(t): len(d) == 1 for t, d in digests.items()
            },
        }
    save_and_report(result, Path(args.out), report_text, args, SCRIPT)


if __name__ == "__main__":
    main()
