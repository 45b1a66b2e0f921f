"""Tools for checking gradients, public so users can test their own ops.

``gradcheck`` needs only NumPy; ``gradcheck_module`` checks a module's inputs and
parameters together; :mod:`numrnn.testing.strategies` needs Hypothesis
(installed with the ``test`` extra).
"""

from numrnn.testing.gradcheck import gradcheck
from numrnn.testing.modules import gradcheck_module

__all__ = ["gradcheck", "gradcheck_module"]
