"""``python -m fuse_edu``: the ``fuse-edu`` command line."""

import sys

from fuse_edu.cli import main

sys.exit(main())
