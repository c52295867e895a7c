"""``python -m bot`` is the ``participation-bot`` command."""

import sys

from bot.cli import main

sys.exit(main())
