"""Numba-jitted kernels on plain ndarrays. Nothing here knows about Tensors or the tape."""
