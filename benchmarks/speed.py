"""Speed on the phonon set: loading, prediction throughput, pretrained features, training.

Every figure is taken in a fresh process of its own (a child of this script), so that
"cold" means cold: no crystal system, graph or feature is cached from an earlier figure.

- ``load``: ``load_phonon_dos()`` timed in a fresh interpreter once
  ``dos_estimators.datasets`` is imported (its warm case: the file is on disk, nothing
  else is cached); the import time (pymatgen, pandas, scikit-learn) is reported beside
  it.
- ``predict``: a ``DOSTransformerRegressor`` with its defaults (Magpie + CHGNet node
  features), trained for one epoch on the training part of split 0 (the weights do not
  change the cost of a prediction), predicts the DOS of all 1,521 crystals: from
  Structures never seen by the process (end to end: structure checks, crystal-system
  search, CHGNet's features with the feature cache emptied, graphs, network), then again
  with the crystal systems and features cached (graphs + network), and the network alone
  on graphs already built. The best of ``--repeats`` calls for each; the cold figure is
  a single call on fresh copies of the structures each time. Also the time of each stage
  alone: input checks, crystal-system search (cache emptied), Magpie graphs, network.
- ``chgnet``/``sevennet``: per-atom features of the pretrained potential for the 1,521
  crystals, cache empty, with the embedding's default batch size.
- ``chgnet_fine_tune``: one fine-tuning pass of CHGNet (forward and backward of the
  features, batches of 32) over 256 random phonon crystals, through the package's encoder
  (which stops at the layers the features depend on) and through CHGNet's own forward
  pass, alternated for ``--repeats`` rounds (at least 5); the median of each and of
  their per-round ratio.
- ``parallel``: what joblib's two processes (``n_jobs=2``) do on this machine against
  one: 9,126 graphs (joblib over chunks of 500 here; the package builds graphs in the
  calling process), 1,521 crystal-system searches, Magpie statistics of 1,521 crystals
  and CrystalNN site fingerprints of 200 (``MatminerFeaturizer(n_jobs=...)``).
- ``train``: seconds per epoch of the default fit on the 1,216 training crystals of split
  0 with early stopping on its 152 validation crystals (the median of ``--epochs``).

``--report`` writes the table into ``docs/results.md`` between the ``speed`` markers,
from ``docs/data/speed.json`` alone.

    python benchmarks/speed.py                     # every figure (about 3 minutes)
    python benchmarks/speed.py --figures predict load
    python benchmarks/speed.py --figures chgnet_fine_tune   # needs the chgnet extra
    python benchmarks/speed.py --report

Run it on an otherwise idle machine (nothing else may use the cores); threads are
torch's default unless ``OMP_NUM_THREADS`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.measure import add_json_report_arguments, machine_record, run_json_child, save_and_report

SCRIPT = "benchmarks/speed.py"

# figure: (label, the target as text, the target's value, "rate" or "seconds")
FIGURES = {
    "load": ("`load_phonon_dos()`, fresh process", "≤ 3 s", 3.0, "seconds"),
    "predict": ("prediction, default node features (Magpie + CHGNet)", "", None, None),
    "chgnet": ("CHGNet 0.3.0 per-atom features", "≥ 100 structures/s", 100.0, "rate"),
    "sevennet": ("SevenNet-0 per-atom features", "", None, "rate"),
    "chgnet_fine_tune": ("CHGNet fine-tuning pass, 256 crystals", "", None, None),
    "train": ("training, default fit, 1,216 crystals", "≤ 2 s/epoch", 2.0, "seconds"),
    "parallel": ("joblib processes on this machine (`n_jobs`)", "", None, None),
}
# Crystals of the slow featurizer's figure: about 0.1 s each.
N_SLOW_FEATURIZER = 200
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


# The load figure runs in a bare interpreter: this script's own imports (torch,
# pymatgen, scikit-learn through bench/) would hide what importing the package costs.
LOAD_CHILD = """
import json, sys, time
start = time.perf_counter()
import dos_estimators
from dos_estimators.datasets import load_phonon_dos
imported = time.perf_counter()
data = load_phonon_dos(data_home=sys.argv[1] or None)
import torch
print(json.dumps({
    "seconds": time.perf_counter() - imported,
    "import_seconds": imported - start,
    "n_structures": len(data.structures),
    "threads": torch.get_num_threads(),
}))
"""


def _graph_chunk(structures, cutoff):
    from dos_estimators.graphs import structures_to_graphs

    return structures_to_graphs(structures, cutoff=cutoff)


def measure_parallel(args) -> dict:
    """One process against ``joblib``'s two: graphs, crystal systems, matminer features.

    The package builds graphs in the calling process; the two-process figure for them
    is joblib over chunks of 500 structures here, to show why.
    """
    from joblib import Parallel, delayed
    from matminer.featurizers.composition import ElementProperty
    from matminer.featurizers.structure import SiteStatsFingerprint

    from dos_estimators.features import MatminerFeaturizer
    from dos_estimators.graphs import structures_to_graphs
    from dos_estimators.structures import clear_crystal_system_cache, crystal_systems

    structures = _data(args).structures
    repeated = structures * 6  # 9,126 structures

    def graphs(n_jobs):
        if n_jobs == 1:
            return structures_to_graphs(repeated)
        chunks = [repeated[i : i + 500] for i in range(0, len(repeated), 500)]
        return Parallel(n_jobs=n_jobs)(delayed(_graph_chunk)(c, 5.0) for c in chunks)

    def systems(n_jobs):
        clear_crystal_system_cache()
        crystal_systems(structures, n_jobs=n_jobs)

    def featurizer(kind, n_jobs):
        if kind == "magpie":
            made = MatminerFeaturizer(
                ElementProperty.from_preset("magpie"), source="composition", n_jobs=n_jobs
            )
            crystals = structures
        else:
            made = MatminerFeaturizer(
                SiteStatsFingerprint.from_preset("CrystalNNFingerprint_ops"), n_jobs=n_jobs
            )
            crystals = structures[:N_SLOW_FEATURIZER]
        made.fit(crystals)
        return lambda: made.transform(crystals)

    import warnings

    result = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # matminer's and pymatgen's about radii and bonds
        for n_jobs in (1, 2):
            # Pools are started once before timing: a first call pays the workers' start.
            if n_jobs == 2:
                Parallel(n_jobs=2)(delayed(abs)(i) for i in range(4))
            result[f"graphs_{len(repeated)}_n_jobs_{n_jobs}"] = _best(
                lambda n_jobs=n_jobs: graphs(n_jobs), args.repeats
            )
            result[f"crystal_systems_{len(structures)}_n_jobs_{n_jobs}"] = _best(
                lambda n_jobs=n_jobs: systems(n_jobs), args.repeats
            )
            result[f"magpie_{len(structures)}_n_jobs_{n_jobs}"] = _best(
                featurizer("magpie", n_jobs), args.repeats
            )
            result[f"crystalnn_{N_SLOW_FEATURIZER}_n_jobs_{n_jobs}"] = _best(
                featurizer("crystalnn", n_jobs), 1
            )
    return result


def measure_predict(args) -> dict:
    import warnings

    from dos_estimators import DOSTransformerRegressor
    from dos_estimators.estimators.base import DOSDataset
    from dos_estimators.features import CACHE
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
        CACHE.clear()  # CHGNet's features are keyed by content: copies would hit them
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # crystal systems training never saw
            model.predict(copies)
        cold_seconds = min(cold_seconds, time.perf_counter() - start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm_seconds = _best(lambda: model.predict(structures), args.repeats)
        # The network alone: the graphs the fitted model feeds it, through its one net.
        graphs = DOSDataset(model.graphs(structures))
        network_seconds = _best(lambda: model.net_.predict(graphs), args.repeats)

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
    from dos_estimators.features import CHGNetAtomEmbedding, SevenNetAtomEmbedding

    embedding = {"chgnet": CHGNetAtomEmbedding, "sevennet": SevenNetAtomEmbedding}[name]()
    structures = _data(args).structures
    start = time.perf_counter()
    embedding.fit(structures[:1])  # loads the model; the one crystal is cached, see below
    load_seconds = time.perf_counter() - start
    from dos_estimators.features import CACHE

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


def measure_chgnet_fine_tune(args) -> dict:
    import warnings

    import numpy as np
    import torch

    from dos_estimators.features import CHGNetAtomEmbedding

    structures = _data(args).structures
    picked = np.random.default_rng(0).choice(len(structures), 256, replace=False)
    # The trainable copy of CHGNet that a fine-tuning estimator puts in its network.
    embedding = CHGNetAtomEmbedding(standardize=False, fine_tune=1.0).fit(structures[:1])
    graphs = embedding.encoder_inputs([structures[i] for i in picked])
    encoder = embedding.encoder()
    ways = {
        "package": encoder,
        "chgnet_forward": lambda batch: torch.cat(
            encoder.network(batch, task="e", return_atom_feas=True)["atom_fea"]
        ),
    }
    seconds = {name: [] for name in ways}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(max(args.repeats, 5)):
            for name, encode in ways.items():
                start = time.perf_counter()
                for first in range(0, len(graphs), 32):
                    encode(graphs[first : first + 32]).square().mean().backward()
                seconds[name].append(time.perf_counter() - start)
    ratios = np.divide(seconds["package"], seconds["chgnet_forward"])
    return {
        "n_structures": len(graphs),
        "seconds": {name: float(np.median(t)) for name, t in seconds.items()},
        "round_seconds": seconds,
        "ratio": float(np.median(ratios)),
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

    if args.figure == "predict":
        result = measure_predict(args)
    elif args.figure in ("chgnet", "sevennet"):
        result = measure_potential(args, args.figure)
    elif args.figure == "chgnet_fine_tune":
        result = measure_chgnet_fine_tune(args)
    elif args.figure == "parallel":
        result = measure_parallel(args)
    else:
        result = measure_train(args)
    result["threads"] = torch.get_num_threads()
    print(json.dumps(result), flush=True)


def run_child(figure: str, args) -> dict:
    if figure == "load":
        return run_json_child([sys.executable, "-c", LOAD_CHILD, args.data_home or ""], figure)
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
        elif name == "parallel":
            for what, text in (
                ("graphs", "graphs"),
                ("crystal_systems", "crystal-system searches"),
                ("magpie", "Magpie statistics (matminer)"),
                ("crystalnn", "CrystalNN site fingerprints (matminer)"),
            ):
                one = next(k for k in found if k.startswith(what) and k.endswith("n_jobs_1"))
                count = int(one[len(what) + 1 :].split("_")[0])
                two = one.replace("n_jobs_1", "n_jobs_2")
                lines.append(
                    f"| {label}: {count:,} {text} | {found[one]:.2f} s in one process, "
                    f"{found[two]:.2f} s in two | — | |"
                )
        elif name == "chgnet_fine_tune":
            seconds = found["seconds"]
            lines.append(
                f"| {label} | {seconds['package']:.2f} s through the package's encoder, "
                f"{seconds['chgnet_forward']:.2f} s through CHGNet's own forward pass "
                f"(median ratio {found['ratio']:.2f} over {len(found['round_seconds']['package'])} "
                "alternated rounds) | — | |"
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
            extra = (
                f" (importing `dos_estimators.datasets` before it: {found['import_seconds']:.2f} s)"
                if "import_seconds" in found
                else " per epoch"
                if name == "train"
                else ""
            )
            lines.append(
                f"| {label} | {found['seconds']:.2f} s{extra} | {target_text} | "
                f"{_verdict(found['seconds'], target, kind)} |"
            )
    threads = sorted({f["threads"] for f in figures.values()})
    runs = {}
    for found in figures.values():
        if "record" in found:
            record = found["record"]
            runs.setdefault((record["date"], record["command"]), []).append(record["load_average"])
    measured = "; ".join(
        f"{date} by `{command}` (1-minute load average {min(loads):.2f}–{max(loads):.2f} as "
        "its figures started)"
        for (date, command), loads in sorted(runs.items())
    )
    return (
        "\n".join(lines)
        + f"\n\n{result['cores']} cores, torch threads {'/'.join(map(str, threads))}, "
        f"{result['platform']}. Measured {measured}; each figure runs alone, so the load "
        "average counts the run's own earlier figures.\n"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", nargs="+", default=list(FIGURES), choices=FIGURES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the training figure")
    add_json_report_arguments(parser, "speed", "docs/results.md")
    parser.add_argument("--child", choices=FIGURES, dest="figure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.figure:
        child(args)
        return
    out = Path(args.out)
    result = None
    if not args.report:
        machine = machine_record(SCRIPT, argv)
        previous = json.loads(out.read_text()) if out.exists() else {}
        # Figures not measured by this run keep their earlier values, if from this machine.
        same = all(previous.get(k) == machine[k] for k in ("platform", "cores"))
        figures = dict(previous.get("figures", {})) if same else {}
        for name in args.figures:
            print(f"{FIGURES[name][0]} …", flush=True)
            record = machine_record(SCRIPT, argv)
            figures[name] = {**run_child(name, args), "record": record}
            print("  ", json.dumps(figures[name]), flush=True)
        result = {"platform": machine["platform"], "cores": machine["cores"], "figures": figures}
    save_and_report(result, out, table, args, SCRIPT)


if __name__ == "__main__":
    main()
