"""Tests of the released-code configuration of ``DOSTransformerRegressor`` and its ablations.

The parameters ``encoder``, ``edge_basis``, ``attention``, ``fusion``, ``share_paths``,
``prompt``, ``energy_encoding``, ``heads``, ``crystal_descriptors`` and ``lr_schedule``
switch between our architecture and that of the released DOSTransformer code
(HeewoongNoh/DOSTransformer); ``DOSTransformerRegressor.paper()`` sets them all to the
released values. Models here are tiny (16 wide, a few epochs) and train on
:func:`conftest.tiny_dataset`.
"""

import warnings

import numpy as np
import pytest
import torch
from conftest import (
    CONFIGURATION_PARAMS,
    TINY_TRANSFORMER,
    diamond,
    rock_salt,
    rotated,
    tiny_dataset,
    tiny_transformer,
    wurtzite,
)
from scipy.spatial.transform import Rotation
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from skorch.callbacks import Callback

from dos_estimators import CRYSTAL_SYSTEMS, PAPER_PARAMS, DOSTransformerRegressor
from dos_estimators.estimators.energy_grid import grid_positions
from dos_estimators.features import element_table
from dos_estimators.graphs import collate_graphs, structure_to_graph
from dos_estimators.nn import SphericalEdgeBasis, self_attention
from dos_estimators.nn.dostransformer import rmse_loss
from dos_estimators.structures import crystal_systems

# Parameters of the released model, DOSTransformer_phonon(layers=3, t_layers=2,
# n_atom_feats=118, n_bond_feats=4, n_hidden=..., ...) of HeewoongNoh/DOSTransformer at
# commit 2bce6bc, on a 51-point grid: counted once by instantiating it (torch-scatter and
# torch-cluster stubbed) and summing p.numel() over the parameters that receive a gradient
# in one forward/backward pass of a batch of two crystals. Its parameters never used in the
# forward pass (``alpha``, each ``node_mlp_1`` and the unused in_proj/out_proj of its
# attention; 9,227,149 parameters in all at hidden 256) are not counted.
RELEASED_PARAMETERS_USED = {256: 6_463_113, 64: 417_705, 32: 109_017}
RELEASED_N_ENERGIES = 51
RELEASED_ATOM_FEATURES = 118

TINY = TINY_TRANSFORMER

NEW_PARAMS = CONFIGURATION_PARAMS


tiny = tiny_transformer


def n_parameters(module: torch.nn.Module) -> int:
    """Parameters of a module, each shared tensor counted once."""
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def data():
    return tiny_dataset()


def _assert_valid_prediction(prediction, shape):
    assert isinstance(prediction, np.ndarray)
    assert prediction.shape == shape
    assert np.isfinite(prediction).all()
    assert (prediction >= 0).all()


class RecordTrainingSystems(Callback):
    """Record the crystal systems of every training batch."""

    def initialize(self):
        self.systems = set()
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            self.systems.update(int(k) for k in batch[0].system)


# -- prompts of systems seen only in the validation part (regression) ----------------------


def test_system_only_in_random_validation_part_gets_mean_prompt(data):
    # crystal_systems_ used to be computed on all of X before the random validation split,
    # so a system whose crystals all fell into the validation part was marked trained and
    # kept its random, never-trained prompt at predict.
    X, y = data
    recorder = RecordTrainingSystems()
    model = tiny(validation_fraction=0.5, callbacks=[("record", recorder)]).fit(X, y)
    trained = dict(model.net_.callbacks_)["record"].systems
    systems = crystal_systems(X)
    validation_only = sorted({CRYSTAL_SYSTEMS.index(s) for s in systems} - trained)
    # With this seed the split leaves some system in the validation half only.
    assert validation_only
    assert model.crystal_systems_ == [s for k, s in enumerate(CRYSTAL_SYSTEMS) if k in trained]
    module = model.net_.module_
    assert module.trained_systems.tolist() == [k in trained for k in range(len(CRYSTAL_SYSTEMS))]

    weight = module.system_prompts.weight.detach()
    mean_prompt = weight[sorted(trained)].mean(0)
    with torch.no_grad():
        prompts = module.prompts(torch.tensor(validation_only))
    for prompt, k in zip(prompts, validation_only, strict=True):
        torch.testing.assert_close(prompt, mean_prompt)
        assert not torch.allclose(prompt, weight[k])

    # At predict the validation-only crystals do not read their own (untrained) prompt rows.
    rows = [i for i, s in enumerate(systems) if CRYSTAL_SYSTEMS.index(s) in validation_only]
    before = model.predict([X[i] for i in rows])
    with torch.no_grad():
        module.system_prompts.weight[validation_only] = 100.0
    np.testing.assert_array_equal(model.predict([X[i] for i in rows]), before)


