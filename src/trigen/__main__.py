import sys

from trigen.cli import main

sys.exit(main())
