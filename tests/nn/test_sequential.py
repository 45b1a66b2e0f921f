"""Sequential: PyTorch's child names, indexing, composition, gradients, repr and config."""

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentTypeError, NumrnnError, ShapeError, nn
from numrnn.testing import gradcheck_module


def head(dtype=np.float64):
    return nn.Sequential(nn.Linear(4, 6, dtype=dtype, rng=0), nn.LayerNorm(6, dtype=dtype),
                         nn.Dropout(0.5, rng=0), nn.Linear(6, 3, bias=False, dtype=dtype, rng=1))


def test_children_are_named_by_position_like_pytorch():
    model = head()
    assert [name for name, _ in model.named_children()] == ["0", "1", "2", "3"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight"]


def test_indexing_len_iteration_and_append():
    model = head()
    children = list(model.named_children())
    assert len(model) == 4 and list(model) == [module for _, module in children]
    assert model[0] is children[0][1] and model[-1] is children[3][1]
    assert model[np.int64(1)] is children[1][1]
    tail = model[1:3]
    assert isinstance(tail, nn.Sequential) and list(tail) == [model[1], model[2]]
    assert [name for name, _ in tail.named_children()] == ["0", "1"]
    extra = nn.Linear(3, 2, dtype=np.float64)
    assert model.append(extra) is model and model[4] is extra and len(model) == 5


def test_forward_applies_children_in_order():
    model = head().eval()
    x = np.random.default_rng(0).standard_normal((5, 2, 4))
    expected = x
    for module in model:
        expected = module(expected)
    np.testing.assert_array_equal(model(x).data, expected.data)
    assert model(x).shape == (5, 2, 3)
    assert nn.Sequential()(x) is x  # an empty Sequential is the identity


def test_gradients_reach_every_child_parameter():
    model = head().eval()
    x = np.random.default_rng(1).standard_normal((3, 4))
    gradcheck_module(model, [x], full_jacobian_limit=0, directions=6)
    model.zero_grad()
    model(numrnn.tensor(x)).sum().backward()
    assert all(param.grad is not None and param.grad.any() for param in model.parameters())


def test_train_and_eval_reach_the_children():
    model = head()
    x = np.ones((50, 4))
    assert model.eval() is model and not model[2].training
    np.testing.assert_array_equal(model(x).data, model(x).data)
    model.train()
    assert model[2].training and not np.array_equal(model(x).data, model(x).data)


def test_refuses_non_modules_and_bad_indices():
    with pytest.raises(ArgumentTypeError,
                       match="Sequential: every child must be a Module, got function"):
        nn.Sequential(nn.Linear(2, 2), lambda x: x)
    model = head()
    with pytest.raises(IndexError, match=r"index must be in -4..3 \(4 children\), got 4"):
        model[4]
    with pytest.raises(ShapeError):  # numrnn's IndexError is also a ShapeError
        model[-5]
    with pytest.raises(ArgumentTypeError, match="index must be an int or a slice, got str"):
        model["0"]


def test_repr_nests_children_like_pytorch():
    model = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.1))
    assert repr(model) == ("Sequential(\n"
                           "  (0): Linear(in_features=4, out_features=6, bias=True)\n"
                           "  (1): Dropout(p=0.1)\n"
                           ")")


def test_config_lists_each_child_class_and_config():
    model = nn.Sequential(nn.Embedding(10, 4, padding_idx=0), nn.Linear(4, 2, bias=False))
    assert model.get_config() == {"modules": [
        {"class_name": "Embedding", "config": {"num_embeddings": 10, "embedding_dim": 4,
                                               "padding_idx": 0, "dtype": "float32"}},
        {"class_name": "Linear", "config": {"in_features": 4, "out_features": 2,
                                            "bias": False, "dtype": "float32"}},
    ]}

    class Opaque(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(NumrnnError, match=r"child '1' \(Opaque\) has no get_config\(\)"):
        nn.Sequential(nn.Linear(2, 2), Opaque()).get_config()


def test_state_dict_keys_match_torch_sequential():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Embedding(9, 4), nn.Linear(4, 5), nn.LayerNorm(5), nn.Dropout(0.2),
                         nn.Linear(5, 2))
    theirs = torch.nn.Sequential(torch.nn.Embedding(9, 4), torch.nn.Linear(4, 5),
                                 torch.nn.LayerNorm(5), torch.nn.Dropout(0.2),
                                 torch.nn.Linear(5, 2))
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
