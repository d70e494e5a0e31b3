"""Forces from pretrained universal potentials whose weights ship in their wheels.

A *force field* here is anything with ``forces(atoms_list) -> list of (n_atoms, 3)``
arrays in eV/Å, a ``name`` and a ``key`` (what the phonon cache is keyed by). The
named potentials evaluate many supercells per model call (their own batched path);
an ASE calculator evaluates one supercell per call.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np

POTENTIALS = {
    "7net-l3i5": "SevenNet-l3i5 (PBE/PBE+U, MPtrj; l_max 3, 5 interaction blocks)",
    "7net-0": "SevenNet-0 (PBE/PBE+U, MPtrj; 11 Jul 2024)",
    "7net-mf-0": "SevenNet-MF-0, its PBE/PBE+U (MPtrj) fidelity",
    "chgnet-0.3.0": "CHGNet 0.3.0 (PBE/PBE+U, MPtrj)",
    "chgnet-r2scan": "CHGNet r2SCAN (transfer-learned on MP r2SCAN)",
}
"""Potential names :func:`~dos_estimators.phonons.phonon_dos` takes, and what each is."""

# SevenNet-MF-0 has two fidelities (heads); the PBE one matches the phonon set's DFPT.
_SEVENNET_MODALITY = {"7net-mf-0": "PBE"}


def _require(module: str):
    """``import module``, or an ImportError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"universal-potential phonons need {module.split('.')[0]} (its weights ship "
            f"inside its wheel): pip install 'dos_estimators[phonons]' ({error})"
        ) from error


def unsupported_elements(symbols, supported: set[str] | None) -> list[str]:
    """The element symbols of ``symbols`` outside ``supported`` (none when it is None)."""
    if supported is None:
        return []
    return sorted(set(symbols) - supported)


class _NamedForces:
    """A potential of :data:`POTENTIALS`: its name is its cache key."""

    def __init__(self, name: str, device: str = "cpu", batch_size: int = 1):
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self.key = name


class SevenNetForces(_NamedForces):
    """A pretrained SevenNet evaluating ``batch_size`` supercells per model call.

    Parameters
    ----------
    name : str
        One of the SevenNet names of :data:`POTENTIALS`.
    device : str, default="cpu"
    batch_size : int, default=1
        Supercells per model call. On 2 CPU cores one call per supercell was as fast
        as 2 and faster than 4 or 8 (the model is compute-bound there); batching is
        for accelerators.
    """

    @property
    def elements(self) -> set[str]:
        from pymatgen.core import Element

        return {Element.from_Z(z).symbol for z in sevennet_model(self.name).type_map}

    def forces(self, atoms_list) -> list[np.ndarray]:
        sevenn_graph = _require("sevenn.atom_graph_data")
        from sevenn.train.dataload import unlabeled_atoms_to_graph
        from torch_geometric.data import Batch

        model = sevennet_model(self.name, self.device)
        modality = _SEVENNET_MODALITY.get(self.name)
        out = []
        for start in range(0, len(atoms_list), self.batch_size):
            graphs, chunk = [], atoms_list[start : start + self.batch_size]
            for atoms in chunk:
                graph = sevenn_graph.AtomGraphData.from_numpy_dict(
                    unlabeled_atoms_to_graph(atoms, model.cutoff, with_shift=False)
                )
                if modality is not None:
                    graph["data_modality"] = modality
                graphs.append(graph)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                result = model(Batch.from_data_list(graphs).to(self.device))
            forces = result["inferred_force"].detach().cpu().numpy().astype(np.float64)
            out.extend(np.split(forces, np.cumsum([len(atoms) for atoms in chunk[:-1]])))
        return out


@cache
def sevennet_model(name: str, device: str = "cpu"):
    """The pretrained SevenNet called ``name`` on ``device``: frozen, in eval and batch mode.

    Loaded once per process from the weights in the ``sevenn`` wheel; every device gets
    its own copy, so that moving one never moves another's. The per-atom features of
    :class:`~dos_estimators.features.SevenNetAtomEmbedding` read the same network.

    Parameters
    ----------
    name : str
        A SevenNet name that ``sevenn`` knows (``"7net-0"``, ``"7net-l3i5"``, ...).
    device : str, default="cpu"

    Returns
    -------
    torch.nn.Module
    """
    if str(device) != "cpu":
        return copy.deepcopy(sevennet_model(name)).to(device)
    util = _require("sevenn.util")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        model = util.load_checkpoint(util.pretrained_name_to_path(name)).build_model()
    model.eval()
    model.set_is_batch_data(True)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


