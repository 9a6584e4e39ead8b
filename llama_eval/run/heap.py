"""Keep the garbage collector's full passes out of the measurements.

A full (generation 2) collection stops the event loop for as long as it takes to walk every
tracked object: about 25 ms once the tokenizer, the catalog and pandas are loaded, and hundreds of
milliseconds in a long notebook or test process (3 million small objects: 0.47 s here). A pause
lands on every stream in flight at once, as a time to first token or an inter-token gap that the
service never caused. ``frozen_heap()`` collects once before the requests start and freezes what
is there (``gc.freeze``: those objects are left out of later collections, so any collection during
the run walks only what the run itself made), then unfreezes them at the end so a long-lived
kernel can collect them again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
