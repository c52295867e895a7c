"""``python -m handlers`` is the ``participation-bot`` command."""

import sys

from handlers.runtime import main

sys.exit(main())
