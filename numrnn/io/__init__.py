"""Weight files: safetensors with PyTorch's tensor names, and rebuildable modules.

``numrnn.save(module, path)`` writes the parameters (and, for a module with
``get_config()``, its class and constructor arguments); ``numrnn.load(path)``
reads a state dict, ``numrnn.load(path, module)`` loads into a module, and
``numrnn.load_model(path)`` rebuilds the module; ``model_to_bytes`` and
``model_from_bytes`` do the same in memory (to send a model to another
process). Files from ``safetensors.torch.save_file(torch_module.state_dict(),
path)`` load as they are. See :mod:`numrnn.io.config` for the config protocol and ``docs/io.md``.
"""

from numrnn.io.config import register_model, registered_models
from numrnn.io.load import (
    SkippedTensorsWarning,
    load,
    load_model,
    model_from_bytes,
    read_file,
    read_tensors,
)
from numrnn.io.save import FORMAT_VERSION, model_to_bytes, save

__all__ = ["FORMAT_VERSION", "SkippedTensorsWarning", "load", "load_model", "model_from_bytes",
           "model_to_bytes", "read_file", "read_tensors", "register_model", "registered_models",
           "save"]
