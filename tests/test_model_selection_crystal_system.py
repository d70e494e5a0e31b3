"""Tests for the splitters by crystal system of :mod:`dos_estimators.model_selection`.

:class:`~dos_estimators.model_selection.CrystalSystemSplit` (one held-out part) and
:class:`~dos_estimators.model_selection.LeaveOneCrystalSystemOut` (one fold per system).
"""

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from splitter_helpers import check_partition, one_atom_cells

from dos_estimators.model_selection import CrystalSystemSplit, LeaveOneCrystalSystemOut
from dos_estimators.structures import CRYSTAL_SYSTEMS, crystal_systems

# -- CrystalSystemSplit -----------------------------------------------------------------


def test_one_atom_cells_have_the_intended_systems():
    X = one_atom_cells(dict.fromkeys(CRYSTAL_SYSTEMS, 1))
    assert crystal_systems(X) == list(CRYSTAL_SYSTEMS)


def test_crystal_system_split_holds_out_monoclinic_and_triclinic():
    X = one_atom_cells(dict.fromkeys(CRYSTAL_SYSTEMS, 2))
    systems = crystal_systems(X)
    splits = list(CrystalSystemSplit().split(X))
    assert len(splits) == CrystalSystemSplit().get_n_splits() == 1
    train, test = splits[0]
    check_partition(train, test, len(X))
    assert {systems[i] for i in test} == {"monoclinic", "triclinic"}
    assert {systems[i] for i in train} == {
        "cubic",
        "hexagonal",
        "tetragonal",
        "trigonal",
        "orthorhombic",
    }


def test_crystal_system_split_custom_systems_and_single_name():
    X = one_atom_cells({"cubic": 2, "hexagonal": 3, "trigonal": 1})
    train, test = next(CrystalSystemSplit(test_systems="hexagonal").split(X))
    assert test.tolist() == [2, 3, 4]
    train, test = next(CrystalSystemSplit(test_systems=("hexagonal", "trigonal")).split(X))
    assert train.tolist() == [0, 1]


def test_crystal_system_split_empty_side_lists_the_systems_found():
    X = one_atom_cells({"cubic": 2, "hexagonal": 1})
    with pytest.raises(ValueError, match=r"test part empty.*cubic \(2\), hexagonal \(1\)"):
        next(CrystalSystemSplit().split(X))
    with pytest.raises(ValueError, match=r"training part empty.*cubic \(2\), hexagonal \(1\)"):
        next(CrystalSystemSplit(test_systems=("cubic", "hexagonal")).split(X))


@pytest.mark.parametrize("bad", [("monoclinc",), ("cubic", "rhombic"), ()])
def test_crystal_system_split_unknown_system(bad):
    with pytest.raises(ValueError, match="test_systems") as err:
        next(CrystalSystemSplit(test_systems=bad).split(one_atom_cells({"cubic": 2})))
    if bad:
        assert "triclinic" in str(err.value) and repr(bad[-1]) in str(err.value)


def test_crystal_system_split_rejects_bad_symprec():
    with pytest.raises(ValueError, match="symprec"):
        next(CrystalSystemSplit(symprec=0).split(one_atom_cells({"cubic": 2})))


def test_crystal_system_split_uses_symprec():
    # A cubic cell stretched by 0.05 Å is cubic at symprec 0.1 and tetragonal at 0.01.
    X = [Structure(Lattice.tetragonal(4.0, 4.05), ["Cu"], [[0, 0, 0]])] + one_atom_cells(
        {"tetragonal": 1}
    )
    assert next(CrystalSystemSplit(test_systems="cubic").split(X))[1].tolist() == [0]
    with pytest.raises(ValueError, match=r"tetragonal \(2\)"):
        next(CrystalSystemSplit(test_systems="cubic", symprec=0.01).split(X))


# -- LeaveOneCrystalSystemOut -----------------------------------------------------------


def test_leave_one_crystal_system_out_one_fold_per_system():
    X = one_atom_cells({"triclinic": 1, "cubic": 2, "trigonal": 3})
    systems = crystal_systems(X)
    cv = LeaveOneCrystalSystemOut()
    assert cv.get_n_splits(X) == 3
    folds = list(cv.split(X))
    assert [systems[test[0]] for _, test in folds] == ["cubic", "trigonal", "triclinic"]
    for train, test in folds:
        check_partition(train, test, len(X))
        assert len({systems[i] for i in test}) == 1
        assert systems[test[0]] not in {systems[i] for i in train}
    assert sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(len(X)))


def test_leave_one_crystal_system_out_needs_two_systems():
    X = one_atom_cells({"cubic": 3})
    with pytest.raises(ValueError, match=r"at least two crystal systems; found: cubic \(3\)"):
        next(LeaveOneCrystalSystemOut().split(X))
    with pytest.raises(ValueError, match="needs X"):
        LeaveOneCrystalSystemOut().get_n_splits()


def test_invalid_structures_are_rejected():
    with pytest.raises(ValueError, match="Sample 1"):
        next(LeaveOneCrystalSystemOut().split([one_atom_cells({"cubic": 1})[0], "NaCl"]))
