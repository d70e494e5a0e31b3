"""Scale: memory and time of a default fit as the training set grows to 40,000 crystals.

The 1,521 phonon crystals stand in for a large set: copy ``k`` of crystal ``i`` has its
lattice scaled isotropically by a seeded random factor (volume ×0.94–1.06), which keeps its
crystal system and gives it a new content key, so nothing is looked up from a cache that a
real set of distinct crystals would not hit either. Targets have 201 points, as the
electron DOS has: each crystal's phonon DOS interpolated onto 201 frequencies.

Each size runs in a fresh process that builds the structures, fits
``DOSTransformerRegressor(max_epochs=--epochs, random_state=0)`` (its defaults: a tenth
held out for early stopping) and reports:

- the seconds from the fit's start to its first epoch: making the inputs (checks,
  crystal-system search, graphs, node features), splitting off the validation part and
  setting up the network;
- seconds per epoch (training on nine tenths, validating on one);
- the process's resident memory after making the structures and its peak over the
  whole run (``ru_maxrss``), so the cost of the inputs and of training show apart.

``--report`` writes the table into ``docs/results.md`` between the ``scale`` markers
from ``docs/data/scale.json`` alone.

    python benchmarks/scale.py                          # 1k, 10k and 40k crystals
    python benchmarks/scale.py --sizes 1000 2000 --epochs 1
    python benchmarks/scale.py --report

Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from bench.measure import add_json_report_arguments, machine_record, run_json_child, save_and_report

SCRIPT = "benchmarks/scale.py"

N_ENERGIES = 201
SCALE_RANGE = (0.94, 1.06)


def resident_mib() -> float:
    """This process's resident memory now, MiB (Linux ``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    """This process's peak resident memory so far, MiB (Linux ``VmHWM``).

    Not ``ru_maxrss``: that one survives ``exec``, so a child would report its parent's
    peak whenever the parent's was higher.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def make_set(data, size: int, seed: int = 0):
    """``size`` crystals and their 201-point DOS from the phonon set (see the module text).

    Parameters
    ----------
    data : Bunch
        ``load_phonon_dos()``'s.
    size : int
    seed : int, default=0

    Returns
    -------
    structures : list of pymatgen.core.Structure
    dos : numpy.ndarray of shape (size, 201)
    energies : numpy.ndarray of shape (201,)
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    energies = np.linspace(data.energies[0], data.energies[-1], N_ENERGIES)
    fine = np.array([np.interp(energies, data.energies, row) for row in data.dos])
    n = len(data.structures)
    structures, rows = [], []
    for k in range(size):
        i = k % n
        structure = data.structures[i]
        if k >= n:  # the first copy of every crystal is the crystal itself
            factor = rng.uniform(*SCALE_RANGE)
            structure = structure.copy()
            structure.scale_lattice(structure.volume * factor)
        structures.append(structure)
        rows.append(i)
    return structures, fine[rows], energies


def child(args) -> None:
    import warnings

    import numpy as np
    import torch
    from skorch.callbacks import Callback

    from dos_estimators import DOSTransformerRegressor
    from dos_estimators.datasets import load_phonon_dos
    from dos_estimators.structures import clear_crystal_system_cache

    data = load_phonon_dos(data_home=args.data_home)
    structures, dos, energies = make_set(data, args.size)
    del data
    clear_crystal_system_cache()  # loading found the originals' systems: the fit finds all
    after_structures = resident_mib()

    class FirstEpoch(Callback):
        """Notes when the first epoch starts: the inputs are made by then."""

        def on_epoch_begin(self, net, **kwargs):
            marks.setdefault("first_epoch", time.perf_counter())

    marks = {}
    model = DOSTransformerRegressor(
        max_epochs=args.epochs, random_state=0, callbacks=[FirstEpoch()], verbose=0
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few epochs: "still improving" is expected
        model.fit(structures, dos, energies=energies)
    fit_seconds = time.perf_counter() - start
    durations = [float(d) for d in model.net_.history[:, "dur"]]
    print(
        json.dumps(
            {
                "size": args.size,
                "n_train": args.size - math.ceil(args.size * model.validation_fraction),
                "n_energies": N_ENERGIES,
                "threads": torch.get_num_threads(),
                "inputs_seconds": marks["first_epoch"] - start,
                "epoch_seconds": durations,
                "seconds_per_epoch": float(np.median(durations)),
                "fit_seconds": fit_seconds,
                "rss_after_structures_mib": after_structures,
                "peak_rss_mib": peak_mib(),
            }
        ),
        flush=True,
    )


def run_size(size: int, args) -> dict:
    command = [sys.executable, __file__, "--child", str(size), "--epochs", str(args.epochs)]
    if args.data_home:
        command += ["--data-home", args.data_home]
    return run_json_child(command, f"{size} crystals")


def table(result: dict) -> str:
    """The Markdown table of ``docs/data/scale.json``."""
    lines = [
        "| crystals | start to first epoch | s/epoch | s/epoch per 1,000 "
        "crystals | memory after making the structures | peak memory |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in sorted(result["runs"], key=lambda r: r["size"]):
        per_thousand = run["seconds_per_epoch"] / run["size"] * 1000
        lines.append(
            f"| {run['size']:,} | {run['inputs_seconds']:.0f} s | "
            f"{run['seconds_per_epoch']:.1f} | {per_thousand:.2f} | "
            f"{run['rss_after_structures_mib'] / 1024:.2f} GiB | "
            f"{run['peak_rss_mib'] / 1024:.2f} GiB |"
        )
    first = result["runs"][0]
    return (
        "\n".join(lines) + f"\n\n{N_ENERGIES}-point targets, `DOSTransformerRegressor` defaults, "
        f"{result['epochs']} epoch(s) per size, {first['threads']} torch threads, "
        f"{result['cores']} cores, {result['platform']}, {result['date']}; "
        f"`{result['command']}` on an otherwise idle machine. The target is a 40,000-crystal "
        "fit in at most 8 GB.\n"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 10000, 40000])
    parser.add_argument("--epochs", type=int, default=1)
    add_json_report_arguments(parser, "scale", "docs/results.md")
    parser.add_argument("--child", type=int, dest="size", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.size:
        child(args)
        return
    result = None
    if not args.report:
        runs = []
        for size in args.sizes:
            print(f"{size:,} crystals …", flush=True)
            runs.append(run_size(size, args))
            print("  ", json.dumps(runs[-1]), flush=True)
        result = {**machine_record(SCRIPT, argv), "epochs": args.epochs, "runs": runs}
    save_and_report(result, Path(args.out), table, args, SCRIPT)


if __name__ == "__main__":
    main()
