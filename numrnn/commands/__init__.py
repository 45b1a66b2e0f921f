"""What the ``numrnn`` command runs besides the demo: predict, generate and inspect.

Each module holds one command's work as plain functions that take paths and
options and raise numrnn errors (or ``OSError``) for anything refused;
:mod:`numrnn.cli` parses the command line and turns those errors into one
line on stderr.
"""
