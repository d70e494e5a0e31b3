"""Out-of-distribution benchmark on the phonon set: the paper's Table 2 layout (and Table 3).

Each model is trained three times: on a seeded random 80/10/10 split (ID), on
the crystal-system split (train on cubic, hexagonal, tetragonal, trigonal and
orthorhombic; hold out monoclinic and triclinic) and on the species-count
split (train on binary and ternary; hold out unary, quaternary and quinary).
As in the paper, the held-out crystals of an OOD split are halved at random
into validation (early stopping) and test. ``--fine-tune`` then takes 10 % of
each OOD test part, fine-tunes DOSTransformer on it (prompts and decoder only,
and all parameters) and scores the other 90 % before and after.

    python benchmarks/ood.py --quick                    # smoke run (CI-sized)
    python benchmarks/ood.py --device cuda --fine-tune  # full run on a GPU
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import SPLITS, add_common_arguments, finish_arguments, print_split_table, run_splits

from dos_estimators import dos_report
from dos_estimators.datasets import load_phonon_dos

DEFAULT_MODELS = ["trees", "mlp", "graph_network", "e3nn", "dostransformer"]
FINE_TUNE_FRACTION = 0.1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, models=DEFAULT_MODELS, out="results/ood")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    parser.add_argument("--seed", type=int, default=0, help="split and model seed")
    parser.add_argument("--fine-tune", action="store_true", help="also run the Table 3 study")
    parser.add_argument("--fine-tune-epochs", type=int, default=50)
    return finish_arguments(parser.parse_args(argv))


def fine_tune_study(model, X_test, y_test, seed, epochs):
    """Table 3: fine-tune on 10 % of the OOD test crystals, score the other 90 %."""
    order = np.random.default_rng(seed).permutation(len(X_test))
    n_tune = max(1, round(FINE_TUNE_FRACTION * len(X_test)))
    tune, rest = order[:n_tune], order[n_tune:]
    X_tune, y_tune = [X_test[i] for i in tune], y_test[tune]
    X_rest, y_rest = [X_test[i] for i in rest], y_test[rest]
    study = {"n_fine_tune": int(n_tune), "n_scored": len(rest)}
    study["before"] = dos_report(y_rest, model.predict(X_rest))
    for label, only_prompt in (("prompt_only", True), ("all_parameters", False)):
        tuned = copy.deepcopy(model)
        start = time.perf_counter()
        tuned.fine_tune(X_tune, y_tune, only_prompt=only_prompt, max_epochs=epochs)
        study[label] = dos_report(y_rest, tuned.predict(X_rest))
        study[label]["seconds"] = time.perf_counter() - start
    return study


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    phonon = load_phonon_dos(data_home=args.data_home, n_jobs=args.n_jobs)
    structures, dos = phonon.structures, phonon.dos

    studies = {}

    def fine_tune(split, key, model, data, y_pred, row, indices):
        if args.fine_tune and key == "dostransformer" and split != "id":
            studies[split] = fine_tune_study(
                model, data[2], data[5], args.seed, args.fine_tune_epochs
            )

    results = run_splits(args, structures, dos, args.splits, args.seed, after_fit=fine_tune)
    print(f"\nPhonon DOS, seed {args.seed}{' (quick)' if args.quick else ''}, {args.device}")
    print_split_table(results, args.models)
    for split, study in studies.items():
        print(
            f"\nFine-tuning DOSTransformer on {study['n_fine_tune']} {SPLITS[split]} test crystals "
            f"({args.fine_tune_epochs} epochs), scored on the other {study['n_scored']}:"
        )
        for label in ("before", "prompt_only", "all_parameters"):
            t = study[label]
            print(
                f"  {label:15s} MSE×10 {t['mse_x10']:.3f} MAE {t['mae']:.3f} "
                f"R² {t['r2_per_crystal']:.3f} R² pooled {t['r2_pooled']:.3f}"
            )

    payload = {
        "seed": args.seed,
        "quick": args.quick,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "results": list(results.values()),
        "fine_tune": studies,
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {out / 'results.json'}")
    return payload


if __name__ == "__main__":
    main()
