"""``python -m numrnn`` is the ``numrnn`` command."""

import sys

from numrnn.cli import main

sys.exit(main())
