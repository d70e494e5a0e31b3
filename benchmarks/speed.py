"""Speed on the phonon set: loading, prediction throughput, pretrained features, training.

Every figure is taken in a fresh process of its own (a child of this script), so that
"cold" means cold: no crystal system, graph or feature is cached from an earlier figure.

- ``load``: ``load_phonon_dos()`` timed in a fresh process after ``import dos_estimators``
  (its warm case: the file is on disk, nothing else is cached).
- ``predict``: a ``DOSTransformerRegressor`` with its defaults (Magpie node features),
  trained for one epoch on the training part of split 0 (the weights do not change the
  cost of a prediction), predicts the DOS of all 1,521 crystals: from Structures never
  seen by the process (end to end: structure checks, crystal-system search, graphs,
  network), then again with the crystal systems cached (graphs + network), and the
  network alone on graphs already built. The best of ``--repeats`` calls for each; the
  cold figure is a single call on fresh copies of the structures each time. Also the
  time of each stage alone: input checks, crystal-system search (cache emptied),
  Magpie graphs, network.
- ``chgnet``/``sevennet``: per-atom features of the pretrained potential for the 1,521
  crystals, cache empty, with the embedding's default batch size.
- ``train``: seconds per epoch of the default fit on the 1,216 training crystals of split
  0 with early stopping on its 152 validation crystals (the median of ``--epochs``).

``--report`` writes the table into ``docs/results.md`` between the ``speed`` markers,
from ``docs/data/speed.json`` alone.

    python benchmarks/speed.py                     # every figure (about 3 minutes)
    python benchmarks/speed.py --figures predict load
    python benchmarks/speed.py --report

Run it on an otherwise idle machine (nothing else may use the cores); threads are
torch's default unless ``OMP_NUM_THREADS`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from common import machine_record, run_json_child, save_and_report

SCRIPT = "benchmarks/speed.py"

# figure: (label, the target as text, structures/s or seconds to meet it, "rate"/"time")
FIGURES = {
    "load": ("`load_phonon_dos()`, fresh process", "≤ 3 s", 3.0, "seconds"),
    "predict": ("prediction, Magpie node features", "", None, None),
    "chgnet": ("CHGNet 0.3.0 per-atom features", "≥ 100 structures/s", 100.0, "rate"),
    "sevennet": ("SevenNet-0 per-atom features", "", None, "rate"),
    "train": ("training, default fit, 1,216 crystals", "≤ 2 s/epoch", 2.0, "seconds"),
}
PREDICT_TARGETS = {"end_to_end": 800.0, "graphs_network": 2000.0}


def _data(args):
    from dos_estimators.datasets import load_phonon_dos

    return load_phonon_dos(data_home=args.data_home)


def _split(data):
    from dos_estimators.model_selection import train_valid_test_split

    return train_valid_test_split(data.structures, data.dos, random_state=0)


def _best(function, repeats: int) -> float:
    """The shortest of ``repeats`` timed calls of ``function()``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def measure_load(args) -> dict:
    import dos_estimators  # noqa: F401  (the import is not part of the figure)

    start = time.perf_counter()
    data = _data(args)
    return {"seconds": time.perf_counter() - start, "n_structures": len(data.structures)}


