"""Bad input and the exact message it gets: one test per row of docs/reliability.md.

Each message is matched whole (``exactly``) or by its stable start (``starting``), with
``re.escape``, so that a changed wording fails here and the table is updated with it.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from ase import Atoms
from conftest import bad_targets, rock_salt, tiny_dataset, tiny_transformer
from pymatgen.core import DummySpecies, Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback

from dos_estimators.cli import main
from dos_estimators.datasets import load_electron_dos
from dos_estimators.graphs import structure_to_graph
from dos_estimators.structures import MIN_DISTANCE, check_structures


def exactly(message: str, error=ValueError):
    return pytest.raises(error, match=f"^{re.escape(message)}$")


def starting(prefix: str, error=ValueError):
    return pytest.raises(error, match=f"^{re.escape(prefix)}")


@pytest.fixture(scope="module")
def data():
    """Eight crystals and their DOS on 12 energies."""
    return tiny_dataset()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return tiny_transformer().fit(X, y)


def with_sample(X, index: int, sample) -> list:
    """A copy of ``X`` with ``X[index]`` replaced by ``sample``."""
    X = list(X)
    X[index] = sample
    return X


def salt_with(species) -> Structure:
    """Rock salt with its chlorine replaced by ``species``."""
    return Structure(rock_salt().lattice, ["Na", species], [[0, 0, 0], [0.5, 0.5, 0.5]])


# -- structures: what X holds ----------------------------------------------------------------
def test_empty_input(data):
    _, y = data
    with exactly("Expected at least one structure, got an empty sequence."):
        tiny_transformer().fit([], y)


def test_a_single_structure_instead_of_a_list(data):
    X, y = data
    with exactly("Expected a sequence of structures, got a single Structure; wrap it in a list."):
        tiny_transformer().fit(X[0], y[:1])


def test_not_a_sequence(data):
    _, y = data
    with exactly("Expected a sequence of structures, got int."):
        tiny_transformer().fit(8, y)


@pytest.mark.parametrize(
    ("sample", "kind"),
    [("NaCl.cif", "str"), (rock_salt().as_dict(), "dict"), (None, "NoneType")],
    ids=["a file name", "a Structure dict", "None"],
)
def test_an_object_that_is_no_structure(data, sample, kind):
    X, y = data
    with exactly(f"Sample 3: expected a pymatgen Structure or an ASE Atoms, got {kind}."):
        tiny_transformer().fit(with_sample(X, 3, sample), y)


def test_ase_atoms_that_are_not_periodic(data):
    X, y = data
    slab = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]], cell=np.eye(3) * 10)
    slab.pbc = [True, True, False]
    with exactly(
        "Sample 2: ASE Atoms must be periodic in all three directions, got pbc=[True, True, False]."
    ):
        tiny_transformer().fit(with_sample(X, 2, slab), y)


def test_a_structure_without_sites(data):
    X, y = data
    with exactly("Sample 2: the structure has no sites."):
        tiny_transformer().fit(with_sample(X, 2, Structure(Lattice.cubic(3.0), [], [])), y)


def test_a_disordered_site(data):
    X, y = data
    alloy = Structure(Lattice.cubic(3.0), [{"Na": 0.5, "K": 0.5}], [[0, 0, 0]])
    with exactly(
        "Sample 2: site 0 is disordered (partial occupancy Na:0.5, K:0.5); "
        "only ordered structures are supported."
    ):
        tiny_transformer().fit(with_sample(X, 2, alloy), y)


@pytest.mark.parametrize("form", ["Structure", "Atoms"])
def test_a_dummy_species(data, form):
    X, y = data
    sample = salt_with(DummySpecies("X"))
    if form == "Atoms":
        sample = Atoms("NaX", positions=sample.cart_coords, cell=sample.lattice.matrix, pbc=True)
    with exactly(
        "Sample 2: site 1 holds X0+, a dummy species, not a chemical element; "
        "every site needs an element of the periodic table."
    ):
        tiny_transformer().fit(with_sample(X, 2, sample), y)


@pytest.mark.parametrize(("offset", "shown"), [(0.0, "0.000"), (0.05, "0.050")])
def test_overlapping_atoms(data, offset, shown):
    X, y = data
    salt = rock_salt()
    salt.append("Na", [offset, 0, 0], coords_are_cartesian=True)
    with exactly(
        f"Sample 2: sites 0 (Na) and 2 (Na) are {shown} Å apart, closer than 0.1 Å: "
        "overlapping atoms (a site listed twice?); remove one of them."
    ):
        tiny_transformer().fit(with_sample(X, 2, salt), y)


def test_overlap_across_the_cell_boundary():
    # 0.006 Å apart through the periodic boundary, not 5.6 Å across the cell.
    salt = Structure(
        Lattice.cubic(5.64), ["Na", "Cl", "Na"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.999, 0, 0]]
    )
    with exactly(
        "Sample 0: sites 0 (Na) and 2 (Na) are 0.006 Å apart, closer than 0.1 Å: "
        "overlapping atoms (a site listed twice?); remove one of them."
    ):
        check_structures([salt])


def test_atoms_closer_than_any_bond_but_beyond_the_tolerance_are_accepted():
    # 0.5 Å is unphysical (H-H, the shortest bond, is 0.74 Å) but not an overlap: accepted.
    salt = rock_salt()
    salt.append("Na", [0.5, 0, 0], coords_are_cartesian=True)
    assert MIN_DISTANCE == 0.1
    assert len(check_structures([salt])[0]) == 3


@pytest.mark.parametrize(
    ("cell", "volume", "spacing"),
    [
        ([[4, 0, 0], [0, 4, 0], [4, 4, 0]], "0", "0"),  # c = a + b: no volume
        ([[4, 0, 0], [0, 4, 0], [0, 0, 0.05]], "0.8", "0.05"),  # flat
    ],
    ids=["zero volume", "flat"],
)
@pytest.mark.parametrize("form", ["Structure", "Atoms"])
def test_a_degenerate_cell(data, cell, volume, spacing, form):
    X, y = data
    sample = Structure(Lattice(cell), ["Na"], [[0, 0, 0]])
    if form == "Atoms":
        # ASE accepts the cell; pymatgen's converter would fail on it with a LinAlgError.
        sample = Atoms("Na", positions=[[0, 0, 0]], cell=cell, pbc=True)
    with exactly(
        f"Sample 2: the cell is degenerate: its volume is {volume} Å³ and its lattice planes "
        f"are {spacing} Å apart (at least 0.1 Å needed); a crystal needs three independent "
        "lattice vectors."
    ):
        tiny_transformer().fit(with_sample(X, 2, sample), y)


def test_nan_in_the_lattice(data):
    X, y = data
    atoms = AseAtomsAdaptor.get_atoms(rock_salt())
    atoms.cell[2, 2] = np.nan
    with exactly("Sample 2: the lattice holds NaN or infinite values."):
        tiny_transformer().fit(with_sample(X, 2, atoms), y)


def test_nan_coordinates(data):
    X, y = data
    salt = Structure(Lattice.cubic(5.0), ["Na", "Cl"], [[0, 0, 0], [np.nan, 0.5, 0.5]])
    with exactly("Sample 2: site 1 has NaN or infinite coordinates."):
        tiny_transformer().fit(with_sample(X, 2, salt), y)


# -- node-feature tables ---------------------------------------------------------------------
# An element each table lacks, and the message: the sample, the element, the table, and
# the tables that have the element.
OUTSIDE = {
    "magpie": ("Og", "onehot, mass_onehot, mass_onehot_amu have it"),
    "matscholar": ("Rf", "onehot, mass_onehot, mass_onehot_amu, magpie have it"),
    "megnet": ("Am", "onehot, mass_onehot, mass_onehot_amu, magpie, matscholar, cgcnn have it"),
    "cgcnn": ("Md", "onehot, mass_onehot, mass_onehot_amu, magpie, matscholar have it"),
}


@pytest.mark.parametrize("table", list(OUTSIDE))
def test_an_element_outside_the_node_feature_table(data, table):
    X, y = data
    element, others = OUTSIDE[table]
    with exactly(
        f"Sample 3: element(s) {element} not in the {table!r} node-feature table; "
        f"choose another `node_features` ({others})."
    ):
        tiny_transformer(node_features=table).fit(with_sample(X, 3, salt_with(element)), y)


@pytest.mark.parametrize("table", ["onehot", "mass_onehot", "mass_onehot_amu"])
def test_the_one_hot_tables_have_every_element(data, table):
    # All 118 elements are in: Og gets its column. Only a dummy species is outside, and
    # the structure check refuses it before any table is read (test_a_dummy_species).
    graph = structure_to_graph(salt_with("Og"), node_features=table)
    assert graph.x.shape == (2, 118)
    assert graph.x[1, 117] > 0
    X, y = data
    with starting("Sample 2: site 1 holds X0+, a dummy species"):
        tiny_transformer(node_features=table).fit(with_sample(X, 2, salt_with("X")), y)


# -- targets: what y holds -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("nan", "y contains NaN or infinite values (first in row 3)."),
        ("inf", "y contains NaN or infinite values (first in row 3)."),
        (
            "negative",
            "y contains negative densities (first in row 3, energy index 2: -0.5); "
            "a DOS is non-negative.",
        ),
        ("rows", "X has 8 structures but y has 7 rows."),
        ("1d", "y must have shape (n_samples, n_energies), one DOS per row; got shape (8,)."),
    ],
)
def test_bad_targets_at_fit(data, kind, message):
    X, y = data
    with exactly(message):
        tiny_transformer().fit(X, bad_targets(kind, y))


def test_ragged_targets(data):
    X, y = data
    with starting(
        "y must be a rectangular (n_samples, n_energies) array; its rows have different "
        "lengths or are not numeric ("
    ):
        tiny_transformer().fit(X, bad_targets("ragged", y))


def test_fewer_structures_than_targets(data):
    X, y = data
    with exactly("X has 7 structures but y has 8 rows."):
        tiny_transformer().fit(X[:7], y)


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (None, "A DOS regressor requires y to be passed, but the target y is None; "),
        ([], "y must have shape (n_samples, n_energies), one DOS per row; got shape (0,)."),
        (np.zeros((8, 0)), "y has no energies (zero columns)."),
    ],
    ids=["None", "empty", "no columns"],
)
def test_missing_or_empty_targets(data, y, message):
    X, _ = data
    with starting(message):
        tiny_transformer().fit(X, y)


def test_a_target_row_that_is_zero_everywhere(data):
    X, y = data
    y = y.copy()
    y[4] = 0.0
    with exactly(
        "y row 4 is zero at every energy: a DOS has states somewhere on its grid (a failed "
        "calculation, or an energy window inside a band gap?); drop that sample or fix its DOS."
    ):
        tiny_transformer().fit(X, y)


@pytest.mark.parametrize(
    ("energies", "message"),
    [
        (np.linspace(0, 1, 12)[::-1], "energies must increase strictly."),
        (
            np.linspace(0, 1, 11),
            "energies must be a 1-D array of the 12 energies of the DOS columns, got shape (11,).",
        ),
    ],
    ids=["decreasing", "another length"],
)
def test_bad_energies_at_fit(data, energies, message):
    X, y = data
    with exactly(message):
        tiny_transformer().fit(X, y, energies=energies)


def test_a_validation_set_on_another_grid(data):
    X, y = data
    with exactly("y_valid has 11 energies but the model was trained on a grid of 12."):
        tiny_transformer().fit(X[:6], y[:6], X_valid=X[6:], y_valid=y[6:, :-1])
    with exactly("Pass both X_valid and y_valid, or neither."):
        tiny_transformer().fit(X[:6], y[:6], X_valid=X[6:])


# -- a fitted model --------------------------------------------------------------------------
def test_predict_before_fit(data):
    X, _ = data
    with exactly(
        "This DOSTransformerRegressor instance is not fitted yet. Call 'fit' with appropriate "
        "arguments before using this estimator.",
        error=NotFittedError,
    ):
        tiny_transformer().predict(X)


def test_score_on_another_grid(fitted, data):
    X, y = data
    with exactly(
        "y has 11 energies but the model was trained on a grid of 12; predict on the training grid."
    ):
        fitted.score(X, y[:, :-1])


def test_score_with_another_number_of_rows(fitted, data):
    X, y = data
    with exactly("X has 8 structures but y has 7 rows."):
        fitted.score(X, y[:-1])


def test_fine_tune_on_another_grid(fitted, data):
    X, y = data
    with exactly("y has 13 energies but the model was trained on a grid of 12."):
        fitted.fine_tune(X[:2], np.hstack([y[:2], y[:2, :1]]))


def test_predict_refuses_what_fit_refuses(fitted, data):
    X, _ = data
    with exactly("Sample 1: expected a pymatgen Structure or an ASE Atoms, got str."):
        fitted.predict([X[0], "NaCl.cif"])


# -- files: the electron loader and the command line -----------------------------------------
def electron_record(structure: Structure, **changes) -> dict:
    energies = np.linspace(-10.0, 10.0, 401)
    record = {
        "mp_id": "mp-1",
        "structure": structure.as_dict(),
        "energies": (energies + 2.0).tolist(),
        "densities": np.exp(-(((energies - 1.0) / 1.5) ** 2)).tolist(),
        "efermi": 2.0,
    }
    record.update(changes)
    return {key: value for key, value in record.items() if value is not None}


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return str(path)


def test_an_electron_record_without_efermi(tmp_path):
    good, bare = electron_record(rock_salt()), electron_record(rock_salt(), efermi=None)
    path = write_jsonl(tmp_path / "bare.jsonl", [good, bare])
    with exactly(
        f"{path}, line 2: no 'efermi': the Fermi level (eV, on the scale of 'energies') is "
        "needed to put the DOS on the grid. Add it to the record (0 if its energies are "
        "already relative to the Fermi level), or pass energies_relative=True to take the "
        "energies of every record without one as relative."
    ):
        load_electron_dos(path)
    # Said explicitly, the energies are relative: this record's peak lands at 3 eV, the
    # first record's at 1 eV above its Fermi level.
    data = load_electron_dos(path, energies_relative=True)
    assert data.efermi.tolist() == [2.0, 0.0]
    assert data.energies[np.argmax(data.dos, axis=1)].tolist() == pytest.approx([1.0, 3.0])
    with exactly("energies_relative must be True or False, got 'yes'."):
        load_electron_dos(path, energies_relative="yes")


def test_an_electron_record_with_overlapping_atoms(tmp_path):
    salt = rock_salt()
    salt.append("Na", [0.05, 0, 0], coords_are_cartesian=True)
    path = write_jsonl(tmp_path / "overlap.jsonl", [electron_record(salt)])
    with exactly(
        f"{path}, line 1: sites 0 (Na) and 2 (Na) are 0.050 Å apart, closer than 0.1 Å: "
        "overlapping atoms (a site listed twice?); remove one of them."
    ):
        load_electron_dos(path)


def test_cli_fit_on_electron_records_without_efermi(tmp_path, capsys):
    path = write_jsonl(tmp_path / "bare.jsonl", [electron_record(rock_salt(), efermi=None)])
    status = main(["fit", "--data", path, "--out", str(tmp_path / "m.safetensors"), "--quiet"])
    assert status == 1
    assert capsys.readouterr().err.splitlines() == [
        f"dos-estimators: error: {path}: cannot load the data set ({path}, line 1: no "
        "'efermi': the Fermi level (eV, on the scale of 'energies') is needed to put the DOS "
        "on the grid. Add it to the record (0 if its energies are already relative to the "
        "Fermi level), or pass energies_relative=True to take the energies of every record "
        "without one as relative.)"
    ]


CIF_HEAD = """data_salt
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na1 Na 0.0 0.0 0.0
Cl1 Cl 0.5 0.5 0.5
"""


def test_cli_predict_names_the_files_it_cannot_use(fitted, tmp_path, capsys):
    model = tmp_path / "model.safetensors"
    fitted.save(model)
    good, garbage, overlap = (tmp_path / name for name in ("good.cif", "bad.cif", "dup.cif"))
    good.write_text(CIF_HEAD)
    garbage.write_text("this is not a crystal\n")
    # 0.028 Å from the first sodium: beyond what pymatgen's CIF parser merges (1e-4 of the
    # cell), so it reads three ordered sites, sorted by species; the message gives the
    # sites' CIF labels.
    overlap.write_text(CIF_HEAD + "Na2 Na 0.005 0.0 0.0\n")
    status = main(["predict", str(good), str(garbage), str(overlap), "--model", str(model)])
    captured = capsys.readouterr()
    assert status == 1
    errors = [line for line in captured.err.splitlines() if ": error: " in line]
    assert errors == [
        f"dos-estimators: error: {garbage}: cannot read a structure "
        "(ValueError: Invalid CIF file with no structures!)",
        f"dos-estimators: error: {overlap}: sites 0 (Na1) and 1 (Na2) are 0.028 Å apart, "
        "closer than 0.1 Å: overlapping atoms (a site listed twice?); remove one of them.",
    ]
    assert [line.split(",")[0] for line in captured.out.splitlines()] == ["file", str(good)]


class _Boom(Callback):
    """Fails the training after its first epoch, as a crash or a full disk would."""

    def on_epoch_end(self, net, **kwargs):
        raise RuntimeError("boom")


def test_a_failed_refit_leaves_the_earlier_fit_whole():
    X, y = tiny_dataset()
    model = tiny_transformer().fit(X, y)
    expected = model.predict(X)
    names = sorted(model._fitted_state())
    model.set_params(callbacks=[_Boom()], node_features=["onehot", "vae"])
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(X[:6], y[:6, :5])
    assert sorted(model._fitted_state()) == names
    assert (model.n_energies_, model.n_node_features_, model.node_features_) == (12, 22, None)
    model.set_params(callbacks=None, node_features="magpie")
    np.testing.assert_array_equal(model.predict(X), expected)


def test_a_failed_first_fit_leaves_the_estimator_unfitted():
    X, y = tiny_dataset()
    model = tiny_transformer(callbacks=[_Boom()])
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(X, y)
    assert model._fitted_state() == {}
    with pytest.raises(NotFittedError):
        model.predict(X)
