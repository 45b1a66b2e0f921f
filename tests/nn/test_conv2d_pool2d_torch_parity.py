"""nn.Conv2d and the 2-D pools against PyTorch's on random configurations: outputs and
every gradient, with PyTorch's weights loaded through state_dict, and the same names,
shapes, initial range and repr."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numrnn
from numrnn import nn
from tests.image_references import conv2d_cases, pool2d_cases

torch = pytest.importorskip("torch")

TOLERANCES = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-5)}


def _compare(ours, theirs, x, dtype, parameters=()):
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
    tolerance = TOLERANCES[dtype]
    np.testing.assert_allclose(y.data, expected.detach().numpy(), **tolerance)
    np.testing.assert_allclose(ours_input.grad, theirs_input.grad.numpy(), **tolerance)
    for name, theirs_param in parameters:
        np.testing.assert_allclose(getattr(ours, name).grad, theirs_param.grad.numpy(),
                                   **tolerance)


@settings(max_examples=25)
@given(conv2d_cases(), st.sampled_from([np.float32, np.float64]))
def test_conv2d_matches_torch_on_random_configurations(case, dtype):
    x, weight, bias, options = case
    config = dict(in_channels=x.shape[1], out_channels=weight.shape[0],
                  kernel_size=weight.shape[2:], bias=bias is not None, **options)
    theirs = torch.nn.Conv2d(**config).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(weight))
        if bias is not None:
            theirs.bias.copy_(torch.tensor(bias))
    ours = nn.Conv2d(**config, dtype=dtype, rng=0)
    ours.load_state_dict({k: v.numpy().astype(dtype) for k, v in theirs.state_dict().items()})
    parameters = [("weight", theirs.weight)] + ([("bias", theirs.bias)] if bias is not None
                                                else [])
    _compare(ours, theirs, x, dtype, parameters)


@settings(max_examples=25)
@given(pool2d_cases(distinct=True), st.booleans(), st.sampled_from([np.float32, np.float64]))
def test_pools_match_torch_on_random_configurations(case, count_include_pad, dtype):
    x, kernel_size, stride, padding = case
    _compare(nn.MaxPool2d(kernel_size, stride, padding),
             torch.nn.MaxPool2d(kernel_size, stride, padding), x, dtype)
    _compare(nn.AvgPool2d(kernel_size, stride, padding, count_include_pad=count_include_pad),
             torch.nn.AvgPool2d(kernel_size, stride, padding,
                                count_include_pad=count_include_pad), x, dtype)
    out_size = (x.shape[2] + stride[0] - 1, max(1, x.shape[3] - stride[1]))
    _compare(nn.AdaptiveAvgPool2d(out_size), torch.nn.AdaptiveAvgPool2d(out_size), x, dtype)


def test_max_pool_nan_handling_matches_torch():
    x = np.array([[[[1.0, np.nan, 5.0], [2.0, 7.0, np.nan], [0.0, 3.0, 4.0]]]])
    ours = nn.MaxPool2d(2, 1)(x).data
    theirs = torch.nn.MaxPool2d(2, 1)(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_conv2d_parameters_have_torch_names_shapes_and_initial_range():
    ours = nn.Conv2d(24, 96, (3, 2), groups=3, rng=0)
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(24, 96, (3, 2), groups=3)
    assert [(name, p.shape) for name, p in ours.named_parameters()] == \
        [(name, tuple(p.shape)) for name, p in theirs.named_parameters()]
    bound = 1 / np.sqrt(24 // 3 * 3 * 2)
    for (_, mine), (_, reference) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert 0.8 * bound < np.abs(mine.data).max() <= bound
        assert 0.8 * bound < reference.abs().max().item() <= bound


@pytest.mark.parametrize("config", [
    dict(in_channels=4, out_channels=6, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=2, padding=(1, 0)),
    dict(in_channels=6, out_channels=9, kernel_size=4, padding="same", dilation=3, groups=3),
    dict(in_channels=4, out_channels=4, kernel_size=5, padding="valid", groups=4, bias=False),
])
def test_conv2d_repr_matches_torch(config):
    assert repr(nn.Conv2d(**config, rng=0)) == repr(torch.nn.Conv2d(**config))
    assert repr(nn.Flatten()) == repr(torch.nn.Flatten())