class CHGNetForces(_NamedForces):
    """A pretrained CHGNet evaluating ``batch_size`` supercells per model call."""

    @property
    def elements(self) -> set[str]:
        from pymatgen.core import Element

        # CHGNet embeds elements 1-94.
        return {Element.from_Z(z).symbol for z in range(1, 95)}

    def forces(self, atoms_list) -> list[np.ndarray]:
        from pymatgen.io.ase import AseAtomsAdaptor

        model = _chgnet_model(self.name.removeprefix("chgnet-"), self.device)
        structures = [AseAtomsAdaptor.get_structure(atoms) for atoms in atoms_list]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            predictions = model.predict_structure(
                structures, task="ef", batch_size=self.batch_size
            )
        if isinstance(predictions, dict):  # CHGNet answers one structure with one dict
            predictions = [predictions]
        return [np.asarray(p["f"], dtype=np.float64) for p in predictions]


@cache
def _chgnet_model(model_name: str, device: str):
    chgnet = _require("chgnet.model")
    with contextlib.redirect_stdout(io.StringIO()):
        model = chgnet.CHGNet.load(model_name=model_name, use_device=device, verbose=False)
    model.graph_converter.on_isolated_atoms = "ignore"
    model.eval()
    return model


@dataclass
class CalculatorForces:
    """Any ASE calculator: one calculator call per supercell.

    Its cache key is the calculator's class and its ``parameters`` (ASE's record of
    the settings it was made with).
    """

    calculator: object

    @property
    def name(self) -> str:
        return type(self.calculator).__name__

    @property
    def parameters(self) -> dict:
        return dict(getattr(self.calculator, "parameters", {}) or {})

    @property
    def key(self) -> str:
        parameters = self.parameters
        settings = ",".join(f"{k}={parameters[k]!r}" for k in sorted(parameters))
        return f"ase:{type(self.calculator).__module__}.{self.name}({settings})"

    @property
    def cacheable(self) -> bool:
        """Whether the key tells this calculator's settings apart (ASE ``parameters``).

        A calculator that records none (SevenNet's own ASE calculator keeps its model
        name elsewhere) would share its cache entries with every other of its class.
        """
        return bool(self.parameters)

    @property
    def elements(self) -> set[str] | None:
        return None

    def forces(self, atoms_list) -> list[np.ndarray]:
        out = []
        for atoms in atoms_list:
            atoms = atoms.copy()
            atoms.calc = self.calculator
            out.append(np.asarray(atoms.get_forces(), dtype=np.float64))
        return out


def force_field(potential, device: str = "cpu", batch_size: int = 1):
    """The force field of a potential name of :data:`POTENTIALS` or an ASE calculator.

    Raises
    ------
    ValueError
        If ``potential`` is a string that names no known potential (the message lists
        them), or neither a string nor an object with ``get_forces``.
    """
    if isinstance(potential, str):
        if potential not in POTENTIALS:
            raise ValueError(
                f"unknown potential {potential!r}; known potentials: "
                + ", ".join(f"{name!r} ({what})" for name, what in POTENTIALS.items())
                + ", or any ASE calculator object."
            )
        kind = CHGNetForces if potential.startswith("chgnet") else SevenNetForces
        return kind(potential, device=device, batch_size=batch_size)
    if callable(getattr(potential, "get_forces", None)):
        return CalculatorForces(potential)
    raise ValueError(
        "potential must be a name of dos_estimators.phonons.POTENTIALS "
        f"({', '.join(POTENTIALS)}) or an ASE calculator, got {type(potential).__name__}."
    )


def potential_versions(potential) -> dict[str, str]:
    """Versions of the packages a potential's numbers depend on."""
    from importlib.metadata import PackageNotFoundError, version

    packages = ["phonopy"]
    if isinstance(potential, str):
        packages.append("chgnet" if potential.startswith("chgnet") else "sevenn")
    out = {}
    for package in packages:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "absent"
    return out
