"""nn.LSTM(proj_size=P) against torch.nn.LSTM(proj_size=P) in float64: outputs, final states
and every gradient over random configurations, and weight files both ways (skipped
without torch).

Weights go from torch to numrnn through ``state_dict`` unchanged (``weight_hr_l{k}``
included), which also proves names, shapes and order agree. Padded batches run
against ``pack_padded_sequence(enforce_sorted=False)`` + ``pad_packed_sequence``.
"""

import numpy as np
import pytest

import numrnn
from numrnn import Tensor, nn

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
pytestmark = pytest.mark.parity


def random_configuration(seed):
    rng = np.random.default_rng(seed)
    hidden = int(rng.integers(2, 7))
    return dict(input_size=int(rng.integers(1, 5)), hidden_size=hidden,
                proj_size=int(rng.integers(1, hidden)), num_layers=int(rng.integers(1, 4)),
                bidirectional=bool(rng.integers(2)), batch_first=bool(rng.integers(2)),
                bias=bool(rng.integers(2))), rng


def pair(config, seed):
    torch.manual_seed(seed)
    theirs = torch.nn.LSTM(**config, dtype=torch.float64)
    ours = nn.LSTM(**config, dtype=np.float64)
    ours.load_state_dict({name: v.detach().numpy() for name, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("padded", [False, True])
def test_outputs_states_and_every_gradient_match_torch(seed, padded):
    config, rng = random_configuration(seed)
    ours, theirs = pair(config, seed)
    steps, batch = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    directions = 2 if config["bidirectional"] else 1
    layers = config["num_layers"] * directions
    batch_first = config["batch_first"]
    x = rng.standard_normal((batch, steps, config["input_size"]) if batch_first
                            else (steps, batch, config["input_size"]))
    h0 = rng.standard_normal((layers, batch, config["proj_size"]))
    c0 = rng.standard_normal((layers, batch, config["hidden_size"]))
    lengths = None
    if padded:
        lengths = rng.integers(1, steps + 1, batch)
        lengths[rng.integers(batch)] = steps  # torch pads to the longest row

    ours_inputs = [Tensor(a, requires_grad=True) for a in (x, h0, c0)]
    output, (h_n, c_n) = ours(ours_inputs[0], tuple(ours_inputs[1:]), lengths=lengths)
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    if padded:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            torch_inputs[0], torch.as_tensor(lengths), batch_first=batch_first,
            enforce_sorted=False)
        packed_output, (h_torch, c_torch) = theirs(packed, tuple(torch_inputs[1:]))
        output_torch, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_output,
                                                                 batch_first=batch_first)
    else:
        output_torch, (h_torch, c_torch) = theirs(torch_inputs[0], tuple(torch_inputs[1:]))

    results, references = (output, h_n, c_n), (output_torch, h_torch, c_torch)
    seeds = [rng.standard_normal(result.shape) for result in results]
    loss = sum((result * numrnn.tensor(weight)).sum() for result, weight in zip(results, seeds))
    loss.backward()
    sum((result * torch.tensor(weight)).sum()
        for result, weight in zip(references, seeds)).backward()

    for name, got, want in zip(("output", "h_n", "c_n"), results, references):
        np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=name)
    for name, got, want in zip(("input", "h_0", "c_0"), ours_inputs, torch_inputs):
        np.testing.assert_allclose(got.grad, want.grad.numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=f"grad {name}")
    torch_parameters = dict(theirs.named_parameters())
    assert list(torch_parameters) == [name for name, _ in ours.named_parameters()]
    for name, parameter in ours.named_parameters():
        np.testing.assert_allclose(parameter.grad, torch_parameters[name].grad.numpy(),
                                   rtol=1e-9, atol=1e-11, err_msg=f"grad {name}")


def test_a_torch_file_with_weight_hr_loads_and_a_numrnn_file_loads_into_torch(tmp_path):
    config = dict(input_size=3, hidden_size=6, proj_size=2, num_layers=2, bidirectional=True)
    torch.manual_seed(0)
    reference = torch.nn.LSTM(**config).double()
    path = tmp_path / "torch_lstm.safetensors"
    safetensors_torch.save_file(reference.state_dict(), str(path))
    lstm = numrnn.load(path, nn.LSTM(**config, dtype=np.float64))
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    with torch.no_grad():
        expected, (h_expected, c_expected) = reference(torch.from_numpy(x))
    output, (h_n, c_n) = lstm(x)
    for got, want in ((output, expected), (h_n, h_expected), (c_n, c_expected)):
        np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-10, atol=1e-12)

    ours = nn.LSTM(**config, dtype=np.float64, rng=3)
    numrnn.save(ours, tmp_path / "numrnn.safetensors")
    loaded = torch.nn.LSTM(**config).double()
    loaded.load_state_dict(safetensors_torch.load_file(str(tmp_path / "numrnn.safetensors")))
    with torch.no_grad():
        np.testing.assert_allclose(ours(x)[0].data, loaded(torch.from_numpy(x))[0].numpy(),
                                   rtol=1e-10, atol=1e-12)
