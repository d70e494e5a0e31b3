"""Build a pretrained phonon model shipped in ``dos_estimators/pretrained/``.

``--name phonon`` (``phonon.safetensors``): an ensemble of DOSTransformers with the
package's best configuration; ``--name phonon-hybrid`` (``phonon-hybrid.safetensors``):
the same with SevenNet-l3i5's phonon DOS as its prior, read from the repository's
priors file (``benchmarks/priors.py``; the shipped file keeps no path to it). Each is
trained on all 1,521 crystals of the phonon DOS set (``validation_fraction`` of them held out for
early stopping, as in any fit). With ``--held-out`` the same recipe is first fitted on
a 90/10 split and scored on the tenth, so that the model's card states how well the
recipe does on crystals it has not seen (the hybrid's card adds the zero-shot
potential's score on the same crystals). The command, the data file's checksum, the
recipe, the held-out and training scores and the predictions for 20 reference crystals
are saved in the model file's notes (``dos_estimators.pretrained.card(name)``); the
test suite checks the shipped model against those predictions.

    python benchmarks/pretrained.py --held-out
    python benchmarks/pretrained.py --name phonon-hybrid --held-out
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
from priors import priors_path
from sklearn.model_selection import train_test_split

import dos_estimators
from dos_estimators import DOSTransformerRegressor, dos_report, pretrained
from dos_estimators.datasets import PHONON_DOS, load_phonon_dos
from dos_estimators.metrics import spread_error_correlation
from dos_estimators.phonons import PotentialPhonons
from dos_estimators.plotting import plot_spread_calibration

# The best configuration the package has (docs/embeddings.md), with the defaults for the rest.
CONFIG = {"node_features": ["magpie", "chgnet"]}
# The hybrid's prior (docs/phonons.md): smearing and scale chosen on the training crystals.
PRIOR = {"potential": "7net-l3i5", "sigma": "fit", "scale": "fit"}
RECIPES = {"phonon": CONFIG, "phonon-hybrid": {**CONFIG, "prior": PRIOR}}
N_REFERENCE = 20
ROOT = Path(__file__).resolve().parents[1]
# Each model's card block in docs/pretrained.md, and its spread figure.
BLOCKS = {"phonon": "pretrained", "phonon-hybrid": "pretrained_hybrid"}
FIGURES = {"phonon": "pretrained_spread.png", "phonon-hybrid": "pretrained_hybrid_spread.png"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", choices=sorted(RECIPES), default="phonon")
    parser.add_argument("--n-ensemble", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, help="override the default schedule")
    parser.add_argument("--held-out", action="store_true", help="also score the recipe on 90/10")
    parser.add_argument("--data-home")
    parser.add_argument("--out", type=Path, help="default: the package's file of --name")
    parser.add_argument("--report", action="store_true", help="only write the card's numbers")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "pretrained.md")
    parser.add_argument(
        "--held-out-file",
        type=Path,
        help="with --held-out: only measure the recipe on 90/10 and write the result here "
        "(JSON); without it: after the fit, read the held-out result from here (same recipe "
        "required; waits for the file), so that the two fits can run at once in two processes",
    )
    parser.add_argument(
        "--figure",
        type=Path,
        help="spread-against-error plot of the held-out crystals (with --held-out; "
        "default: docs/images/ of --name)",
    )
    args = parser.parse_args(argv)
    args.out = args.out or pretrained.package_file(args.name)
    args.figure = args.figure or ROOT / "docs" / "images" / FIGURES[args.name]
    return args


def recipe(args) -> dict:
    """The recipe as the card states it (JSON: the prior as its parameters)."""
    params = {**RECIPES[args.name], "n_ensemble": args.n_ensemble, "random_state": args.seed}
    if args.max_epochs is not None:
        params["max_epochs"] = args.max_epochs
    return params


def estimator_params(recipe: dict) -> dict:
    """``DOSTransformerRegressor``'s parameters of ``recipe``: the prior reads the
    repository's priors file of its potential."""
    params = dict(recipe)
    if "prior" in params:
        prior = params["prior"]
        params["prior"] = PotentialPhonons(**prior, cache=str(priors_path(prior["potential"])))
    return params


def reference_indices(n: int) -> np.ndarray:
    """20 crystals spread over the data set, the same on every build."""
    return np.linspace(0, n - 1, N_REFERENCE).round().astype(int)


def read_held_out(path: Path, recipe: dict) -> dict:
    """The held-out record that a ``--held-out --held-out-file`` process wrote at ``path``
    for the same recipe; waits for that process if it has not written it yet."""
    while not path.is_file():
        print(f"waiting for {path} (the --held-out process)", flush=True)
        time.sleep(60)
    record = json.loads(path.read_text())
    if record["recipe"] != recipe:
        raise SystemExit(f"{path} was measured with recipe {record['recipe']}, not {recipe}")
    return record["held_out"]


