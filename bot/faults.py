"""Fail points for crash tests.

`THREADBRIDGE_FAILPOINT=<name>` makes the process kill itself with SIGKILL the first
time it passes `failpoint(<name>)`: no cleanup, no flush, exactly what a host's OOM
killer or a pulled plug does. Unset (always, outside those tests) it costs one string
comparison. Names:

* ``after_claim``: a message is claimed and queued, before the platform got its ack
* ``after_model_answered``: the model's response is complete, the reply not finished
* ``after_first_post``: the first part of the reply is posted and recorded
* ``before_done``: the reply is fully posted, the turn not yet marked done
"""

from __future__ import annotations

import logging
import os
import signal

logger = logging.getLogger(__name__)

_ACTIVE = os.environ.get("THREADBRIDGE_FAILPOINT", "")


def failpoint(name: str) -> None:
    if _ACTIVE and name == _ACTIVE:
        logger.warning("fail point %s: killing the process", name)
        os.kill(os.getpid(), signal.SIGKILL)