# -- parameter count of the released model -------------------------------------------------


@pytest.mark.parametrize("hidden", sorted(RELEASED_PARAMETERS_USED))
def test_paper_network_has_the_released_parameter_count(hidden):
    model = DOSTransformerRegressor.paper(hidden=hidden)
    assert element_table(model.node_features).n_features == RELEASED_ATOM_FEATURES
    module = model._build_module(RELEASED_ATOM_FEATURES, RELEASED_N_ENERGIES)
    assert n_parameters(module) == RELEASED_PARAMETERS_USED[hidden]


# -- the preset ----------------------------------------------------------------------------


def test_paper_preset_params():
    model = DOSTransformerRegressor.paper()
    assert type(model) is DOSTransformerRegressor
    params = model.get_params()
    assert set(PAPER_PARAMS) <= set(params)
    for name, value in PAPER_PARAMS.items():
        assert params[name] == value, name
    # The preset sets every new parameter.
    assert set(NEW_PARAMS) <= set(PAPER_PARAMS)


def test_paper_preset_overrides_win():
    model = DOSTransformerRegressor.paper(hidden=32, fusion="tokens", random_state=7)
    params = model.get_params()
    assert (params["hidden"], params["fusion"], params["random_state"]) == (32, "tokens", 7)
    for name, value in PAPER_PARAMS.items():
        if name not in ("hidden", "fusion"):
            assert params[name] == value, name
    # The preset dictionary itself is left alone.
    assert PAPER_PARAMS["hidden"] == 256 and PAPER_PARAMS["fusion"] == "concat"


def test_paper_preset_fits_predicts_and_clones(data):
    X, y = data
    model = DOSTransformerRegressor.paper(hidden=16, batch_size=4, max_epochs=2, random_state=0)
    assert model.fit(X, y) is model
    _assert_valid_prediction(model.predict(X), y.shape)
    assert model.n_node_features_ == RELEASED_ATOM_FEATURES
    module = model.net_.module_
    assert module.system_path is module.global_path
    copy = clone(model)
    assert not hasattr(copy, "net_")
    assert copy.get_params() == model.get_params()
    for name, value in PAPER_PARAMS.items():
        if name not in ("hidden", "batch_size", "max_epochs"):
            assert copy.get_params()[name] == value, name


# -- every single change fits and predicts -------------------------------------------------

VARIANTS = [
    {"prompt": "onehot"},
    {"prompt": None},
    {"energy_encoding": "learned"},
    {"energy_encoding": "sinusoidal"},
    {"energy_encoding": "continuous"},
    {"share_paths": True},
    {"fusion": "concat"},
    {"attention": "paper"},
    {"encoder": "paper"},
    {"edge_basis": "spherical"},
    {"heads": "linear"},
    {"crystal_descriptors": False},
    {"lr_schedule": "constant"},
]


@pytest.mark.parametrize(
    "change", VARIANTS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
)
def test_variant_fits_and_predicts(data, change):
    X, y = data
    model = tiny(**change).fit(X, y)
    for name, value in change.items():
        assert getattr(model, name) == value
    _assert_valid_prediction(model.predict(X), y.shape)
    _assert_valid_prediction(model.predict(X[:3]), (3, y.shape[1]))


