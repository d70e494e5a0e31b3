"""Tests for dos_estimators.features: element tables and their coverage checks."""

import numpy as np
import pytest
from pymatgen.core.periodic_table import Element

from dos_estimators.features import MAX_Z, NODE_FEATURES, atomic_masses, element_table

EXPECTED_WIDTH = {
    "onehot": 118,
    "mass_onehot": 118,
    "mass_onehot_amu": 118,
    "magpie": 22,
    "matscholar": 200,
    "megnet": 16,
    "cgcnn": 92,
}


@pytest.mark.parametrize("name", NODE_FEATURES)
def test_table_shape_and_finite(name):
    table = element_table(name)
    assert table.name == name
    assert table.values.shape == (MAX_Z + 1, EXPECTED_WIDTH[name])
    assert table.values.shape[0] == 119
    assert table.n_features == EXPECTED_WIDTH[name]
    assert table.values.dtype == np.float32
    assert np.isfinite(table.values).all()
    assert table.supported.shape == (119,)
    assert table.supported.dtype == bool
    assert not table.supported[0]


def test_all_names_covered():
    assert set(NODE_FEATURES) == set(EXPECTED_WIDTH)


def test_magpie_has_22_columns():
    assert element_table("magpie").values.shape == (119, 22)
    assert element_table().name == "magpie"


@pytest.mark.parametrize("name", NODE_FEATURES)
def test_common_elements_supported(name):
    # H, C, O, Na, Si, Cl, Fe, Zn, Ba, Pb: present in every source table.
    table = element_table(name)
    assert table.supported[[1, 6, 8, 11, 14, 17, 26, 30, 56, 82]].all()


@pytest.mark.parametrize("name", NODE_FEATURES)
def test_tables_are_read_only(name):
    table = element_table(name)
    with pytest.raises(ValueError):
        table.values[1, 0] = 1.0
    with pytest.raises(ValueError):
        table.supported[1] = False


def test_table_is_cached():
    assert element_table("magpie") is element_table("magpie")


def test_onehot_is_identity():
    values = element_table("onehot").values
    np.testing.assert_array_equal(values[1:], np.eye(118, dtype=np.float32))
    np.testing.assert_array_equal(values[0], 0)


def test_mass_onehot_carries_scaled_mass():
    values = element_table("mass_onehot").values
    masses = atomic_masses()
    expected = np.diag(masses[1:] / masses.max()).astype(np.float32)
    np.testing.assert_allclose(values[1:], expected, rtol=1e-6)
    # Iron (Z=26) in column 25, the heaviest element at 1.
    assert values[26, 25] == pytest.approx(55.845 / masses.max(), rel=1e-4)
    assert values.max() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["magpie", "matscholar", "megnet"])
def test_continuous_tables_are_standardised(name):
    table = element_table(name)
    rows = table.values[table.supported].astype(np.float64)
    np.testing.assert_allclose(rows.mean(axis=0), 0, atol=1e-4)
    std = rows.std(axis=0)
    # Each column has unit variance over supported elements (or is constant and left at 0).
    assert np.all(np.isclose(std, 1, atol=1e-4) | np.isclose(std, 0, atol=1e-6))
    np.testing.assert_array_equal(table.values[~table.supported], 0)


def test_distinct_elements_have_distinct_magpie_rows():
    values = element_table("magpie").values
    assert not np.allclose(values[11], values[17])  # Na vs Cl


def test_cgcnn_is_binary_and_covers_1_to_100():
    table = element_table("cgcnn")
    assert set(np.unique(table.values)) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.flatnonzero(table.supported), np.arange(1, 101))


def test_unknown_name_raises_naming_it():
    with pytest.raises(ValueError, match="'not_a_table'.*magpie"):
        element_table("not_a_table")


@pytest.mark.parametrize("name", ["megnet", "cgcnn", "magpie", "matscholar"])
def test_check_numbers_rejects_unsupported_element(name):
    table = element_table(name)
    unsupported = np.flatnonzero(~table.supported[1:]) + 1
    assert unsupported.size  # these tables do not cover the whole periodic table
    z = int(unsupported[0])
    symbol = Element.from_Z(z).symbol
    with pytest.raises(ValueError, match=rf"Sample 7\b.*\b{symbol}\b.*{name!r}") as info:
        table.check_numbers([8, z, 8], index=7)
    assert "node_features" in str(info.value)


@pytest.mark.parametrize("name", ["megnet", "cgcnn"])
def test_check_numbers_rejects_darmstadtium(name):
    table = element_table(name)
    assert not table.supported[110]
    with pytest.raises(ValueError, match=r"Sample 3\b.*\bDs\b"):
        table.check_numbers(np.array([110, 26]), index=3)


def test_check_numbers_names_each_bad_element_once():
    table = element_table("cgcnn")
    with pytest.raises(ValueError) as info:
        table.check_numbers([110, 110, 105, 1])
    message = str(info.value)
    assert "Db, Ds" in message
    assert message.count("Ds") == 1
    assert "Sample" not in message


@pytest.mark.parametrize("bad", [0, MAX_Z + 1, -3])
def test_check_numbers_rejects_out_of_range(bad):
    table = element_table("onehot")
    with pytest.raises(ValueError, match=rf"Sample 0\b.*Z={bad}"):
        table.check_numbers([1, bad], index=0)


@pytest.mark.parametrize("name", NODE_FEATURES)
def test_check_numbers_passes_for_supported(name):
    table = element_table(name)
    supported = np.flatnonzero(table.supported)
    assert table.check_numbers(supported, index=0) is None
    assert table.check_numbers([11, 17]) is None


def test_onehot_supports_every_element():
    table = element_table("onehot")
    table.check_numbers(np.arange(1, MAX_Z + 1))
    assert table.supported[1:].all()


def test_atomic_masses():
    masses = atomic_masses()
    assert masses.shape == (MAX_Z + 1,)
    assert masses[0] == 0
    assert masses[1] == pytest.approx(1.008, abs=1e-3)
    assert masses[6] == pytest.approx(12.011, abs=1e-3)
    assert not masses.flags.writeable
