"""Tests for the electron DOS loader and the Materials Project download.

No test touches the network: the Materials Project client is either absent (made so with
monkeypatch) or replaced by a fake module that serves DOS built in the test.
"""

import json
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import build
from pymatgen.core import Structure
from pymatgen.electronic_structure.core import Spin
from pymatgen.electronic_structure.dos import CompleteDos, Dos
from pymatgen.io.ase import AseAtomsAdaptor

from dos_estimators.datasets import (
    DATA_ENV,
    fetch_materials_project_dos,
    load_electron_dos,
    materials_project_record,
)
from dos_estimators.spectra import DOSGrid
from dos_estimators.structures import CRYSTAL_SYSTEMS

ENERGIES = np.linspace(-10.0, 10.0, 1001)  # relative to the Fermi level


def peak_dos(centre: float, efermi: float = 0.0, polarised: bool = False) -> Dos:
    density = 0.2 + np.exp(-0.5 * ((ENERGIES - centre) / 0.2) ** 2)
    densities = {Spin.up: density}
    if polarised:
        densities = {Spin.up: 0.25 * density, Spin.down: 0.75 * density}
    return Dos(efermi, ENERGIES + efermi, densities)


def complete_dos(structure: Structure, centre: float, efermi: float = 0.0) -> CompleteDos:
    return CompleteDos(structure, peak_dos(centre, efermi, polarised=True), {})


def ase_dict(structure: Structure) -> dict:
    atoms = AseAtomsAdaptor.get_atoms(structure)
    return {
        "numbers": atoms.numbers.tolist(),
        "positions": atoms.positions.tolist(),
        "cell": atoms.cell.array.tolist(),
        "pbc": [True, True, True],
    }


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def same_structure(a: Structure, b: Structure) -> bool:
    return (
        a.atomic_numbers == b.atomic_numbers
        and np.allclose(a.lattice.matrix, b.lattice.matrix)
        and np.allclose(a.cart_coords, b.cart_coords)
    )


# ---------------------------------------------------------------- a small file, both record forms


@pytest.fixture
def small_file(tmp_path):
    """Three records: ASE + arrays, pymatgen Structure + Dos dict, CompleteDos dict only."""
    rock_salt, diamond, wurtzite = build("rock_salt"), build("diamond"), build("wurtzite")
    records = [
        {
            "mp_id": "mp-1",
            "structure": ase_dict(rock_salt),
            "efermi": 3.0,
            "gap": 1.2,
            "energies": (ENERGIES + 3.0).tolist(),
            "densities": peak_dos(1.0).get_densities().tolist(),
        },
        {
            "material_id": "mp-2",
            "structure": diamond.as_dict(),
            "dos": peak_dos(-2.0, efermi=-1.0, polarised=True).as_dict(),
        },
        "",  # blank lines are skipped
        {"mp_id": "mp-3", "gap": None, "dos": json.loads(complete_dos(wurtzite, 0.5).to_json())},
    ]
    return write_jsonl(tmp_path / "mine.jsonl", records), [rock_salt, diamond, wurtzite]


def test_small_file_both_record_forms(small_file):
    path, structures = small_file
    data = load_electron_dos(path)
    assert data.material_ids == ["mp-1", "mp-2", "mp-3"]
    assert data.dos.shape == (3, 201)
    np.testing.assert_allclose(data.energies, np.linspace(-5, 5, 201))
    assert data.energy_unit == "eV"
    for loaded, built in zip(data.structures, structures, strict=True):
        assert isinstance(loaded, Structure)
        assert same_structure(loaded, built)
    assert data.crystal_systems == ["cubic", "cubic", "hexagonal"]
    np.testing.assert_array_equal(data.efermi, [3.0, -1.0, 0.0])
    np.testing.assert_array_equal(data.gap[:1], [1.2])
    assert np.isnan(data.gap[1:]).all()
    # Each row is the DOSGrid transform of the record's DOS, peaks where they were put.
    expected = DOSGrid().transform([peak_dos(1.0, 3.0), peak_dos(-2.0, -1.0, True), peak_dos(0.5)])
    np.testing.assert_allclose(data.dos, expected, rtol=1e-12)
    assert [data.energies[np.argmax(row)] for row in data.dos] == pytest.approx([1.0, -2.0, 0.5])
    assert str(path) in data.DESCR and "3 records" in data.DESCR