@pytest.mark.parametrize(
    "change",
    [
        {"attention": "paper"},
        {"fusion": "concat"},
        {"attention": "paper", "fusion": "concat", "encoder": "paper", "share_paths": True},
    ],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()),
)
def test_variant_is_batch_invariant(data, change):
    # The released attention has no key-padding mask; ours masks the padded atoms, so a
    # crystal's prediction does not depend on the other (larger) crystals of its batch.
    X, y = data
    model = tiny(**change).fit(X, y)
    together = model.predict(X)
    one_by_one = np.vstack([model.predict([s]) for s in X])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5, rtol=0)
    np.testing.assert_allclose(model.predict(X[::-1])[::-1], together, atol=1e-5, rtol=0)


# -- shared paths and no prompt ------------------------------------------------------------


def test_share_paths_uses_one_path(data):
    X, y = data
    model = tiny(share_paths=True, max_epochs=1).fit(X, y)
    module = model.net_.module_
    assert module.system_path is module.global_path
    separate = tiny(share_paths=False)._build_module(model.n_node_features_, y.shape[1])
    assert separate.system_path is not separate.global_path
    assert n_parameters(module) < n_parameters(separate)
    # Both paths still give the loss its two terms.
    batch = collate_graphs(model._inputs(X[:2]))
    module.train()
    try:
        output = module(batch)
    finally:
        module.eval()
    assert isinstance(output, tuple) and len(output) == 2


def test_no_prompt_has_no_system_path_and_a_single_rmse(data):
    X, y = data
    model = tiny(prompt=None, max_epochs=1).fit(X, y)
    module = model.net_.module_
    assert not hasattr(module, "system_path")
    assert not hasattr(module, "system_prompts")
    batch = collate_graphs(model._inputs(X))
    target = torch.as_tensor(y / model.y_scale_, dtype=torch.float32)
    module.train()
    try:
        with torch.no_grad():
            output = module(batch)
    finally:
        module.eval()
    assert isinstance(output, torch.Tensor)
    assert output.shape == y.shape
    loss = model.net_.criterion_(output, target)
    torch.testing.assert_close(loss, rmse_loss(output, target))
    # In eval mode the same (global) path predicts.
    with torch.no_grad():
        torch.testing.assert_close(module(batch), output)


# -- rotations -----------------------------------------------------------------------------

ROTATION = Rotation.from_euler("zyx", [37.0, -52.0, 114.0], degrees=True).as_matrix()


@pytest.mark.parametrize("encoder", ["graph_network", "paper"])
def test_spherical_edge_basis_is_not_rotation_invariant(data, encoder):
    # The released model's edge features are spherical harmonics of the edge direction
    # (degree <= 1), so it is NOT rotation invariant: rotating a crystal changes its DOS.
    X, y = data
    model = tiny(edge_basis="spherical", encoder=encoder).fit(X, y)
    turned = [rotated(s, ROTATION) for s in X]
    difference = np.abs(model.predict(turned) - model.predict(X)).max()
    assert difference > 1e-4


@pytest.mark.parametrize("encoder", ["graph_network", "paper"])
def test_gaussian_edge_basis_is_rotation_invariant(data, encoder):
    X, y = data
    model = tiny(edge_basis="gaussian", encoder=encoder).fit(X, y)
    turned = [rotated(s, ROTATION) for s in X]
    assert not np.allclose(turned[0].cart_coords, X[0].cart_coords)
    np.testing.assert_allclose(model.predict(turned), model.predict(X), atol=1e-5, rtol=0)


# -- energy grids --------------------------------------------------------------------------

TRAINING_GRID = np.linspace(0.0, 1000.0, 12)
FINE_GRID = np.linspace(0.0, 1000.0, 23)


