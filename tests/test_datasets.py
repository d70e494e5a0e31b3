"""Tests for dos_estimators.datasets: data home, the phonon DOS loader, fetch errors.

No test touches the network: downloads are either forbidden or ``pooch.retrieve`` is
replaced by a stub.
"""

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pooch
import pytest
from pymatgen.core import Structure
from sklearn.utils import Bunch

from dos_estimators.datasets import DATA_ENV, PHONON_DOS, get_data_home, load_phonon_dos
from dos_estimators.datasets._base import fetch_file
from dos_estimators.structures import CRYSTAL_SYSTEMS, clear_crystal_system_cache

# ---------------------------------------------------------------- get_data_home


def test_data_env_name():
    assert DATA_ENV == "DOS_ESTIMATORS_DATA"


def test_get_data_home_explicit_beats_env(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "from_env"))
    assert get_data_home(tmp_path / "explicit") == tmp_path / "explicit"
    assert get_data_home(str(tmp_path / "explicit")) == tmp_path / "explicit"


def test_get_data_home_env_beats_default(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "from_env"))
    assert get_data_home() == tmp_path / "from_env"


@pytest.mark.parametrize("env", [None, ""])
def test_get_data_home_default(monkeypatch, tmp_path, env):
    monkeypatch.setenv("HOME", str(tmp_path))
    if env is None:
        monkeypatch.delenv(DATA_ENV, raising=False)
    else:
        monkeypatch.setenv(DATA_ENV, env)
    assert get_data_home() == tmp_path / "dos_estimators_data"


def test_get_data_home_expands_user_and_creates_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    home = get_data_home("~/somewhere")
    assert home == tmp_path / "somewhere"
    assert isinstance(home, Path)
    assert not home.exists()


# ---------------------------------------------------------------- the phonon DOS set


@pytest.fixture(scope="module")
def phonon(shared_data_home):
    # Clear the crystal-system cache so the parallel symmetry search really runs.
    clear_crystal_system_cache()
    return load_phonon_dos(data_home=shared_data_home, download_if_missing=False, n_jobs=2)


def test_phonon_structures(phonon):
    assert isinstance(phonon, Bunch)
    assert len(phonon.structures) == 1521
    assert all(isinstance(s, Structure) for s in phonon.structures)
    assert all(len(s) > 0 and s.is_ordered for s in phonon.structures)


def test_phonon_dos(phonon):
    assert phonon.dos.shape == (1521, 51)
    assert phonon.dos.dtype == np.float64
    assert np.isfinite(phonon.dos).all()
    assert (phonon.dos >= 0).all()
    np.testing.assert_allclose(phonon.dos.max(axis=1), 1.0)


def test_phonon_energies(phonon):
    assert phonon.energies.shape == (51,)
    np.testing.assert_allclose(phonon.energies, np.arange(0, 1001, 20))
    assert phonon.energy_unit == "cm^-1"


def test_phonon_material_ids(phonon):
    ids = phonon.material_ids
    assert len(ids) == 1521
    assert all(isinstance(i, str) for i in ids)
    assert all(i.startswith("mp-") for i in ids)
    assert len(set(ids)) == 1521


def test_phonon_crystal_systems(phonon):
    assert len(phonon.crystal_systems) == 1521
    assert set(phonon.crystal_systems) <= set(CRYSTAL_SYSTEMS)
    # moyopy: RbSnCl3 (mp-998156), a perovskite distorted by less than the tolerance,
    # is tetragonal (P4mm); spglib called it monoclinic (Cm), which gave 324 and 152.
    assert Counter(phonon.crystal_systems) == {
        "cubic": 425,
        "tetragonal": 326,
        "trigonal": 288,
        "orthorhombic": 204,
        "monoclinic": 151,
        "hexagonal": 119,
        "triclinic": 8,
    }


def test_phonon_descr(phonon):
    assert "1,521" in phonon.DESCR
    assert "Petretto" in phonon.DESCR


