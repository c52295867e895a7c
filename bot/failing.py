"""A background loop that must live on through failures, and a log an operator can read.

While the database is away (restarted, failed over, a network cut), every loop of every
worker fails each time it tries: the log said so once a second per loop, and nothing when
it came back. ``Failing`` says it once, at ERROR, with what failed; repeats only at DEBUG
(a different error is said again); and the recovery once, at WARNING, with how long it
lasted and how many tries failed. Class names only, never a person or a text.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("bot")


class Failing:
    """The failures of one loop (``what``: "outbox dispatcher (telegram)")."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0
        self._since = 0.0
        self._last = ""

    def failed(self, exc: BaseException) -> None:
        """One try failed; the loop goes on."""
        kind = type(exc).__name__
        if self.failures == 0:
            self._since = time.monotonic()
        if kind != self._last:
            log.error("%s failed: %s (tried again until it works)", self.what, kind)
            self._last = kind
        else:
            log.debug("%s failed again: %s", self.what, kind)
        self.failures += 1

    def worked(self) -> None:
        """A try worked: say so once, if it had been failing."""
        if self.failures:
            log.warning(
                "%s works again, after %d failed tries in %.0f s",
                self.what,
                self.failures,
                time.monotonic() - self._since,
            )
        self.failures = 0
        self._last = ""
