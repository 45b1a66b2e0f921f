"""Keras 3 recurrent weights into numrnn: ``numrnn.keras.load`` and ``load_layers``.

Needs the ``h5py`` package (``pip install 'numrnn[keras]'``), imported on first
use, so ``import numrnn`` never does; Keras itself is not needed. See docs/io.md.
"""

from numrnn.keras.layers import KerasLayer
from numrnn.keras.load import load, load_layers, read_layers

__all__ = ["KerasLayer", "load", "load_layers", "read_layers"]