@pytest.mark.parametrize("encoding", ["sinusoidal", "continuous"])
def test_predict_on_a_finer_grid(data, encoding):
    X, y = data
    model = tiny(energy_encoding=encoding).fit(X, y, energies=TRAINING_GRID)
    np.testing.assert_array_equal(model.energies_, TRAINING_GRID)
    on_training_grid = model.predict(X)
    fine = model.predict(X, energies=FINE_GRID)
    _assert_valid_prediction(fine, (len(X), len(FINE_GRID)))
    np.testing.assert_array_equal(model.predict(X, energies=list(TRAINING_GRID)), on_training_grid)
    np.testing.assert_array_equal(model.predict(X, energies=model.energies_), on_training_grid)
    # Predicting on another grid leaves the model on its training grid afterwards.
    np.testing.assert_array_equal(model.predict(X), on_training_grid)
    assert model.net_.module_.positions.shape == (len(TRAINING_GRID),)


def test_learned_encoding_cannot_predict_on_another_grid(data):
    X, y = data
    model = tiny(energy_encoding="learned", max_epochs=1).fit(X, y, energies=TRAINING_GRID)
    np.testing.assert_array_equal(model.energies_, TRAINING_GRID)
    with pytest.raises(ValueError, match="energy_encoding"):
        model.predict(X, energies=FINE_GRID)
    # The training grid itself is fine.
    np.testing.assert_array_equal(model.predict(X, energies=TRAINING_GRID), model.predict(X))


def test_energies_default_to_the_column_index(data):
    X, y = data
    model = tiny(max_epochs=1).fit(X, y)
    np.testing.assert_array_equal(model.energies_, np.arange(y.shape[1]))


@pytest.mark.parametrize(
    "energies",
    [
        np.linspace(0.0, 1000.0, 11),
        TRAINING_GRID[::-1],
        np.r_[TRAINING_GRID[:5], TRAINING_GRID[4:11]],
        np.r_[TRAINING_GRID[:11], np.nan],
        TRAINING_GRID[None],
    ],
    ids=["wrong-length", "decreasing", "repeated", "nan", "2d"],
)
def test_fit_rejects_bad_energies(data, energies):
    X, y = data
    with pytest.raises(ValueError, match="energies"):
        tiny(energy_encoding="sinusoidal").fit(X, y, energies=energies)


def test_uneven_training_grid_maps_to_its_indices(data):
    X, y = data
    grid = np.geomspace(1.0, 100.0, y.shape[1])
    model = tiny().fit(X, y, energies=grid)  # the learned encoding accepts its own grid
    np.testing.assert_array_equal(model.predict(X, energies=grid), model.predict(X))
    positions = grid_positions(model.energies_, grid)
    np.testing.assert_allclose(positions, np.arange(len(grid)), atol=1e-6)
    # Between two grid points, linearly between their indices; beyond, the end spacing.
    middle = (grid[2] + grid[3]) / 2
    beyond = grid[-1] + (grid[-1] - grid[-2])
    positions = grid_positions(model.energies_, [middle, beyond])
    np.testing.assert_allclose(positions, [2.5, len(grid)], atol=1e-5)


def test_single_energy_model_refuses_another_grid(data):
    X, y = data
    model = tiny(energy_encoding="continuous").fit(X, y[:, :1], energies=[5.0])
    assert model.predict(X).shape == (len(X), 1)
    with pytest.raises(ValueError, match="single energy"):
        model.predict(X, energies=[4.0, 5.0])


def test_predict_rejects_a_non_increasing_grid(data):
    X, y = data
    model = tiny(energy_encoding="sinusoidal", max_epochs=1).fit(X, y, energies=TRAINING_GRID)
    for grid in (FINE_GRID[::-1], np.r_[FINE_GRID[:3], FINE_GRID[2:]], [0.0, np.nan, 1.0]):
        with pytest.raises(ValueError, match="energies"):
            model.predict(X, energies=grid)


# -- fine-tuning without learned prompts ---------------------------------------------------