def test_custom_grid(small_file):
    path, _ = small_file
    grid = DOSGrid(emin=-3.0, emax=3.0, n_points=61, smoothing=None, scale=None)
    data = load_electron_dos(path, grid=grid)
    assert data.dos.shape == (3, 61)
    np.testing.assert_allclose(data.energies, np.linspace(-3, 3, 61))
    assert data.dos.max() > 1.0  # not max-scaled


def test_energies_without_efermi_are_relative_when_said_so(tmp_path):
    record = {
        "mp_id": "x",
        "structure": build("mgo").as_dict(),
        "energies": ENERGIES.tolist(),
        "densities": [peak_dos(0.7).get_densities().tolist()],  # one spin as a 2-D list
    }
    data = load_electron_dos(write_jsonl(tmp_path / "rel.jsonl", [record]), energies_relative=True)
    assert data.efermi.tolist() == [0.0]
    assert data.energies[np.argmax(data.dos[0])] == pytest.approx(0.7)


def test_bare_name_is_found_in_data_home(small_file, monkeypatch):
    path, _ = small_file
    monkeypatch.setenv(DATA_ENV, str(path.parent))
    for name in ("mine", "mine.jsonl"):
        assert load_electron_dos(name).material_ids == ["mp-1", "mp-2", "mp-3"]
    assert load_electron_dos("mine", data_home=path.parent).dos.shape == (3, 201)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No electron DOS file 'nothing'") as info:
        load_electron_dos("nothing", data_home=tmp_path)
    assert str(tmp_path / "nothing.jsonl") in str(info.value)
    with pytest.raises(FileNotFoundError, match="No electron DOS file"):
        load_electron_dos(tmp_path / "sub" / "file.jsonl")


def test_missing_gpaw_set_says_there_is_no_download(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no download URL") as info:
        load_electron_dos()
    assert str(tmp_path / "edos_gpaw.jsonl") in str(info.value)
    assert DATA_ENV in str(info.value)


GOOD = {
    "mp_id": "mp-good",
    "structure": build("diamond").as_dict(),
    "efermi": 0.0,
    "energies": ENERGIES.tolist(),
    "densities": peak_dos(0.0).get_densities().tolist(),
}


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ({k: v for k, v in GOOD.items() if k != "mp_id"}, "no material id"),
        ({k: v for k, v in GOOD.items() if k != "structure"}, "no 'structure'"),
        ({k: v for k, v in GOOD.items() if k != "densities"}, "no DOS"),
        ({**GOOD, "structure": {"atoms": []}}, "neither a pymatgen Structure dict"),
        ({**GOOD, "structure": "Si"}, "'structure' must be a dict"),
        ({**GOOD, "structure": {**ase_dict(build("mgo")), "pbc": [1, 1, 0]}}, "periodic"),
        ({**GOOD, "structure": {"numbers": [14], "positions": [[0]], "cell": []}}, "cannot build"),
        ({**GOOD, "dos": {"energies": [0, 1]}}, "'dos' must be a pymatgen Dos"),
        ({**GOOD, "efermi": "high"}, "efermi must be a number"),
        ({**GOOD, "efermi": None}, "efermi is NaN"),
        ({**GOOD, "gap": "wide"}, "gap must be a number"),
        ({**GOOD, "energies": ENERGIES[::-1].tolist()}, "strictly increasing"),
        ({**GOOD, "efermi": 8.0}, "outside the data's energy range"),
    ],
)
def test_bad_record_names_its_line(tmp_path, bad, match):
    path = write_jsonl(tmp_path / "bad.jsonl", [GOOD, "", bad, GOOD])
    with pytest.raises(ValueError, match=match) as info:
        load_electron_dos(path)
    assert str(info.value).startswith(f"{path}, line 3: ")


def test_empty_file_and_bad_grid(tmp_path):
    path = write_jsonl(tmp_path / "empty.jsonl", ["", "  "])
    with pytest.raises(ValueError, match="holds no records"):
        load_electron_dos(path)
    with pytest.raises(ValueError, match="grid must be a DOSGrid"):
        load_electron_dos(path, grid="fermi")
    with pytest.raises(ValueError, match="n_points"):
        load_electron_dos(path, grid=DOSGrid(n_points=1))


