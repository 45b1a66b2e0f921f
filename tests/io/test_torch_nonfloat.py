"""PyTorch files with non-float tensors (BatchNorm's num_batches_tracked, bf16) and prefixes."""

import json
import struct

import numpy as np
import pytest

import numrnn
from numrnn import FormatError, nn
from numrnn.io import SkippedTensorsWarning

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")


class TorchTagger(torch.nn.Module):
    """An LSTM encoder, a BatchNorm over its features and a linear head."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.LSTM(3, 4, num_layers=2)
        self.norm = torch.nn.BatchNorm1d(4)
        self.head = torch.nn.Linear(4, 2)


@pytest.fixture(scope="module")
def torch_file(tmp_path_factory):
    torch.manual_seed(0)
    model = TorchTagger()
    path = tmp_path_factory.mktemp("torch") / "tagger.safetensors"
    safetensors_torch.save_file(model.state_dict(), str(path))
    return path, {name: value.numpy() for name, value in model.state_dict().items()}


def test_strict_load_refuses_naming_every_non_float_tensor(torch_file):
    path, _ = torch_file
    with pytest.raises(FormatError, match=r"'norm.num_batches_tracked' has dtype I64.*"
                                          r"Pass strict=False") as error:
        numrnn.load(path)
    assert str(path) in str(error.value)


def test_non_strict_load_returns_the_floats_and_warns_about_the_rest(torch_file):
    path, reference = torch_file
    with pytest.warns(SkippedTensorsWarning, match=r"left out 1 tensor\(s\).*"
                                                   r"'norm.num_batches_tracked' I64 \(\)"):
        state = numrnn.load(path, strict=False)
    assert sorted(state) == sorted(name for name in reference
                                   if name != "norm.num_batches_tracked")
    for name, array in state.items():
        np.testing.assert_array_equal(array, reference[name])


def test_prefix_loads_the_encoder_alone_strictly(torch_file):
    path, reference = torch_file
    encoder = numrnn.load(path, nn.LSTM(3, 4, num_layers=2), prefix="encoder.")
    for name, array in encoder.state_dict().items():
        np.testing.assert_array_equal(array, reference[f"encoder.{name}"])
    head = numrnn.load(path, nn.Linear(4, 2), prefix="head")  # the dot is implied
    np.testing.assert_array_equal(head.weight.data, reference["head.weight"])


def test_prefix_with_a_non_float_tensor_under_it(torch_file):
    path, reference = torch_file
    with pytest.raises(FormatError, match="'num_batches_tracked' has dtype I64"):
        numrnn.load(path, prefix="norm.")
    with pytest.warns(SkippedTensorsWarning, match="'num_batches_tracked' I64"):
        state = numrnn.load(path, prefix="norm.", strict=False)
    assert sorted(state) == ["bias", "running_mean", "running_var", "weight"]


def test_unknown_prefix_names_the_prefixes_the_file_has(torch_file):
    path, _ = torch_file
    with pytest.raises(FormatError, match=r"no tensor name starts with 'decoder.'; the file's "
                                          r"prefixes are \['encoder.', 'head.', 'norm.'\]"):
        numrnn.load(path, prefix="decoder")
    with pytest.raises(numrnn.ArgumentError, match="prefix must be a non-empty str"):
        numrnn.load(path, prefix=".")


def test_non_strict_module_load_skips_bf16_and_loads_the_floats(tmp_path):
    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 2)
    tensors = {"weight": linear.weight.detach(), "bias": linear.bias.detach(),
               "weight_bf16": linear.weight.detach().to(torch.bfloat16)}
    path = tmp_path / "mixed.safetensors"
    safetensors_torch.save_file(tensors, str(path))
    with pytest.raises(FormatError, match="'weight_bf16' has dtype BF16"):
        numrnn.load(path, nn.Linear(3, 2))
    with pytest.warns(SkippedTensorsWarning, match=r"'weight_bf16' BF16 \(2, 3\)"):
        module = numrnn.load(path, nn.Linear(3, 2), strict=False)
    np.testing.assert_array_equal(module.weight.data, linear.weight.detach().numpy())


def test_read_file_still_refuses_non_float_tensors(torch_file):
    path, _ = torch_file
    with pytest.raises(FormatError, match="'norm.num_batches_tracked' has dtype I64"):
        numrnn.io.read_file(path)


def test_overlapping_tensors_are_refused(tmp_path):
    data = np.arange(4, dtype="<f4").tobytes()
    header = {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}
    text = json.dumps(header).encode()
    path = tmp_path / "overlap.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    with pytest.raises(FormatError, match=r"tensor 'b' starts at byte 8 of the data, where the "
                                          r"tensors before it end at 16: overlapping"):
        numrnn.load(path)
