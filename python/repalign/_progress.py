"""Progress bars for long calls: ``progress=True`` draws one with tqdm when it is installed
(a plain line on stderr otherwise); a callable receives ``(stage, done, total)``.

The native module calls back from the calling thread every 50 ms at most, while the work
runs with the GIL released. Stages: ``"blocks"`` (rows of a kNN graph or Gram matrix),
``"layers"`` (a sweep's per-layer work), ``"pairs"`` (its layer pairs), ``"null"``
(calibration samples).
"""

from __future__ import annotations

import sys
from typing import Callable, Optional


class _Bar:
    def __init__(self, what: str) -> None:
        self.what = what
        self.bars: dict = {}
        try:
            from tqdm.auto import tqdm

            self.tqdm = tqdm
        except ImportError:
            self.tqdm = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.tqdm is None:
            sys.stderr.write(f"\r{self.what}: {stage} {done}/{total}")
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()
            return
        bar = self.bars.get(stage)
        if bar is None:
            for other in self.bars.values():
                other.close()
            bar = self.bars[stage] = self.tqdm(total=total, desc=f"{self.what}: {stage}", leave=False)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()


def progress_callback(progress, what: str) -> Optional[Callable[[str, int, int], None]]:
    """The native callback for ``progress=``: None, a bar (True) or the user's callable."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return _Bar(what)
    if callable(progress):
        return progress
    raise TypeError("progress must be True, False, None or a callable(stage, done, total)")