# ---------------------------------------------------------------- the GPAW set


@pytest.fixture(scope="module")
def gpaw_home(shared_data_home):
    """Folder holding edos_gpaw.jsonl; skips the test when it is absent."""
    if not (shared_data_home / "edos_gpaw.jsonl").is_file():
        pytest.skip(f"edos_gpaw.jsonl not found in {shared_data_home}.")
    return shared_data_home


@pytest.fixture(scope="module")
def gpaw(gpaw_home):
    return load_electron_dos(data_home=gpaw_home)


def test_gpaw_set(gpaw, gpaw_home):
    n = sum(1 for line in (gpaw_home / "edos_gpaw.jsonl").read_text().splitlines() if line.strip())
    assert n > 0
    assert len(gpaw.structures) == len(gpaw.material_ids) == n
    assert all(isinstance(s, Structure) and len(s) <= 8 for s in gpaw.structures)
    assert gpaw.dos.shape == (n, 201)
    assert np.isfinite(gpaw.dos).all() and (gpaw.dos >= 0).all()
    np.testing.assert_allclose(gpaw.dos.max(axis=1), 1.0)
    np.testing.assert_allclose(gpaw.energies, np.linspace(-5, 5, 201))
    assert gpaw.energy_unit == "eV"
    assert len(set(gpaw.material_ids)) == n
    assert all(i.startswith("mp-") for i in gpaw.material_ids)
    assert set(gpaw.crystal_systems) <= set(CRYSTAL_SYSTEMS)
    assert len(Counter(gpaw.crystal_systems)) >= 2
    assert gpaw.efermi.shape == gpaw.gap.shape == (n,)
    assert np.isfinite(gpaw.efermi).all()
    assert (gpaw.gap >= 0).all()
    assert "GPAW" in gpaw.DESCR


def test_gpaw_gaps_are_empty_above_the_valence_band_maximum(gpaw_home, gpaw):
    # Physical check of reference="vbm" on real DFT: for wide-gap materials the DOS stays
    # near zero across the recorded band gap above the VBM found. The VBM sits in the
    # 0.1 eV Gaussian broadening tail, about 0.25 eV above the eigenvalue, and the
    # conduction band's tail reaches as far below its edge, hence the margins.
    data = load_electron_dos(data_home=gpaw_home, grid=DOSGrid(reference="vbm", smoothing=None))
    assert data.material_ids == gpaw.material_ids
    wide = np.flatnonzero(data.gap > 1.5)
    assert wide.size > 0
    for i in wide:
        inside = (data.energies > 0.3) & (data.energies < data.gap[i] - 0.8)
        assert data.dos[i, inside].max() < 0.005, data.material_ids[i]
        assert data.dos[i, data.energies < -0.5].max() > 0.05, data.material_ids[i]


def test_gpaw_loaded_through_env(gpaw, gpaw_home, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(gpaw_home))
    again = load_electron_dos("edos_gpaw")
    np.testing.assert_array_equal(again.dos, gpaw.dos)
    assert again.crystal_systems == gpaw.crystal_systems


def test_estimator_fits_201_point_targets(gpaw):
    from dos_estimators import DOSTransformerRegressor

    model = DOSTransformerRegressor(
        hidden=16, n_heads=2, max_epochs=1, patience=None, random_state=0, node_features="onehot"
    )
    model.fit(gpaw.structures[:16], gpaw.dos[:16])
    assert model.predict(gpaw.structures[16:20]).shape == (len(gpaw.structures[16:20]), 201)


# ---------------------------------------------------------------- Materials Project records


