"""``numrnn generate MODEL --prompt TEXT``: sample text from a saved character language model."""

import os

from numrnn.commands.output import check_writable, replaced_whole
from numrnn.errors import ArgumentError
from numrnn.generate import generate_text
from numrnn.io import load_model


def generate_from_file(model_path, prompt, length, *, temperature=1.0, top_k=None, top_p=None,
                       seed=None, output=None):
    """The prompt and ``length`` sampled characters continuing it, from the model at ``model_path``.

    The file must hold a model with a vocabulary, such as the
    :class:`numrnn.CharLanguageModel` that ``numrnn demo`` saves. With
    ``output``, the text is also written there (checked writable first).
    """
    if not prompt:
        raise ArgumentError("generate: --prompt must hold at least one character: the model "
                            "continues it")
    if output is not None:
        check_writable(output, "--output")
    model = load_model(model_path)
    if getattr(model, "vocab", None) is None:
        raise ArgumentError(f"generate: {os.fspath(model_path)} holds a model of class "
                            f"{type(model).__name__} without a vocabulary; numrnn generate "
                            "samples from a language model that carries one, such as the "
                            "CharLanguageModel that numrnn demo saves")
    sample = generate_text(model, prompt, length, temperature=temperature, top_k=top_k,
                           top_p=top_p, rng=seed)
    text = prompt + sample
    if output is not None:
        with replaced_whole(output, "w") as file:
            file.write(text)
    return text
