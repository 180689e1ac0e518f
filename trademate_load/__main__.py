"""Entry point of ``python -m trademate_load`` (see cli.py)."""

import sys

from trademate_load.cli import main

sys.exit(main())