def card_markdown(notes: dict) -> str:
    """The model card's measured part, from the notes saved in the model file alone."""
    recipe = ", ".join(
        f"`prior=PotentialPhonons({v['potential']!r}, sigma={v['sigma']!r}, "
        f"scale={v['scale']!r})` (its phonons read from `benchmarks/data/"
        f"phonon_priors_{v['potential']}.npz`)"
        if k == "prior"
        else f"`{k}={v!r}`"
        for k, v in notes["recipe"].items()
    )
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
        if "zero_shot" in held:
            zero = held["zero_shot"]
            lines.append(
                f"- **The potential alone** on the same {held['n_test']} crystals "
                f"(`pretrained.zero_shot({notes['recipe']['prior']['potential']!r})`, no "
                f"training): MSE×10 {zero['mse_x10']:.3f}, MAE {zero['mae']:.3f}, R² per "
                f"crystal {zero['r2_per_crystal']:.3f}."
            )
    if "prior_smearing" in notes:
        chosen = notes["prior_smearing"]
        lines.append(
            f"- **Prior**: smearing {chosen['sigma']:g} cm⁻¹ and frequency scale "
            f"{chosen['scale']:g}, chosen on the training crystals."
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
            card_markdown(read_notes(args.out)),
            args.docs,
            BLOCKS[args.name],
            "benchmarks/pretrained.py",
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
        model = DOSTransformerRegressor(**estimator_params(params)).fit(
            [data.structures[i] for i in train], data.dos[train], energies=data.energies
        )
        seconds = time.perf_counter() - start
        X_test = [data.structures[i] for i in test]
        predicted, spread = model.predict(X_test, return_std=True)
        notes["held_out"] = {
            "split": "train_test_split(test_size=0.1, random_state=seed) of the 1,521 crystals",
            "n_test": len(test),
            "fit_seconds": seconds,
            **dos_report(data.dos[test], predicted),
            "spread_error_spearman": spread_error_correlation(data.dos[test], predicted, spread),
        }
        if "prior" in params:
            potential = params["prior"]["potential"]
            zero = pretrained.zero_shot(potential, cache=str(priors_path(potential)))
            notes["held_out"]["zero_shot"] = dos_report(data.dos[test], zero.predict(X_test))
        print("held out:", json.dumps(notes["held_out"], indent=1), flush=True)
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        plot_spread_calibration(data.dos[test], predicted, spread, args.figure)
        if args.held_out_file is not None:
            notes["held_out"]["command"] = notes["command"]
            record = {"recipe": notes["recipe"], "held_out": notes["held_out"]}
            args.held_out_file.parent.mkdir(parents=True, exist_ok=True)
            # Written whole, then renamed: the other process never reads half a file.
            partial = args.held_out_file.with_suffix(".partial")
            partial.write_text(json.dumps(record, indent=1))
            partial.replace(args.held_out_file)
            print(f"wrote {args.held_out_file}")
            return
    start = time.perf_counter()
    model = DOSTransformerRegressor(**estimator_params(params)).fit(
        data.structures, data.dos, energies=data.energies
    )
    notes["fit_seconds"] = time.perf_counter() - start
    notes["epochs"] = [len(net.history) for net in model.nets_]
    notes["training"] = dos_report(data.dos, model.predict(data.structures))
    if not args.held_out and args.held_out_file is not None:
        notes["held_out"] = read_held_out(args.held_out_file, notes["recipe"])
    chosen = reference_indices(len(data.structures))
    mean, std = model.predict([data.structures[i] for i in chosen], return_std=True)
    notes["reference"] = {
        "material_ids": [data.material_ids[i] for i in chosen],
        "mean": mean.tolist(),
        "std": std.tolist(),
    }
    if getattr(model, "prior_", None) is not None:
        sigma, scale = model.prior_.smearing()
        notes["prior_smearing"] = {"sigma": sigma, "scale": scale}
        # The file keeps no path of this machine: pretrained.load(cache=) gives the user's.
        model.prior_.set_params(cache=None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out, notes=notes)
    print(
        f"saved {args.out} ({args.out.stat().st_size / 1e6:.1f} MB); training MSE×10 "
        f"{notes['training']['mse_x10']:.3f}; fit {notes['fit_seconds']:.0f} s",
        flush=True,
    )
    write_docs_block(card_markdown(notes), args.docs, BLOCKS[args.name], "benchmarks/pretrained.py")


if __name__ == "__main__":
    main()
