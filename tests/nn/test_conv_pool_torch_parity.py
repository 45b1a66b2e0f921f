"""nn.Conv1d, nn.MaxPool1d and nn.AvgPool1d against PyTorch's: outputs and every
gradient, with PyTorch's weights loaded through state_dict, and the same initial
weight distribution."""

import warnings

import numpy as np
import pytest

import numrnn
from numrnn import nn

torch = pytest.importorskip("torch")

CONV_CASES = [
    dict(in_channels=4, out_channels=6, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=2),
    dict(in_channels=6, out_channels=9, kernel_size=4, padding="same", dilation=3, groups=3),
    dict(in_channels=4, out_channels=4, kernel_size=5, stride=3, padding="valid", groups=4,
         bias=False),
    dict(in_channels=2, out_channels=5, kernel_size=2, dilation=2, padding=1),
]


def _torch_conv(config, causal):
    conv = torch.nn.Conv1d(**config).double()
    if not causal:
        return conv, conv
    left = config.get("dilation", 1) * (config["kernel_size"] - 1)
    return torch.nn.Sequential(torch.nn.ConstantPad1d((left, 0), 0.0), conv), conv


def _compare(ours, theirs, x, dtype, tolerance, parameters=()):
    ours_input = numrnn.tensor(x.astype(dtype), requires_grad=True)
    theirs_input = torch.tensor(x, requires_grad=True)
    y = ours(ours_input)
    with warnings.catch_warnings():
        # PyTorch's own note that an even 'same' window pads a copy of the input.
        warnings.filterwarnings("ignore", "Using padding='same'", UserWarning)
        expected = theirs(theirs_input)
    seed = np.cos(np.arange(y.size)).reshape(y.shape)
    y.backward(seed.astype(dtype))
    expected.backward(torch.tensor(seed))
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data, expected.detach().numpy(), **tolerance)
    np.testing.assert_allclose(ours_input.grad, theirs_input.grad.numpy(), **tolerance)
    for name, theirs_param in parameters:
        np.testing.assert_allclose(getattr(ours, name).grad, theirs_param.grad.numpy(),
                                   **tolerance)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, dict(rtol=1e-12, atol=1e-12)),
                                              (np.float32, dict(rtol=1e-5, atol=1e-5))])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("config", CONV_CASES)
def test_conv1d_matches_torch(config, causal, dtype, tolerance):
    if causal:
        config = {**config, "padding": 0}
    torch.manual_seed(0)
    theirs, conv = _torch_conv(config, causal)
    ours = nn.Conv1d(**config, causal=causal, dtype=dtype, rng=0)
    ours.load_state_dict({k: v.numpy().astype(dtype) for k, v in conv.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((3, config["in_channels"], 23))
    parameters = [("weight", conv.weight)] + ([("bias", conv.bias)] if conv.bias is not None
                                              else [])
    _compare(ours, theirs, x, dtype, tolerance, parameters)


@pytest.mark.parametrize("kernel_size, stride, padding", [(2, None, 0), (3, 1, 1), (4, 3, 2),
                                                          (5, 2, 2), (1, 1, 0)])
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, dict(rtol=1e-13, atol=1e-13)),
                                              (np.float32, dict(rtol=1e-6, atol=1e-6))])
def test_pools_match_torch(kernel_size, stride, padding, dtype, tolerance):
    x = np.random.default_rng(2).standard_normal((2, 3, 17))
    _compare(nn.MaxPool1d(kernel_size, stride, padding),
             torch.nn.MaxPool1d(kernel_size, stride, padding), x, dtype, tolerance)
    for count_include_pad in (True, False):
        _compare(nn.AvgPool1d(kernel_size, stride, padding, count_include_pad=count_include_pad),
                 torch.nn.AvgPool1d(kernel_size, stride, padding,
                                    count_include_pad=count_include_pad),
                 x, dtype, tolerance)


def test_max_pool_nan_handling_matches_torch():
    x = np.array([[[1.0, np.nan, 5.0, 2.0, np.nan, np.nan]]])
    ours = nn.MaxPool1d(2, 1)(x).data
    theirs = torch.nn.MaxPool1d(2, 1)(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_conv1d_parameters_have_torch_names_shapes_and_initial_range():
    ours = nn.Conv1d(12, 24, 5, groups=3, rng=0)
    torch.manual_seed(0)
    theirs = torch.nn.Conv1d(12, 24, 5, groups=3)
    assert [(name, p.shape) for name, p in ours.named_parameters()] == \
        [(name, tuple(p.shape)) for name, p in theirs.named_parameters()]
    bound = 1 / np.sqrt(12 // 3 * 5)
    for (_, mine), (_, reference) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert np.abs(mine.data).max() <= bound
        assert reference.abs().max().item() <= bound
        # Both are spread over the whole range, not a narrower one.
        assert np.abs(mine.data).max() > 0.8 * bound
        assert reference.abs().max().item() > 0.8 * bound
    assert ours.weight.data.std() == pytest.approx(bound / np.sqrt(3), rel=0.1)


def test_repr_matches_torch_for_the_options_both_have():
    for config in CONV_CASES:
        expected = repr(torch.nn.Conv1d(**config))
        assert repr(nn.Conv1d(**config, rng=0)) == expected
    assert repr(nn.MaxPool1d(3, 2, 1)) == "MaxPool1d(kernel_size=3, stride=2, padding=1)"
