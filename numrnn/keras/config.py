"""What a ``.keras`` file's ``config.json`` says about its recurrent layers, and what it may not.

The config is read only for what the weights cannot tell: a ``SimpleRNN``'s
activation, a bias-free ``GRU``'s ``reset_after``, the training-only rates
``dropout`` and ``recurrent_dropout`` (numrnn's ``input_dropout`` and
``recurrent_dropout``, :mod:`numrnn.nn.variational_dropout`), and settings under which no
numrnn layer computes what Keras computes (other activations, ``go_backwards``,
a ``Bidirectional`` merge other than ``concat``). It is never trusted for
sizes: :mod:`numrnn.keras.layers` checks what it says against the weights.
Nothing in it is imported or evaluated; class names are only compared with
Keras's names of its recurrent layers.
"""

import numbers
import re

from numrnn.io.untrusted_json import brief

# Keras's recurrent layer classes and the numrnn cell kind each one is.
KERAS_KINDS = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}
ACTIVATIONS = {"LSTM": ("tanh",), "GRU": ("tanh",), "SimpleRNN": ("tanh", "relu")}


def recurrent_options(config):
    """``{layer path: options}`` for every recurrent and ``Bidirectional`` layer of a model.

    Paths are those of the weight file (:mod:`numrnn.keras.layers`): Keras names
    each layer of a model after its class in snake case, numbering repeats
    (``lstm``, ``lstm_1``), nested models' layers below theirs
    (``sequential/gru``). ``options`` holds ``kind`` (numrnn's), ``units``,
    ``use_bias``, ``reset_after`` (GRU), ``nonlinearity`` (SimpleRNN), the rates
    ``dropout`` and ``recurrent_dropout`` (0.0 where the config has none) and
    ``problems``: the settings numrnn cannot compute, as sentences. Entries
    that are not layer configs are passed over; the config's depth was bounded
    when it was parsed.
    """
    found = {}
    pending = [("", config)]
    while pending:
        path, model = pending.pop()
        settings = model.get("config") if isinstance(model, dict) else None
        layers = settings.get("layers") if isinstance(settings, dict) else None
        if not isinstance(layers, list):
            continue
        used = {}
        for entry in layers:
            if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
                continue
            class_name = entry["class_name"]
            name = _snake_case(class_name)
            used[name] = used.get(name, -1) + 1
            name = f"{name}_{used[name]}" if used[name] else name
            name = f"{path}/{name}" if path else name
            inner = entry.get("config")
            if class_name in KERAS_KINDS and isinstance(inner, dict):
                found[name] = _layer_options(class_name, inner, in_bidirectional=False)
            elif class_name == "Bidirectional" and isinstance(inner, dict):
                found[name] = _bidirectional_options(inner)
            else:
                pending.append((name, entry))
    return found


def _snake_case(class_name):
    """Keras's name of a layer's weights group: ``SimpleRNN`` -> ``simple_rnn``."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _layer_options(class_name, settings, in_bidirectional):
    problems = []
    activation = settings.get("activation", "tanh")
    if activation not in ACTIVATIONS[class_name]:
        problems.append(f"activation {brief(activation)} (numrnn's {class_name} computes "
                        f"{' or '.join(ACTIVATIONS[class_name])})")
    if class_name != "SimpleRNN" and settings.get("recurrent_activation", "sigmoid") != "sigmoid":
        problems.append(f"recurrent_activation {brief(settings.get('recurrent_activation'))} "
                        "(numrnn's gates are sigmoid)")
    if settings.get("go_backwards", False) is not False and not in_bidirectional:
        problems.append("go_backwards (numrnn's one-directional layers run forward in time)")
    options = {"kind": KERAS_KINDS[class_name], "units": settings.get("units"),
               "use_bias": settings.get("use_bias", True), "problems": problems}
    if class_name == "GRU":
        options["reset_after"] = settings.get("reset_after", True)
        if not isinstance(options["reset_after"], bool):
            problems.append(f"reset_after {brief(options['reset_after'])} (true or false)")
    if class_name == "SimpleRNN" and activation in ACTIVATIONS[class_name]:
        options["nonlinearity"] = activation
    for setting in ("dropout", "recurrent_dropout"):
        rate = settings.get(setting, 0.0)
        # Keras clamps its rates into [0, 1] when it builds the layer, so a file it
        # wrote holds nothing else; a rate of 1 is refused where the layer is built.
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) \
                or not 0.0 <= rate <= 1.0:
            problems.append(f"{setting} {brief(rate)} (a rate in [0, 1])")
        else:
            options[setting] = float(rate)
    return options


def _bidirectional_options(settings):
    inner = settings.get("layer")
    if not isinstance(inner, dict) or inner.get("class_name") not in KERAS_KINDS \
            or not isinstance(inner.get("config"), dict):
        return {"kind": None, "problems": [f"a Bidirectional wrapping "
                                           f"{brief(inner and inner.get('class_name'))}, not "
                                           f"one of {sorted(KERAS_KINDS)}"]}
    options = _layer_options(inner["class_name"], inner["config"], in_bidirectional=True)
    if settings.get("merge_mode", "concat") != "concat":
        options["problems"].append(f"merge_mode {brief(settings.get('merge_mode'))} (numrnn "
                                   "concatenates the two directions, Keras's 'concat')")
    backward = settings.get("backward_layer")
    if backward is not None:
        same = isinstance(backward, dict) and backward.get("class_name") == inner["class_name"] \
            and isinstance(backward.get("config"), dict)
        backward_options = _layer_options(backward["class_name"], backward["config"], True) \
            if same else None
        if backward_options is None or {key: value for key, value in backward_options.items()
                                        if key != "problems"} != \
                {key: value for key, value in options.items() if key != "problems"}:
            options["problems"].append("a backward_layer unlike the forward layer (numrnn "
                                       "runs both directions with one cell)")
        else:
            options["problems"].extend(problem for problem in backward_options["problems"]
                                       if problem not in options["problems"])
    return options
