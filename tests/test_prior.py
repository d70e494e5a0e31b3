"""``prior=``: DOSTransformer with a universal potential's phonon DOS, and the zero-shot
``PotentialPhononRegressor``."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from pymatgen.io.ase import AseAtomsAdaptor
from safetensors import safe_open
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

import dos_estimators
from dos_estimators import DOSTransformerRegressor, PotentialPhononRegressor, load_model
from dos_estimators._serialization import serialize
from dos_estimators.estimators.prior import PRIOR_LADDER, PRIOR_STRETCHES, rehome_prior
from dos_estimators.phonons import PhononCache, PotentialPhonons, modes_key, phonon_dos

GRID = np.linspace(0.0, 400.0, 21)
SETTINGS = {"supercell_length": 6.0}
CACHE = None  # set by the emt_cache fixture


def coppers(n=6):
    return [AseAtomsAdaptor.get_structure(bulk("Cu", a=3.5 + 0.05 * k)) for k in range(n)]


@pytest.fixture(scope="module", autouse=True)
def emt_cache(tmp_path_factory):
    """EMT's modes of the test crystals, computed once for the whole module."""
    global CACHE
    CACHE = str(tmp_path_factory.mktemp("emt_phonons"))
    PotentialPhonons(EMT(), cache=CACHE, **SETTINGS).modes(coppers())


def emt_prior(**params):
    return PotentialPhonons(EMT(), **{"cache": CACHE, **SETTINGS, **params})


def targets(structures, sigma=20.0, scale=1.05):
    return emt_prior(sigma=sigma, scale=scale).fit(energies=GRID).transform(structures)


def tiny(**params):
    defaults = dict(hidden=16, n_heads=2, max_epochs=2, validation_fraction=None, patience=None)
    return DOSTransformerRegressor(**{**defaults, "random_state": 0, **params})


def test_zero_shot_regressor_chooses_smearing_and_scale():
    X = coppers()
    y = targets(X)
    model = PotentialPhononRegressor(
        EMT(), cache=CACHE, **SETTINGS, n_fit_samples=4, random_state=0
    )
    model.fit(X, y, energies=GRID)
    assert (model.sigma_, model.scale_) == (20.0, 1.05)
    np.testing.assert_allclose(model.predict(X), y, atol=1e-12)
    assert model.score(X, y) == pytest.approx(1.0)
    assert model.predict(X, energies=np.arange(0, 600, 10.0)).shape == (6, 60)
    pipeline = make_pipeline(clone(model)).fit(X, y, potentialphononregressor__energies=GRID)
    np.testing.assert_allclose(pipeline.predict(X), y, atol=1e-12)


def test_a_prior_chooses_its_smearing_and_scale_on_the_training_crystals():
    X = coppers()
    y = targets(X)  # EMT's DOS at 20 cm^-1 and frequencies x 1.05
    prior = emt_prior(sigma="fit", scale="fit").fit(X, y, energies=GRID)
    assert prior.smearing() == (20.0, 1.05)
    np.testing.assert_allclose(prior.transform(X), y / y.max(axis=1, keepdims=True))
    # One of them chosen, the other as given.
    assert emt_prior(sigma="fit", scale=1.05).fit(X, y, energies=GRID).smearing() == (20.0, 1.05)
    assert emt_prior(sigma=20.0, scale="fit").fit(X, y, energies=GRID).smearing() == (20.0, 1.05)
    # The hybrid's prior makes the same choice, and its network starts from it.
    model = tiny(prior=emt_prior(sigma="fit", scale="fit"), max_epochs=1, lr=1e-12)
    model.fit(X, y, energies=GRID)
    assert model.prior_.smearing() == (20.0, 1.05)
    # The default read-out starts (almost: a softmax) on the fitted scale.
    np.testing.assert_allclose(model.predict(X), y, atol=5e-3)
    with pytest.raises(ValueError, match=r'sigma="fit" needs fit\(X, y, energies=\)'):
        emt_prior(sigma="fit").fit(energies=GRID)
    with pytest.raises(ValueError, match='scale must be a positive number or "fit"'):
        emt_prior(scale="auto").fit(energies=GRID)


def test_zero_shot_regressor_needs_the_grid():
    with pytest.raises(ValueError, match="energies="):
        PotentialPhononRegressor(EMT()).fit(coppers(2), np.ones((2, 21)))
    with pytest.raises(ValueError, match="unknown potential 'nope'"):
        PotentialPhononRegressor("nope").fit(coppers(2), np.ones((2, 21)), energies=GRID)


def test_prior_fits_and_predicts_through_pipeline_and_clone():
    X = coppers()
    y = targets(X)
    model = tiny(prior=emt_prior())
    pipeline = make_pipeline(model).fit(X, y, dostransformerregressor__energies=GRID)
    fitted = pipeline[-1]
    assert fitted.prior_.energies_.tolist() == GRID.tolist()
    assert fitted.net_.module_.n_prior == 2 * len(PRIOR_STRETCHES) + 1  # "stretch"
    masked = tiny(prior=emt_prior(), prior_readout="masked").fit(X, y, energies=GRID)
    assert masked.net_.module_.n_prior == len(PRIOR_LADDER)
    assert pipeline.predict(X).shape == (6, 21)
    unfitted = clone(fitted)
    assert not hasattr(unfitted, "prior_") and unfitted.prior.sigma == 15.0


