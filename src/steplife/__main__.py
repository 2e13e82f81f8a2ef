"""``python -m steplife``: the ``steplife`` command."""

import sys

from steplife.cli import main

sys.exit(main())