@pytest.mark.parametrize("prompt", ["onehot", None])
def test_fine_tune_only_prompt_needs_learned_prompts(data, prompt):
    _, y = data
    cubic = [rock_salt(5.64), rock_salt(5.0, ("Mg", "O")), diamond(3.57), diamond(5.43, "Si")]
    model = tiny(prompt=prompt, max_epochs=1).fit(cubic, y[:4])
    X_new, y_new = [wurtzite(), wurtzite(3.4, 5.5)], y[4:6]
    with pytest.raises(ValueError, match="prompt"):
        model.fine_tune(X_new, y_new)
    with pytest.raises(ValueError, match="prompt"):
        model.fine_tune(X_new, y_new, only_prompt=True)
    with pytest.raises(ValueError, match="prompt"):
        model.fine_tune(X_new, y_new, only_prompt=np.True_)
    before = model.predict(X_new)
    assert model.fine_tune(X_new, y_new, only_prompt=False, max_epochs=2, lr=1e-2) is model
    after = model.predict(X_new)
    _assert_valid_prediction(after, (2, y.shape[1]))
    assert not np.allclose(after, before)
    assert model.crystal_systems_ == ["cubic", "hexagonal"]


# -- parameter validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"encoder": "x"}, "encoder"),
        ({"edge_basis": "x"}, "edge_basis"),
        ({"attention": "x"}, "attention"),
        ({"fusion": "x"}, "fusion"),
        ({"share_paths": "yes"}, "share_paths"),
        ({"prompt": "x"}, "prompt"),
        ({"energy_encoding": "x"}, "energy_encoding"),
        ({"heads": "x"}, "heads"),
        ({"crystal_descriptors": 1.5}, "crystal_descriptors"),
        ({"lr_schedule": "x"}, "lr_schedule"),
        ({"energy_encoding": "sinusoidal", "hidden": 15, "n_heads": 1}, "energy_encoding"),
        ({"prompt": "onehot", "fusion": "concat", "hidden": 12}, "prompt"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={x}" for k, x in v.items()),
)
def test_bad_parameter_is_a_value_error_before_any_graph(params, name, monkeypatch):
    # With valid parameters these inputs fail as non-structures (see the next test).
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        tiny(**params).fit(["not a crystal"] * 4, np.ones((4, 12)))

    def no_graphs(*args, **kwargs):
        raise AssertionError("graphs built before the parameters were checked")

    monkeypatch.setattr("dos_estimators.estimators.graph_inputs.structures_to_graphs", no_graphs)
    structures, targets = tiny_dataset()
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        tiny(**params).fit(structures, targets)


def test_valid_parameters_reach_the_structures():
    with pytest.raises(ValueError, match=r"Sample 0\b"):
        tiny().fit(["not a crystal"] * 4, np.ones((4, 12)))


def test_valid_edge_cases_are_accepted(data):
    # The smallest settings the checks allow still fit.
    X, y = data
    for params in (
        {"energy_encoding": "sinusoidal", "hidden": 14, "n_heads": 1},
        {"prompt": "onehot", "fusion": "concat", "hidden": 14, "n_heads": 1},
        {"share_paths": np.bool_(True), "crystal_descriptors": np.bool_(False)},
    ):
        _assert_valid_prediction(tiny(max_epochs=1, **params).fit(X, y).predict(X), y.shape)


# -- constant learning rate ----------------------------------------------------------------


def test_constant_lr_schedule_keeps_lr(data):
    X, y = data
    lr = 3e-3
    model = tiny(lr_schedule="constant", lr=lr).fit(X, y)
    callbacks = dict(model.net_.callbacks_)
    assert "lr_schedule" not in callbacks
    assert all(group["lr"] == lr for group in model.net_.optimizer_.param_groups)
    # The default one-cycle schedule moves the rate away from its peak by the end.
    onecycle = tiny(lr=lr).fit(X, y)
    assert "lr_schedule" in dict(onecycle.net_.callbacks_)
    assert all(group["lr"] != lr for group in onecycle.net_.optimizer_.param_groups)


