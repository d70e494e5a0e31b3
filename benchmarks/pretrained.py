"""Build the pretrained phonon model shipped in ``dos_estimators/pretrained/phonon.safetensors``.

An ensemble of DOSTransformers with the package's best configuration, trained on all
1,521 crystals of the phonon DOS set (``validation_fraction`` of them held out for
early stopping, as in any fit). With ``--held-out`` the same recipe is first fitted on
a 90/10 split and scored on the tenth, so that the model's card states how well the
recipe does on crystals it has not seen. The command, the data file's checksum, the
recipe, the held-out and training scores and the predictions for 20 reference crystals
are saved in the model file's notes (``dos_estimators.pretrained.card("phonon")``); the
test suite checks the shipped model against those predictions.

    python benchmarks/pretrained.py --held-out
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from bench.reports import write_docs_block
from sklearn.model_selection import train_test_split

import dos_estimators
from dos_estimators import DOSTransformerRegressor, dos_report
from dos_estimators.datasets import PHONON_DOS, load_phonon_dos
from dos_estimators.metrics import spread_error_correlation
from dos_estimators.plotting import plot_spread_calibration

# The best configuration the package has (docs/embeddings.md), with the defaults for the rest.
CONFIG = {"node_features": ["magpie", "chgnet"]}
N_REFERENCE = 20
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "dos_estimators" / "pretrained" / "phonon.safetensors"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-ensemble", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, help="override the default schedule")
    parser.add_argument("--held-out", action="store_true", help="also score the recipe on 90/10")
    parser.add_argument("--data-home")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report", action="store_true", help="only write the card's numbers")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "pretrained.md")
    parser.add_argument(
        "--held-out-file",
        type=Path,
        help="with --held-out: only measure the recipe on 90/10 and write the result here "
        "(JSON); without it: read the held-out result from here (same recipe required), so "
        "that the two fits can run at once in two processes",
    )
    parser.add_argument(
        "--figure",
        type=Path,
        default=ROOT / "docs" / "images" / "pretrained_spread.png",
        help="spread-against-error plot of the held-out crystals (with --held-out)",
    )
    return parser.parse_args(argv)


def recipe(args) -> dict:
    params = {**CONFIG, "n_ensemble": args.n_ensemble, "random_state": args.seed}
    if args.max_epochs is not None:
        params["max_epochs"] = args.max_epochs
    return params


def reference_indices(n: int) -> np.ndarray:
    """20 crystals spread over the data set, the same on every build."""
    return np.linspace(0, n - 1, N_REFERENCE).round().astype(int)


def card_markdown(notes: dict) -> str:
    """The model card's measured part, from the notes saved in the model file alone."""
    recipe = ", ".join(f"`{k}={v!r}`" for k, v in notes["recipe"].items())
    lines = [
        f"Built by `{notes['command']}` with dos_estimators {notes['dos_estimators_version']}, "
        f"torch {notes['torch_version']}, {notes['threads']} torch thread(s) "
        f"({notes['platform']})."
        + (f" Run as {notes['built_as']}." if "built_as" in notes else ""),
        "",
        f"- **Data**: `{notes['data']['file']}` (sha256 `{notes['data']['sha256'][:16]}…`), "
        f"{notes['data']['n_crystals']:,} crystals; {notes['data']['grid']}.",
        f"- **Recipe**: `DOSTransformerRegressor` with {recipe}; every other parameter at "
        "its default. Epochs per member: "
        + ", ".join(str(e) for e in notes["epochs"])
        + f"; fit {notes['fit_seconds'] / 60:.1f} min.",
    ]
    held = notes.get("held_out")
    if held:
        lines.append(
            f"- **Held out** (the same recipe fitted on 90 % and scored on the other "
            f"{held['n_test']} crystals, `{held['split']}`): MSE×10 {held['mse_x10']:.3f}, "
            f"MAE {held['mae']:.3f}, R² per crystal {held['r2_per_crystal']:.3f} "
            f"(pooled {held['r2_pooled']:.3f}); the ensemble's spread ranks the crystals' "
            f"errors with Spearman ρ = {held['spread_error_spearman']:.2f}"
            + (f" (measured by `{held['command']}`)." if "command" in held else ".")
        )
    training = notes["training"]
    lines.append(
        f"- **On its own training crystals**: MSE×10 {training['mse_x10']:.3f}, MAE "
        f"{training['mae']:.3f}, R² per crystal {training['r2_per_crystal']:.3f}."
    )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        from dos_estimators.model_files import read_notes

        write_docs_block(
            card_markdown(read_notes(args.out)), args.docs, "pretrained", "benchmarks/pretrained.py"
        )
        print(f"wrote the card into {args.docs}")
        return
    data = load_phonon_dos(data_home=args.data_home)
    params = recipe(args)
    notes = {
        "command": "python benchmarks/pretrained.py "
        + shlex.join(sys.argv[1:] if argv is None else argv),
        "data": {
            "file": PHONON_DOS.filename,
            "sha256": PHONON_DOS.sha256,
            "n_crystals": len(data.structures),
            "grid": "51 frequencies, 0 to 1000 cm^-1; each DOS max-scaled to 1",
        },
        "recipe": {k: v for k, v in params.items()},
        "dos_estimators_version": dos_estimators.__version__,
        "torch_version": torch.__version__,
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
    }
    if args.held_out:
        train, test = train_test_split(
            np.arange(len(data.structures)), test_size=0.1, random_state=args.seed
        )
        start = time.perf_counter()
        model = DOSTransformerRegressor(**params).fit(
            [data.structures[i] for i in train], data.dos[train], energies=data.energies
        )
        seconds = time.perf_counter() - start
        predicted, spread = model.predict([data.structures[i] for i in test], return_std=True)
        notes["held_out"] = {
            "split": "train_test_split(test_size=0.1, random_state=seed) of the 1,521 crystals",
            "n_test": len(test),
            "fit_seconds": seconds,
            **dos_report(data.dos[test], predicted),
            "spread_error_spearman": spread_error_correlation(data.dos[test], predicted, spread),
        }
        print("held out:", json.dumps(notes["held_out"], indent=1), flush=True)
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        plot_spread_calibration(data.dos[test], predicted, spread, args.figure)
        if args.held_out_file is not None:
            notes["held_out"]["command"] = notes["command"]
            record = {"recipe": notes["recipe"], "held_out": notes["held_out"]}
            args.held_out_file.parent.mkdir(parents=True, exist_ok=True)
            args.held_out_file.write_text(json.dumps(record, indent=1))
            print(f"wrote {args.held_out_file}")
            return
    elif args.held_out_file is not None:
        record = json.loads(args.held_out_file.read_text())
        if record["recipe"] != notes["recipe"]:
            raise SystemExit(
                f"{args.held_out_file} was measured with recipe {record['recipe']}, "
                f"not {notes['recipe']}"
            )
        notes["held_out"] = record["held_out"]
    start = time.perf_counter()
    model = DOSTransformerRegressor(**params).fit(data.structures, data.dos, energies=data.energies)
    notes["fit_seconds"] = time.perf_counter() - start
    notes["epochs"] = [len(net.history) for net in model.nets_]
    notes["training"] = dos_report(data.dos, model.predict(data.structures))
    chosen = reference_indices(len(data.structures))
    mean, std = model.predict([data.structures[i] for i in chosen], return_std=True)
    notes["reference"] = {
        "material_ids": [data.material_ids[i] for i in chosen],
        "mean": mean.tolist(),
        "std": std.tolist(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out, notes=notes)
    print(
        f"saved {args.out} ({args.out.stat().st_size / 1e6:.1f} MB); training MSE×10 "
        f"{notes['training']['mse_x10']:.3f}; fit {notes['fit_seconds']:.0f} s",
        flush=True,
    )
    write_docs_block(card_markdown(notes), args.docs, "pretrained", "benchmarks/pretrained.py")


if __name__ == "__main__":
    main()
