"""``python -m ptycho_helpers`` — see :mod:`ptycho_helpers.cli`."""

import sys

from .cli import main

sys.exit(main())