def test_materials_project_record_from_complete_dos(tmp_path):
    diamond = build("diamond")
    dos = complete_dos(diamond, centre=-1.5, efermi=4.0)
    record = materials_project_record("mp-66", dos, gap=5.4)
    assert record == json.loads(json.dumps(record))  # plain JSON types
    assert record["mp_id"] == "mp-66"
    assert record["efermi"] == 4.0 and record["gap"] == 5.4
    assert record["source"] == "Materials Project"
    np.testing.assert_allclose(record["energies"], ENERGIES + 4.0)
    np.testing.assert_allclose(record["densities"], dos.get_densities(), rtol=1e-12)  # summed
    assert same_structure(Structure.from_dict(record["structure"]), diamond)

    other = materials_project_record("mp-2", peak_dos(0.3, 1.0), structure=build("mgo"))
    assert other["gap"] is None
    data = load_electron_dos(write_jsonl(tmp_path / "mp.jsonl", [record, other]))
    assert data.material_ids == ["mp-66", "mp-2"]
    assert same_structure(data.structures[0], diamond)
    assert data.gap[0] == 5.4 and np.isnan(data.gap[1])
    np.testing.assert_allclose(data.dos, DOSGrid().transform([dos, peak_dos(0.3, 1.0)]))


def test_materials_project_record_errors():
    with pytest.raises(ValueError, match="mp-1: a plain Dos has no structure"):
        materials_project_record("mp-1", peak_dos(0.0))
    with pytest.raises(ValueError, match="mp-1: expected a pymatgen Dos, got dict"):
        materials_project_record("mp-1", peak_dos(0.0).as_dict(), structure=build("mgo"))


# ---------------------------------------------------------------- fetch_materials_project_dos


