"""The phonon set's universal-potential priors: fill the cache, write the derived file.

Computes :func:`dos_estimators.phonons.phonon_dos` for the crystals of the phonon set,
the test tenths of seeds 0-2 first (the zero-shot rows need them), then the held-out
crystals of the OOD splits (:func:`crystal_order`), then the rest in the data set's
order, and writes ``benchmarks/data/phonon_priors_<potential>.npz`` (mode weights in
5 cm⁻¹ bins, imaginary share, seconds, supercell, package versions, this command)
every few crystals. It resumes: crystals already in that file or in the cache
folder are not computed again. A crystal the potential cannot do (an element it was not
trained on, a cell over ``--max-supercell-atoms``) is recorded in the file's metadata.

    OMP_NUM_THREADS=1 nice python benchmarks/priors.py --potential 7net-l3i5
    # two processes sharing the cache folder, each writing everything done so far:
    OMP_NUM_THREADS=1 nice python benchmarks/priors.py --shard 0/2 &
    OMP_NUM_THREADS=1 nice python benchmarks/priors.py --shard 1/2 &
    python benchmarks/priors.py --potential 7net-l3i5 --report   # figures only
    python benchmarks/priors.py --compare 50 --batch-size 4      # batched vs one call each

``--compare N`` times, in one run and alternating per crystal, the package's path
(``--batch-size`` supercells per model call) against SevenNet's own ASE calculator
called once per supercell, on the N crystals of the phonon set with the fewest
displacements in the file, and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from bench.fits import split_indices

from dos_estimators.datasets import load_phonon_dos
from dos_estimators.phonons import (
    PhononCache,
    PotentialPhonons,
    force_field,
    modes_key,
    phonon_dos,
    potential_versions,
    priors_metadata,
    read_priors,
    write_priors,
)

HERE = Path(__file__).resolve().parent


def priors_path(potential: str) -> Path:
    """Where the derived priors file of ``potential`` lives in the repository."""
    return HERE / "data" / f"phonon_priors_{potential}.npz"


def covered(structures, potential: str) -> np.ndarray:
    """Which of ``structures`` the potential's priors file holds (default settings)."""
    stored = read_priors(priors_path(potential))
    key, settings = force_field(potential).key, PotentialPhonons(potential).settings
    return np.array([modes_key(s, key, settings) in stored for s in structures], dtype=bool)


def crystal_order(structures, seeds=(0, 1, 2)) -> list[int]:
    """Indices of the phonon set in the order they are computed.

    The test tenths of ``seeds`` first (the zero-shot rows), then the held-out crystals
    of the crystal-system and species-count splits and the formula-grouped test parts
    (the zero-shot OOD rows), then the rest in the data set's order.
    """
    order = []
    for split in ("id", "system", "species", "formula"):
        for seed in seeds:
            try:
                train, valid, test = split_indices(split, structures, seed)
            except ValueError:  # crystals the split cannot part (all cubic, say)
                break
            order.extend(int(i) for i in test)
            if split in ("system", "species"):  # one held-out set, halved per seed
                order.extend(int(i) for i in valid)
    order.extend(range(len(structures)))
    return list(dict.fromkeys(order))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--potential", default="7net-l3i5")
    parser.add_argument("--data-home", default=None)
    parser.add_argument(
        "--cache",
        default=os.path.join("results", "priors", "cache"),
        help="cache folder of per-crystal entries (default results/priors/cache)",
    )
    parser.add_argument("--out", default=None, help="priors file (default benchmarks/data/...)")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many new")
    parser.add_argument("--write-every", type=int, default=5, help="crystals between writes")
    parser.add_argument("--max-supercell-atoms", type=int, default=160)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--shard", default="0/1", help="i/n: this process takes every n-th crystal from the i-th"
    )
    parser.add_argument("--report", action="store_true", help="print the file's figures only")
    parser.add_argument("--compare", type=int, default=0, metavar="N")
    return parser.parse_args(argv)


def figures(path: Path) -> dict:
    """Seconds per crystal, imaginary-mode share and counts of a priors file."""
    with np.load(path, allow_pickle=False) as stored:
        seconds, imaginary = stored["seconds"], stored["imaginary"]
        n_displacements = stored["n_displacements"]
    metadata = priors_metadata(path)
    if not len(seconds):
        return {"crystals": 0, "failed": len(metadata.get("failed", {}))}
    return {
        "crystals": int(len(seconds)),
        "failed": len(metadata.get("failed", {})),
        "seconds_median": float(np.median(seconds)),
        "seconds_p90": float(np.percentile(seconds, 90)),
        "seconds_mean": float(np.mean(seconds)),
        "displacements_median": float(np.median(n_displacements)),
        "imaginary_weight_mean": float(np.mean(imaginary)),
        "share_with_imaginary_over_1pct": float(np.mean(imaginary > 0.01)),
        "share_with_imaginary_over_5pct": float(np.mean(imaginary > 0.05)),
    }


def stored_rows(path: Path) -> list[tuple]:
    """A priors file's (modes key, material id, PhononModes) rows; none if it is absent."""
    if not path.exists():
        return []
    modes = read_priors(path)
    with np.load(path, allow_pickle=False) as stored:
        ids = [str(m) for m in stored["material_ids"]]
    return [(key, mp_id, modes[key]) for key, mp_id in zip(modes, ids, strict=True)]


def write_rows(path: Path, rows: list[tuple], metadata: dict) -> None:
    """Write (modes key, material id, PhononModes) rows as a priors file."""
    keys, material_ids, modes = zip(*rows, strict=True) if rows else ((), (), ())
    write_priors(path, list(keys), list(modes), material_ids=list(material_ids), metadata=metadata)