# -- warnings ------------------------------------------------------------------------------


def test_convergence_warning_when_max_epochs_ends_an_improving_fit(data):
    X, y = data
    with pytest.warns(ConvergenceWarning, match="max_epochs=3"):
        model = tiny(max_epochs=3, lr=1e-3, validation_fraction=None).fit(X, y)
    assert model.net_.history[-1, "train_loss_best"]


def test_no_convergence_warning_when_the_best_epoch_is_earlier(data):
    X, y = data
    # A constant, absurdly large learning rate: the loss is not best at the last epoch.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = tiny(max_epochs=4, lr=50.0, lr_schedule="constant").fit(X, y)
    assert not model.net_.history[-1, "valid_loss_best"]


def test_predict_warns_about_crystal_systems_training_never_saw(data):
    X, y = data
    cubic = [rock_salt(5.64), rock_salt(5.0, ("Mg", "O")), diamond(3.57), diamond(5.43, "Si")]
    model = tiny(max_epochs=1).fit(cubic, y[:4])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.predict(cubic)
    with pytest.warns(UserWarning, match=r"1 of 2 crystals .*\(hexagonal\).*mean"):
        model.predict([cubic[0], wurtzite()])
    without_prompt = tiny(max_epochs=1, prompt=None).fit(cubic, y[:4])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        without_prompt.predict([wurtzite()])


# -- details of the released code ------------------------------------------------------------


def test_paper_self_attention_layers_all_read_the_stack_input():
    # Released layers/transformer.py sets keys and values once, before its layer loop.
    torch.manual_seed(0)
    stack = self_attention(8, 1, 2, kind="paper").eval()
    tokens = torch.randn(2, 5, 8)
    first, second = stack.stack.layers
    with torch.no_grad():
        expected = stack.stack.norm(second(first(tokens, tokens), tokens))
        torch.testing.assert_close(stack(tokens), expected)
        chained = stack.stack.norm(second(first(tokens, tokens), first(tokens, tokens)))
    assert not torch.allclose(stack(tokens), chained)


def test_self_loops_add_one_zero_length_edge_per_atom():
    crystal = wurtzite()
    plain = structure_to_graph(crystal, cutoff=4.0)
    looped = structure_to_graph(crystal, cutoff=4.0, self_loops=True)
    n_atoms = len(crystal)
    assert looped.num_edges == plain.num_edges + n_atoms
    added = looped.edge_index[:, -n_atoms:]
    assert added.tolist() == [list(range(n_atoms))] * 2
    assert torch.all(looped.edge_length[-n_atoms:] == 0)
    basis = SphericalEdgeBasis(4.0)(looped.edge_length, looped.edge_vec)
    torch.testing.assert_close(basis[-n_atoms:], torch.tensor([[1.0, 0, 0, 0]] * n_atoms))


def test_spherical_basis_points_from_sender_to_receiver_as_released():
    # Our edge_vec points from the receiving atom (edge_index[1]) to the sender; the
    # released code's the other way, and its l=1 features are √3 times its unit vector.
    vec = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -2.0]])
    features = SphericalEdgeBasis(10.0)(vec.norm(dim=1), vec)
    root3 = 3.0**0.5
    torch.testing.assert_close(features, torch.tensor([[1.0, -root3, 0, 0], [1.0, 0, 0, root3]]))


def test_paper_preset_node_features_are_masses_in_amu():
    table = element_table(PAPER_PARAMS["node_features"])
    assert table.values.shape[1] == RELEASED_ATOM_FEATURES
    assert table.values[1, 0] == pytest.approx(1.008, abs=1e-3)  # H
    assert table.values[26, 25] == pytest.approx(55.845, abs=1e-3)  # Fe
    assert np.count_nonzero(table.values[26]) == 1
    assert PAPER_PARAMS["self_loops"] is True