def test_phonon_loaded_from_env(phonon, shared_data_home, monkeypatch):
    # With the crystal systems now cached, a second load through the env var is cheap.
    monkeypatch.setenv(DATA_ENV, str(shared_data_home))
    again = load_phonon_dos(download_if_missing=False)
    np.testing.assert_array_equal(again.dos, phonon.dos)
    assert again.material_ids == phonon.material_ids
    assert again.crystal_systems == phonon.crystal_systems


# ---------------------------------------------------------------- fetch errors


def _assert_names_where_to_look(message, path):
    assert str(path) in message
    assert PHONON_DOS.url in message
    assert DATA_ENV in message


@pytest.fixture
def no_network(monkeypatch):
    """Make any download attempt fail as if offline, and record the attempts."""
    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise ConnectionError(f"no network for {url}")

    monkeypatch.setattr(pooch, "retrieve", offline)
    return calls


def test_corrupted_file_raises_value_error(shared_data_home, tmp_path, no_network):
    path = tmp_path / PHONON_DOS.filename
    shutil.copyfile(shared_data_home / PHONON_DOS.filename, path)
    data = bytearray(path.read_bytes())
    data[1000] = ord("X") if data[1000] != ord("X") else ord("Y")
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="Checksum mismatch") as info:
        load_phonon_dos(data_home=tmp_path)
    _assert_names_where_to_look(str(info.value), path)
    assert PHONON_DOS.sha256 in str(info.value)
    assert no_network == []
    # The corrupted file is left in place for the user to inspect.
    assert path.read_bytes() == bytes(data)


def test_missing_file_without_download(tmp_path, no_network):
    path = tmp_path / PHONON_DOS.filename
    with pytest.raises(FileNotFoundError, match="download_if_missing=False") as info:
        load_phonon_dos(data_home=tmp_path, download_if_missing=False)
    _assert_names_where_to_look(str(info.value), path)
    assert no_network == []


def test_missing_file_via_env_without_download(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as info:
        load_phonon_dos(download_if_missing=False)
    _assert_names_where_to_look(str(info.value), tmp_path / "nowhere" / PHONON_DOS.filename)


@pytest.mark.parametrize("error", [ConnectionError, OSError, TimeoutError])
def test_missing_file_download_fails(tmp_path, monkeypatch, error):
    calls = []

    def offline(url, *args, **kwargs):
        calls.append((url, kwargs))
        raise error("network is unreachable")

    monkeypatch.setattr(pooch, "retrieve", offline)
    home = tmp_path / "data"
    path = home / PHONON_DOS.filename
    with pytest.raises(FileNotFoundError, match="could not be downloaded") as info:
        load_phonon_dos(data_home=home)
    message = str(info.value)
    _assert_names_where_to_look(message, path)
    assert error.__name__ in message
    assert "network is unreachable" in message
    assert isinstance(info.value.__cause__, error)
    # One attempt, at the pinned address with the pinned checksum.
    assert len(calls) == 1
    url, kwargs = calls[0]
    assert url == PHONON_DOS.url
    assert kwargs["known_hash"] == f"sha256:{PHONON_DOS.sha256}"
    assert not path.exists()


def test_download_checksum_failure(tmp_path, monkeypatch):
    def bad_hash(url, *args, **kwargs):
        raise ValueError("SHA256 hash of downloaded file does not match the known hash")

    monkeypatch.setattr(pooch, "retrieve", bad_hash)
    with pytest.raises(ValueError, match="failed its checksum") as info:
        load_phonon_dos(data_home=tmp_path)
    _assert_names_where_to_look(str(info.value), tmp_path / PHONON_DOS.filename)


def test_fetch_file_uses_download_result(tmp_path, monkeypatch):
    # A successful (stubbed) download returns the path pooch reports.
    target = tmp_path / PHONON_DOS.filename

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        assert Path(path) == tmp_path
        assert fname == PHONON_DOS.filename
        assert progressbar is False
        target.write_text("stub")
        return str(target)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    assert fetch_file(PHONON_DOS, data_home=tmp_path) == target


def test_fetch_file_finds_good_copy(shared_data_home, no_network):
    path = fetch_file(PHONON_DOS, data_home=shared_data_home, download_if_missing=True)
    assert path == shared_data_home / PHONON_DOS.filename
    assert no_network == []