def measure_predict(args) -> dict:
    import warnings

    from dos_estimators import DOSTransformerRegressor
    from dos_estimators.graphs import structures_to_graphs
    from dos_estimators.structures import (
        check_structures,
        clear_crystal_system_cache,
        crystal_systems,
    )

    data = _data(args)
    X_train, X_valid, _, y_train, y_valid, _ = _split(data)
    model = DOSTransformerRegressor(max_epochs=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch: "still improving" is expected
        model.fit(X_train, y_train, X_valid=X_valid, y_valid=y_valid)
    structures = data.structures
    n = len(structures)

    # Copies are made outside the timed call: a user's structures are new objects too.
    cold_seconds = float("inf")
    for _ in range(args.repeats):
        copies = [s.copy() for s in structures]
        clear_crystal_system_cache()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # crystal systems training never saw
            model.predict(copies)
        cold_seconds = min(cold_seconds, time.perf_counter() - start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm_seconds = _best(lambda: model.predict(structures), args.repeats)
        graphs = model._inputs(structures)
        network_seconds = _best(lambda: model._predict_inputs(graphs), args.repeats)

    def systems():
        clear_crystal_system_cache()
        crystal_systems(structures, symprec=model.symprec)

    stages = {
        "checks": _best(lambda: check_structures(structures), args.repeats),
        "crystal_systems": _best(systems, args.repeats),
        "graphs": _best(
            lambda: structures_to_graphs(structures, cutoff=model.cutoff), args.repeats
        ),
        "network": network_seconds,
    }
    return {
        "n_structures": n,
        "end_to_end": n / cold_seconds,
        "graphs_network": n / warm_seconds,
        "network": n / network_seconds,
        "stage_seconds": stages,
    }


def measure_potential(args, name: str) -> dict:
    from dos_estimators.embeddings import CHGNetAtomEmbedding, SevenNetAtomEmbedding

    embedding = {"chgnet": CHGNetAtomEmbedding, "sevennet": SevenNetAtomEmbedding}[name]()
    structures = _data(args).structures
    start = time.perf_counter()
    embedding.fit(structures[:1])  # loads the model; the one crystal is cached, see below
    load_seconds = time.perf_counter() - start
    from dos_estimators.embeddings import CACHE

    CACHE.clear()
    start = time.perf_counter()
    embedding.transform(structures)
    seconds = time.perf_counter() - start
    return {
        "n_structures": len(structures),
        "rate": len(structures) / seconds,
        "seconds": seconds,
        "model_load_seconds": load_seconds,
        "batch_size": embedding.batch_size,
    }


def measure_train(args) -> dict:
    import warnings

    import numpy as np

    from dos_estimators import DOSTransformerRegressor

    X_train, X_valid, _, y_train, y_valid, _ = _split(_data(args))
    model = DOSTransformerRegressor(max_epochs=args.epochs, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X_train, y_train, X_valid=X_valid, y_valid=y_valid)
    durations = [float(d) for d in model.net_.history[:, "dur"]]
    return {
        "n_train": len(X_train),
        "n_valid": len(X_valid),
        "epoch_seconds": durations,
        "seconds": float(np.median(durations)),
    }


def child(args) -> None:
    import torch

    if args.figure == "load":
        result = measure_load(args)
    elif args.figure == "predict":
        result = measure_predict(args)
    elif args.figure in ("chgnet", "sevennet"):
        result = measure_potential(args, args.figure)
    else:
        result = measure_train(args)
    result["threads"] = torch.get_num_threads()
    print(json.dumps(result), flush=True)


def run_child(figure: str, args) -> dict:
    command = [sys.executable, __file__, "--child", figure]
    command += ["--repeats", str(args.repeats), "--epochs", str(args.epochs)]
    if args.data_home:
        command += ["--data-home", args.data_home]
    return run_json_child(command, figure)


def _verdict(value: float, target: float, kind: str) -> str:
    met = value <= target if kind == "seconds" else value >= target
    return "met" if met else "not met"


def table(result: dict) -> str:
    """The Markdown table of ``docs/data/speed.json``'s figures."""
    lines = ["| figure | measured | target | |", "| --- | --- | --- | --- |"]
    figures = result["figures"]
    for name, (label, target_text, target, kind) in FIGURES.items():
        if name not in figures:
            continue
        found = figures[name]
        if name == "predict":
            stages = found["stage_seconds"]
            for key, text in (
                ("end_to_end", "end to end, from new Structures"),
                ("graphs_network", "graphs + network (crystal systems cached)"),
                ("network", "network alone (graphs built)"),
            ):
                goal = PREDICT_TARGETS.get(key)
                lines.append(
                    f"| {label}: {text} | {found[key]:,.0f} structures/s | "
                    + (
                        f"≥ {goal:,.0f} structures/s | {_verdict(found[key], goal, 'rate')} |"
                        if goal
                        else "— | |"
                    )
                )
            split = ", ".join(
                f"{stage.replace('_', ' ')} {seconds:.2f} s" for stage, seconds in stages.items()
            )
            lines.append(
                f"| {label}: time of each stage, {found['n_structures']:,} crystals | "
                f"{split} | — | |"
            )
        elif kind == "rate":
            lines.append(
                f"| {label} | {found['rate']:,.0f} structures/s ({found['seconds']:.1f} s for "
                f"{found['n_structures']:,}; batches of {found['batch_size']}) | "
                + (
                    f"{target_text} | {_verdict(found['rate'], target, kind)} |"
                    if target
                    else "— | |"
                )
            )
        else:
            lines.append(
                f"| {label} | {found['seconds']:.2f} s"
                + (" per epoch" if name == "train" else "")
                + f" | {target_text} | {_verdict(found['seconds'], target, kind)} |"
            )
    threads = sorted({f["threads"] for f in figures.values()})
    return (
        "\n".join(lines)
        + f"\n\n{result['cores']} cores, torch threads {'/'.join(map(str, threads))}, "
        f"{result['platform']}, {result['date']}; "
        "`python benchmarks/speed.py` on an otherwise idle machine.\n"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", nargs="+", default=list(FIGURES), choices=FIGURES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the training figure")
    parser.add_argument("--data-home", default=os.environ.get("DOS_ESTIMATORS_DATA"))
    parser.add_argument("--out", default="docs/data/speed.json")
    parser.add_argument("--report", action="store_true", help="only rebuild the docs table")
    parser.add_argument("--docs", default="docs/results.md")
    parser.add_argument("--child", choices=FIGURES, dest="figure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.figure:
        child(args)
        return
    out = Path(args.out)
    result = None
    if not args.report:
        previous = json.loads(out.read_text())["figures"] if out.exists() else {}
        figures = {}
        for name in args.figures:
            print(f"{FIGURES[name][0]} …", flush=True)
            figures[name] = run_child(name, args)
            print("  ", json.dumps(figures[name]), flush=True)
        # Figures not measured by this run keep their earlier values.
        result = {**machine_record(SCRIPT), "figures": {**previous, **figures}}
    save_and_report(result, out, table, args, SCRIPT)


if __name__ == "__main__":
    main()
