"""Allow ``python -m sync_exporter``."""

import sys

from sync_exporter.cli import main

sys.exit(main())
