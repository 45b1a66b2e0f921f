"""Tools for checking gradients, public so users can test their own ops.

``gradcheck`` needs only NumPy; :mod:`numrnn.testing.strategies` needs Hypothesis
(installed with the ``test`` extra).
"""

from numrnn.testing.gradcheck import gradcheck

__all__ = ["gradcheck"]
