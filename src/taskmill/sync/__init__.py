"""taskmill for synchronous code: the same scheduler, reached by blocking calls.

Desktop apps (Qt, Tk), scripts and WSGI servers have no asyncio loop on the thread that
submits work. :class:`Scheduler` runs a :class:`taskmill.Scheduler` on a loop of its own, on a
thread of its own, and offers every call as a plain blocking method with the same
parameters, results and errors::

    from taskmill.sync import Scheduler

    with Scheduler("tasks.db", domains=[media], max_concurrency=4) as scheduler:
        scheduler.domain(media).submit(Thumbnail("/photos/a.jpg", 256))
        scheduler.subscribe(print)          # events, in order, on a thread of their own
        scheduler.wait_idle(timeout=60)

See docs/desktop.md.
"""

from taskmill.sync.callbacks import CallbackSubscription
from taskmill.sync.scheduler import DomainHandle, Scheduler

__all__ = ["CallbackSubscription", "DomainHandle", "Scheduler"]