@pytest.mark.parametrize("readout, atol", [("masked", 1e-6), ("add", 1e-6), ("stretch", 5e-3)])
def test_the_network_starts_from_the_prior(readout, atol):
    X = coppers()
    y = targets(X)
    kwargs = dict(prior=emt_prior(), prior_readout=readout)
    model = tiny(**kwargs, max_epochs=1, lr=1e-12).fit(X, y, energies=GRID)
    prior = emt_prior().fit(energies=GRID).transform(X)
    # Untrained, the correction is zero: the prediction is the prior (for "stretch", up
    # to the softmax weight off the fitted scale).
    np.testing.assert_allclose(model.predict(X), prior, atol=atol)
    trained = tiny(**kwargs, max_epochs=20, lr=1e-2).fit(X, y, energies=GRID)
    assert np.mean((trained.predict(X) - y) ** 2) < np.mean((prior - y) ** 2)


def test_prior_needs_the_grid_and_a_known_kind():
    X = coppers(3)
    with pytest.raises(ValueError, match=r"fit with prior= needs energies="):
        tiny(prior=emt_prior()).fit(X, np.ones((3, 21)))
    with pytest.raises(ValueError, match="prior must be None, a potential name"):
        tiny(prior=3.0).fit(X, np.ones((3, 21)), energies=GRID)
    with pytest.raises(ValueError, match="unknown potential 'mace'"):
        tiny(prior="mace").fit(X, np.ones((3, 21)), energies=GRID)


@pytest.mark.parametrize("readout", ["masked", "stretch"])
def test_prior_model_file_round_trip(tmp_path, readout):
    # A named potential whose modes are already in the cache folder: nothing is computed
    # with SevenNet (EMT's modes stand in under SevenNet-0's key).
    X = coppers()
    # Its smearing and scale chosen in fit: the model file keeps the scores of the choice.
    prior = PotentialPhonons(
        "7net-0", cache=tmp_path / "cache", sigma="fit", scale="fit", **SETTINGS
    )
    cache = PhononCache(prior.cache)
    for structure in X:
        cache.put(
            modes_key(structure, "7net-0", prior.settings),
            phonon_dos(structure, EMT(), **SETTINGS),
        )
    y = targets(X)
    model = tiny(prior=prior, prior_readout=readout, energy_encoding="continuous")
    model.fit(X, y, energies=GRID)
    path = tmp_path / "hybrid.safetensors"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    finer = np.linspace(0, 400, 41)
    np.testing.assert_array_equal(
        loaded.predict(X, energies=finer), model.predict(X, energies=finer)
    )
    assert loaded.prior_.potential == "7net-0" and loaded.prior_readout == readout
    assert loaded.prior_.smearing() == model.prior_.smearing()
    scores = loaded.prior_.grid_scores_
    assert len(scores["mse"]) == len(scores["sigma"]) == len(scores["scale"]) > 1
    if readout != "masked":
        return
    # A file written before prior_readout existed: its networks added the correction
    # everywhere, and it loads as that, not as today's default.
    with safe_open(str(path), framework="pt") as file:
        document = json.loads(file.metadata()["estimator"])
        tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
    del document["params"]["prior_readout"]
    older = tmp_path / "older.safetensors"
    older.write_bytes(serialize(document, tensors, package_version=dos_estimators.__version__))
    assert load_model(older).prior_readout == "add"


def test_stretch_readout_learns_a_frequency_scale_of_the_prior():
    X = coppers()
    y = targets(X, sigma=15.0, scale=1.08)  # EMT's DOS with frequencies 8 % higher
    prior = emt_prior()  # fixed at scale 1.0: only the network can stretch it
    start = tiny(prior=prior, prior_readout="stretch", max_epochs=1, lr=1e-12)
    start.fit(X, y, energies=GRID)
    assert start.net_.module_.n_prior == 2 * len(PRIOR_STRETCHES) + 1
    # Untrained, it predicts the prior (the weights sit on the fitted scale).
    np.testing.assert_allclose(start.predict(X), prior.fit(energies=GRID).transform(X), atol=5e-3)
    kwargs = dict(prior_readout="stretch", max_epochs=40, lr=3e-2)
    stretched = tiny(prior=prior, **kwargs).fit(X, y, energies=GRID)
    masked = tiny(prior=prior, **{**kwargs, "prior_readout": "masked"}).fit(X, y, energies=GRID)
    error = {m: np.mean((m.predict(X) - y) ** 2) for m in (stretched, masked)}
    assert error[stretched] < 0.5 * error[masked]


def test_a_loaded_prior_keeps_only_the_priors_files_that_exist_here(tmp_path):
    # The fit's cache, as a model file keeps it: a folder and a priors file of another
    # machine, and a priors file that exists here.
    here = tmp_path / "phonon_priors_7net-0.npz"
    here.write_bytes(b"")
    model = SimpleNamespace(
        prior_=PotentialPhonons(
            "7net-0", cache=["/elsewhere/cache", "/elsewhere/priors.npz", str(here)]
        )
    )
    assert rehome_prior(model, cache=tmp_path / "mine", device="cpu") is model
    assert model.prior_.cache == [tmp_path / "mine", str(here)]
    rehome_prior(model)
    assert model.prior_.cache == [str(here)]
    model.prior_.set_params(cache="/elsewhere/cache")
    assert rehome_prior(model).prior_.cache is None
    # A model without a prior is left as it is.
    plain = SimpleNamespace(prior_=None)
    assert rehome_prior(plain, cache=tmp_path) is plain and plain.prior_ is None