def test_fetch_needs_an_api_key(tmp_path, monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(ValueError, match="MP_API_KEY"):
        fetch_materials_project_dos(["mp-149"], data_home=tmp_path)
    monkeypatch.setenv("MP_API_KEY", "")
    with pytest.raises(ValueError, match="No Materials Project API key"):
        fetch_materials_project_dos(["mp-149"], data_home=tmp_path)


def test_fetch_needs_the_mp_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mp_api", None)
    monkeypatch.setitem(sys.modules, "mp_api.client", None)
    with pytest.raises(ImportError, match=r'pip install "dos_estimators\[mp\]"'):
        fetch_materials_project_dos(["mp-149"], api_key="key", data_home=tmp_path)
    assert not (tmp_path / "materials_project_dos.jsonl").exists()


def test_fetch_needs_a_query(tmp_path):
    with pytest.raises(ValueError, match="Give material_ids or criteria"):
        fetch_materials_project_dos(api_key="key", data_home=tmp_path)


class FakeMaterialsProject:
    """What the fake ``mp_api.client.MPRester`` serves, and the calls it received."""

    def __init__(self):
        self.summaries = {
            "mp-1": {"is_magnetic": False, "band_gap": 0.0, "structure": build("rock_salt")},
            "mp-2": {"is_magnetic": False, "band_gap": 1.1, "structure": build("diamond")},
            "mp-3": {"is_magnetic": True, "band_gap": 0.0, "structure": build("mgo")},
            "mp-4": {"is_magnetic": False, "band_gap": 3.3, "structure": build("wurtzite")},
        }
        self.keys, self.searches, self.dos_requests = [], [], []

    def module(self) -> types.ModuleType:
        server = self

        class Doc:
            def __init__(self, material_id, summary):
                self.material_id = material_id
                self.is_magnetic = summary["is_magnetic"]
                self.band_gap = summary["band_gap"]

        class Summary:
            def search(self, material_ids=None, has_props=None, fields=None, **criteria):
                server.searches.append(
                    {"material_ids": material_ids, "has_props": has_props, "fields": fields}
                    | criteria
                )
                ids = material_ids or list(server.summaries)
                docs = [Doc(i, server.summaries[i]) for i in ids if i in server.summaries]
                return docs[::-1]  # any order

        class MPRester:
            def __init__(self, api_key=None):
                server.keys.append(api_key)
                self.materials = types.SimpleNamespace(summary=Summary())

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def get_dos_by_material_id(self, material_id):
                server.dos_requests.append(material_id)
                structure = server.summaries[material_id]["structure"]
                return complete_dos(structure, centre=int(material_id[3:]) - 2.5, efermi=1.0)

        module = types.ModuleType("mp_api.client")
        module.MPRester = MPRester
        return module


@pytest.fixture
def fake_mp(monkeypatch):
    server = FakeMaterialsProject()
    monkeypatch.setitem(sys.modules, "mp_api", types.ModuleType("mp_api"))
    monkeypatch.setitem(sys.modules, "mp_api.client", server.module())
    monkeypatch.setenv("MP_API_KEY", "key-from-env")
    return server


def test_fetch_writes_loads_and_resumes(fake_mp, tmp_path):
    path = tmp_path / "materials_project_dos.jsonl"
    with pytest.warns(UserWarning, match=r"magnetic \['mp-3'\], without a DOS \['mp-9'\]"):
        data = fetch_materials_project_dos(["mp-2", "mp-3", "mp-1", "mp-9"], data_home=tmp_path)
    assert fake_mp.keys == ["key-from-env"]
    (search,) = fake_mp.searches
    assert search["has_props"] == ["dos"]
    assert {"material_id", "is_magnetic", "band_gap"} <= set(search["fields"])
    assert fake_mp.dos_requests == ["mp-1", "mp-2"]
    assert data.material_ids == ["mp-1", "mp-2"]
    assert data.dos.shape == (2, 201)
    np.testing.assert_array_equal(data.gap, [0.0, 1.1])
    assert data.crystal_systems == ["cubic", "cubic"]
    assert same_structure(data.structures[1], build("diamond"))
    assert [data.energies[np.argmax(row)] for row in data.dos] == pytest.approx([-1.5, -0.5])
    assert [json.loads(line)["mp_id"] for line in path.read_text().splitlines()] == ["mp-1", "mp-2"]

    # An interrupted write left half a line; the next call removes it and resumes.
    with path.open("a") as out:
        out.write('{"mp_id": "mp-4", "structure": {"lat')
    data = fetch_materials_project_dos(["mp-1", "mp-4"], api_key="explicit", data_home=tmp_path)
    assert fake_mp.keys[-1] == "explicit"
    assert fake_mp.dos_requests == ["mp-1", "mp-2", "mp-4"]
    assert data.material_ids == ["mp-1", "mp-4"]
    assert data.crystal_systems == ["cubic", "hexagonal"]
    lines = path.read_text().splitlines()
    assert [json.loads(line)["mp_id"] for line in lines] == ["mp-1", "mp-2", "mp-4"]
    assert load_electron_dos(path).material_ids == ["mp-1", "mp-2", "mp-4"]


def test_fetch_by_criteria_keeps_magnetic_when_asked(fake_mp, tmp_path):
    data = fetch_materials_project_dos(
        criteria={"num_sites": (1, 8)},
        data_home=tmp_path,
        exclude_magnetic=False,
        filename="all.jsonl",
        grid=DOSGrid(n_points=41, smoothing=(5, 1)),
    )
    assert fake_mp.searches[0]["num_sites"] == (1, 8)
    assert fake_mp.searches[0]["material_ids"] is None
    assert data.material_ids == ["mp-1", "mp-2", "mp-3", "mp-4"]
    assert data.dos.shape == (4, 41)
    assert (tmp_path / "all.jsonl").is_file()


def test_fetch_finding_nothing(fake_mp, tmp_path):
    with pytest.raises(ValueError, match="found no material with a DOS that is not magnetic"):
        with pytest.warns(UserWarning, match="Skipped 1 of 1"):
            fetch_materials_project_dos("mp-3", data_home=tmp_path)


def test_fetch_refuses_a_corrupted_file(fake_mp, tmp_path):
    path = write_jsonl(tmp_path / "materials_project_dos.jsonl", [GOOD, "{broken", GOOD])
    with pytest.raises(ValueError, match="line 2: not valid JSON, and not the last line"):
        fetch_materials_project_dos(["mp-1"], data_home=tmp_path)
    assert fake_mp.dos_requests == []
    assert len(path.read_text().splitlines()) == 3  # left as it was


def test_fetch_appends_after_a_last_line_without_newline(fake_mp, tmp_path):
    path = tmp_path / "materials_project_dos.jsonl"
    path.write_text(json.dumps(GOOD))  # complete record, no final newline
    data = fetch_materials_project_dos(["mp-2"], data_home=tmp_path)
    assert data.material_ids == ["mp-2"]
    assert load_electron_dos(path).material_ids == ["mp-good", "mp-2"]
