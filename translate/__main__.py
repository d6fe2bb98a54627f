"""``python -m translate`` is the ``translate`` command."""

import sys

from translate.cli import main

sys.exit(main())