def rekey(path: Path, keys_by_id: dict, potential_key: str, settings: dict) -> int:
    """Give a priors file's rows the keys the data set's structures have here.

    A structure's key hashes its lattice and positions, and another numpy or pymatgen
    (or a change of :func:`~dos_estimators.structures.structure_key`) can key the same
    crystal of the data set differently. The material id then says which crystal a
    row is, provided the file was computed with this potential and these settings.
    Returns the number of rows re-keyed (the file is rewritten only if there are some).
    """
    metadata = priors_metadata(path)
    same = metadata.get("potential_key") == potential_key and all(
        float(metadata.get("settings", {}).get(name, float("nan"))) == float(value)
        for name, value in settings.items()
    )
    rows = stored_rows(path)
    moved = [
        (keys_by_id[m], m, modes) if same and m in keys_by_id and key != keys_by_id[m] else None
        for key, m, modes in rows
    ]
    if not any(moved):
        return 0
    rows = [new or old for new, old in zip(moved, rows, strict=True)]
    write_rows(path, rows, metadata)
    n = sum(1 for m in moved if m)
    print(f"re-keyed {n} rows of {path} by material id", flush=True)
    return n


def compute(args) -> Path:
    """Compute this shard's missing crystals; write the file from everything cached."""
    data = load_phonon_dos(data_home=args.data_home)
    out = Path(args.out) if args.out else priors_path(args.potential)
    prior = PotentialPhonons(
        args.potential,
        cache=args.cache,
        max_supercell_atoms=args.max_supercell_atoms,
        device=args.device,
        batch_size=args.batch_size,
    )
    forces = force_field(args.potential)
    potential_key = forces.key
    keys = [modes_key(s, potential_key, prior.settings) for s in data.structures]
    if out.exists():
        rekey(out, dict(zip(data.material_ids, keys, strict=True)), potential_key, prior.settings)
    cache = PhononCache([out, args.cache]) if out.exists() else PhononCache(args.cache)
    keyed, failed = set(keys), {}

    def write():
        # Every crystal found in the file or the cache folder, in the data set's order:
        # processes sharing the folder each write all that is done so far.
        known = priors_metadata(out).get("failed", {}) if out.exists() else {}
        failed.update(known)
        store = PhononCache([out, args.cache]) if out.exists() else PhononCache(args.cache)
        rows = [(k, m, store.get(k)) for k, m in zip(keys, data.material_ids, strict=True)]
        rows = [row for row in rows if row[2] is not None]
        # Rows of the file this data set does not key (never dropped): kept at the end.
        rows += [row for row in stored_rows(out) if row[0] not in keyed]
        metadata = {
            "potential": forces.name,
            "potential_key": potential_key,
            "settings": prior.settings,
            "versions": potential_versions(args.potential),
            "command": "python " + shlex.join(["benchmarks/priors.py", *sys.argv[1:]]),
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "failed": failed,
        }
        write_rows(out, rows, metadata)
        return len(rows)

    shard, n_shards = (int(part) for part in args.shard.split("/"))
    known_failed = priors_metadata(out).get("failed", {}) if out.exists() else {}
    new = 0
    for i in crystal_order(data.structures)[shard::n_shards]:
        structure, mp_id, key = data.structures[i], data.material_ids[i], keys[i]
        if mp_id in known_failed or cache.get(key) is not None:
            continue
        if args.limit is not None and new >= args.limit:
            break
        try:
            modes = prior.modes([structure])[0]
        except ValueError as error:
            failed[mp_id] = str(error)
            print(f"{mp_id}: {error}", flush=True)
            continue
        new += 1
        print(
            f"{new:5d} {mp_id:>12s} {len(structure):3d} atoms, supercell {modes.supercell}, "
            f"{modes.n_displacements:3d} displacements, {modes.seconds:6.1f} s, "
            f"imaginary {modes.imaginary_fraction:.3f}",
            flush=True,
        )
        if new % args.write_every == 0:
            print(f"written: {write()} crystals in {out}", flush=True)
    print(f"written: {write()} crystals in {out}", flush=True)
    return out


def compare(args) -> dict:
    """The package's batched path against one ASE-calculator call per supercell."""
    from sevenn.calculator import SevenNetCalculator

    data = load_phonon_dos(data_home=args.data_home)
    out = priors_path(args.potential)
    with np.load(out, allow_pickle=False) as stored:
        ids, counts = list(stored["material_ids"]), stored["n_displacements"]
    chosen = [ids[k] for k in np.argsort(counts, kind="stable")[: args.compare]]
    index = {mp_id: i for i, mp_id in enumerate(data.material_ids)}
    calculator = SevenNetCalculator(args.potential, device=args.device)
    batch_size = args.batch_size or 4
    timings = {"package": [], "calculator": []}
    for mp_id in chosen:
        structure = data.structures[index[mp_id]]
        for name, potential, size in (
            ("package", args.potential, batch_size),
            ("calculator", calculator, 1),
        ):
            start = time.perf_counter()
            phonon_dos(structure, potential, batch_size=size)
            timings[name].append(time.perf_counter() - start)
    package, calls = np.sum(timings["package"]), np.sum(timings["calculator"])
    result = {
        "crystals": len(chosen),
        "batch_size": batch_size,
        "package_seconds": float(package),
        "calculator_seconds": float(calls),
        "ratio": float(package / calls),
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
    }
    print(json.dumps(result, indent=2))
    return result


def main(argv=None):
    args = parse_args(argv)
    if args.compare:
        compare(args)
        return
    path = priors_path(args.potential) if args.out is None else Path(args.out)
    if not args.report:
        path = compute(args)
    print(json.dumps(figures(path), indent=2))


if __name__ == "__main__":
    main()
