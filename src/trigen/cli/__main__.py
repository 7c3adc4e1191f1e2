"""``python -m trigen.cli``: the same as the ``trigen`` command."""

import sys

from trigen.cli import main

sys.exit(main())
