"""Electron DOS benchmark on the GPAW set: every model, ID and OOD splits, and a band-gap probe.

The set's DOS are put on the Materials Project grid (201 energies, −5 to 5 eV
around the Fermi level, max-scaled, Savitzky–Golay smoothed) by
``load_electron_dos``. Every model is trained on a seeded random 80/10/10
split and, where the set's counts allow, on the crystal-system and
species-count OOD splits. Beside MSE×10, MAE, R² (per crystal, as in the
paper) and pooled R², the "physical validity"
column is the band-gap error of a probe (extra trees) trained from the true
DOS of the training crystals to their gap and then fed each model's
predicted test DOS (``metrics.property_probe_score``); the "true DOS" line is
the probe's own floor.

    python benchmarks/electron.py --quick
    python benchmarks/electron.py --models all --device cuda
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from common import SPLITS, add_common_arguments, finish_arguments, print_split_table, run_splits

from dos_estimators.datasets import load_electron_dos
from dos_estimators.metrics import property_probe_score

METRICS = (
    ("mse_x10", "MSE×10"),
    ("mae", "MAE"),
    ("r2_per_crystal", "R²"),
    ("r2_pooled", "R² pooled"),
    ("gap_mse", "gap MSE"),
    ("seconds_per_epoch", "s/epoch"),
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, models=["all"], out="results/electron")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    parser.add_argument("--seed", type=int, default=0, help="split and model seed")
    parser.add_argument("--dataset", default="edos_gpaw", help="name or path for the loader")
    return finish_arguments(parser.parse_args(argv))


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    electron = load_electron_dos(args.dataset, data_home=args.data_home, n_jobs=args.n_jobs)
    structures, dos, gap = electron.structures, electron.dos, np.asarray(electron.gap)
    floors = {}

    def probe(split, key, model, data, y_pred, row, indices):
        y_train, y_test = data[3], data[5]
        gap_train, gap_test = gap[indices[0]], gap[indices[2]]
        # Materials without a known gap (NaN) are left out of the probe.
        train, test = np.isfinite(gap_train), np.isfinite(gap_test)
        report = property_probe_score(
            y_train[train], gap_train[train], y_pred[test], gap_test[test], dos_true=y_test[test]
        )
        row["test"]["gap_mse"] = report["mse"]
        floors[split] = report["mse_true_dos"]

    print(f"{len(structures)} crystals, grid of {dos.shape[1]} energies (eV)")
    results = run_splits(args, structures, dos, args.splits, args.seed, after_fit=probe)
    print(
        f"\nElectron DOS ({args.dataset}), seed {args.seed}"
        f"{' (quick)' if args.quick else ''}, {args.device}; gap MSE in eV²"
    )
    print_split_table(results, args.models, METRICS)
    print(
        "probe on true DOS (floor): "
        + ", ".join(f"{SPLITS[s]} {floor:.3f} eV²" for s, floor in floors.items())
    )
    payload = {
        "dataset": args.dataset,
        "n_crystals": len(structures),
        "seed": args.seed,
        "quick": args.quick,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "gap_probe_floor": floors,
        "results": list(results.values()),
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {out / 'results.json'}")
    return payload


if __name__ == "__main__":
    main()
