"""The ``DOSTransformer`` network's layout: what saved models and seeded fits depend on.

Model files load a network's weights by state-dict key, and a seeded fit gets its initial
weights from the order in which the network draws random numbers. Every variant is one
composition of the pieces in ``dos_estimators.nn``; these tests pin the keys, the order
of construction, and that networks pickled before the fusion modules existed still work.
"""

from __future__ import annotations

import copy
import hashlib
import pickle
from functools import partial

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from dos_estimators.nn import (
    ConcatFusion,
    CrossAttention,
    CrystalReadout,
    DOSTransformer,
    TokenFusion,
    context_fusion,
    graph_encoder,
    onehot_prompts,
    token_decoder,
)
from dos_estimators.nn.dostransformer import _TokenPath
from dos_estimators.nn.energy import energy_encoding

N_ENERGIES, IN_FEATURES, N_PRIOR = 5, 4, 2
SIZES = dict(hidden=16, n_heads=2, n_gnn_layers=1, n_cross_layers=1, n_self_layers=1, n_basis=4)
RELEASED = dict(
    encoder="paper",
    edge_basis="spherical",
    attention="paper",
    fusion="concat",
    share_paths=True,
    heads="linear",
    pooling="sum",
    composition_stats=False,
)

# name: (options, top-level entries of the state dict in order, digest of every (key, shape))
LAYOUTS = {
    "default": (
        {},
        "positions trained_systems encoder readout energy_encoding cross_attention "
        "system_prompts global_path system_path decoder",
        "149570765d6e0543",
    ),
    "released": (
        RELEASED,
        "positions trained_systems encoder readout energy_encoding cross_attention "
        "system_prompts global_path system_path fuse_global fuse_system decoder",
        "0546be2a8fedb860",
    ),
    "onehot_prior": (
        {"prompt": "onehot", "n_prior": N_PRIOR},
        "prior_gate positions onehot_prompts trained_systems encoder readout "
        "energy_encoding cross_attention global_path system_path decoder prior_projection",
        "6e22f25335c490da",
    ),
    "no_prompt_concat": (
        {"prompt": None, "fusion": "concat", "energy_encoding": "continuous"},
        "positions trained_systems encoder readout energy_encoding cross_attention "
        "global_path fuse_global decoder",
        "076d7a65ad41658c",
    ),
}


def network(**options) -> DOSTransformer:
    torch.manual_seed(0)
    return DOSTransformer(N_ENERGIES, IN_FEATURES, **{**SIZES, **options})


def batch() -> Batch:
    generator = torch.Generator().manual_seed(0)
    graphs = []
    for n_atoms, system in ((2, 0), (3, 4), (1, 6)):
        pairs = [(i, j) for i in range(n_atoms) for j in range(n_atoms) if i != j] or [(0, 0)]
        vec = torch.rand(len(pairs), 3, generator=generator) - 0.5
        graphs.append(
            Data(
                x=torch.rand(n_atoms, IN_FEATURES, generator=generator),
                z=torch.randint(1, 90, (n_atoms,), generator=generator),
                edge_index=torch.tensor(pairs).T,
                edge_length=vec.norm(dim=1) + 1.0,
                edge_vec=vec,
                crystal_attr=torch.rand(1, 2, generator=generator),
                system=torch.tensor([system]),
                prior=torch.rand(1, N_ENERGIES, N_PRIOR, generator=generator),
                num_nodes=n_atoms,
            )
        )
    return Batch.from_data_list(graphs)


def digest(module: nn.Module) -> str:
    entries = [(key, tuple(value.shape)) for key, value in module.state_dict().items()]
    return hashlib.sha256(repr(entries).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", LAYOUTS)
def test_state_dict_keys_are_those_model_files_store(name):
    options, top_level, expected_digest = LAYOUTS[name]
    module = network(**options)
    entries = list(dict.fromkeys(key.split(".")[0] for key in module.state_dict()))
    assert entries == top_level.split()
    assert digest(module) == expected_digest


def reference_build(fusion="tokens", prompt="learned", heads="mlp", n_prior=0, **options):
    """The pieces of a DOSTransformer built one after the other, in the documented order."""
    o = {**SIZES, "dropout": 0.1, "cutoff": 5.0, "n_cross_layers_out": 1, **options}
    hidden, n_heads, dropout, attention = o["hidden"], o["n_heads"], o["dropout"], "standard"
    attention = o.get("attention", attention)
    width = hidden if fusion == "tokens" else hidden // 2
    torch.manual_seed(0)
    parts = {}
    parts["encoder"] = graph_encoder(
        o.get("encoder", "graph_network"),
        IN_FEATURES,
        hidden,
        o["n_gnn_layers"],
        o["cutoff"],
        o["n_basis"],
        dropout,
        o.get("edge_basis", "gaussian"),
    )
    pooling, stats = o.get("pooling", "mean"), o.get("composition_stats", True)
    linear = heads == "linear"
    parts["readout"] = CrystalReadout(hidden, IN_FEATURES, 2, pooling, stats, dropout, linear)
    kind = o.get("energy_encoding", "learned")
    parts["energy_encoding"] = energy_encoding(kind, N_ENERGIES, hidden)
    n_cross = o["n_cross_layers"]
    parts["cross_attention"] = CrossAttention(hidden, n_heads, n_cross, dropout, attention)
    if prompt == "learned":
        parts["system_prompts"] = nn.Embedding(7, width)
    path = partial(
        _TokenPath, hidden, n_heads, o["n_self_layers"], o["n_cross_layers_out"], dropout, attention
    )
    parts["global_path"] = path()
    if prompt is not None:
        parts["system_path"] = parts["global_path"] if o.get("share_paths") else path()
    parts["fuse_global"] = context_fusion(fusion, hidden, hidden)
    if prompt is not None:
        parts["fuse_system"] = context_fusion(fusion, hidden, hidden + width)
    parts["decoder"] = token_decoder(heads, hidden, dropout)
    if n_prior:
        parts["prior_projection"] = nn.Linear(n_prior, hidden)
    return parts, torch.get_rng_state()


@pytest.mark.parametrize("name", LAYOUTS)
def test_pieces_draw_their_initial_weights_in_the_documented_order(name):
    options = LAYOUTS[name][0]
    parts, rng_after = reference_build(**options)
    module = network(**options)
    assert torch.equal(torch.get_rng_state(), rng_after)
    for part_name, part in parts.items():
        state = getattr(module, part_name).state_dict()
        expected = part.state_dict()
        assert list(state) == list(expected), part_name
        if part_name == "decoder" and options.get("n_prior"):
            continue  # its last layer starts at zero with a prior
        for key, value in expected.items():
            assert torch.equal(state[key], value), f"{part_name}.{key}"
    if options.get("prompt") == "onehot":
        assert torch.equal(module.onehot_prompts, onehot_prompts(7, SIZES["hidden"]))


def as_pickled_before_fusion_modules(module: DOSTransformer) -> bytes:
    """``module`` pickled as by the class before it had fusion modules."""
    old = copy.deepcopy(module)
    for name in ("fuse_global", "fuse_system"):
        fusion = old._modules.get(name)
        if isinstance(fusion, TokenFusion):
            del old._modules[name]  # fusion="tokens" had no such attribute
        elif isinstance(fusion, ConcatFusion):
            fusion.__class__ = nn.Linear  # fusion="concat" had a plain linear layer
    return pickle.dumps(old)


@pytest.mark.parametrize("options", [{}, {"fusion": "concat"}, RELEASED, {"prompt": None}])
def test_networks_pickled_before_fusion_modules_predict_as_before(options):
    module = network(**options).eval()
    data = batch()
    with torch.no_grad():
        expected = module(data)
    blob = as_pickled_before_fusion_modules(module)
    old = pickle.loads(blob)
    assert isinstance(old.fuse_global, (TokenFusion, ConcatFusion))
    with torch.no_grad():
        assert torch.equal(old(data), expected)
    assert list(old.state_dict()) == list(module.state_dict())


def test_prompt_tuning_trains_prompts_and_decoder_and_puts_other_prompts_back():
    module = network()
    module.trained_systems[[1, 4]] = False
    table = module.system_prompts.weight
    before = table.detach().clone()
    mean = before[module.trained_systems].mean(0)
    with module.prompt_tuning([4]) as tuned:
        assert tuned is module
        assert torch.equal(table[4], mean) and bool(module.trained_systems[4])
        trainable = {name for name, p in module.named_parameters() if p.requires_grad}
        assert trainable == {"system_prompts.weight"} | {
            f"decoder.{name}" for name, _ in module.decoder.named_parameters()
        }
        with torch.no_grad():
            table.add_(1.0)  # as weight decay would move every row
    assert all(p.requires_grad for p in module.parameters())
    others = [k for k in range(7) if k != 4]
    assert torch.equal(table[others], before[others])
    assert torch.equal(table[4], mean + 1.0)
    assert not module.trained_systems[1]


@pytest.mark.parametrize("readout", ["masked", "add"])
def test_prior_readout_puts_the_correction_where_it_says(readout):
    data = batch()
    data.prior[:, :2, -1] = 0.0  # the widest channel: no modes at the two lowest energies
    module = network(prompt=None, n_prior=N_PRIOR, prior_readout=readout).eval()
    last = [m for m in module.decoder.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.bias.fill_(0.5)  # a correction of 0.5 at every energy
        dos = module(data)
    expected = 0.5 * (data.prior[..., -1] if readout == "masked" else 1.0) + data.prior[..., 0]
    torch.testing.assert_close(dos, expected)
    if readout == "masked":
        torch.testing.assert_close(dos[:, :2], data.prior[:, :2, 0])


def test_an_unknown_prior_readout_is_refused_by_name():
    with pytest.raises(ValueError, match="prior_readout='scaled' is not one of"):
        network(n_prior=N_PRIOR, prior_readout="scaled")


def test_stretch_readout_mixes_the_scaled_priors_by_learned_weights():
    n_scales = 3
    data = batch()
    generator = torch.Generator().manual_seed(1)
    data.prior = torch.rand(3, N_ENERGIES, 2 * n_scales + 1, generator=generator)
    module = network(prompt=None, n_prior=2 * n_scales + 1, prior_readout="stretch").eval()
    with torch.no_grad():
        start = module(data)
    # Untrained: the correction is zero and the weights sit on the middle scale.
    torch.testing.assert_close(start, data.prior[..., 1], atol=2e-3, rtol=0)
    last = [m for m in module.decoder.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        module.prior_mixer.bias.copy_(torch.tensor([30.0, 0.0, 0.0]))  # all on scale 0
        last.bias.fill_(0.5)
        dos = module(data)
    # The first scale's prior, plus 0.5 times that scale's wide channel.
    torch.testing.assert_close(dos, data.prior[..., 0] + 0.5 * data.prior[..., n_scales])


def test_stretch_readout_needs_an_odd_number_of_prior_channels():
    with pytest.raises(ValueError, match=r"needs n_prior = 2K \+ 1 >= 3, got 4"):
        network(n_prior=4, prior_readout="stretch")
