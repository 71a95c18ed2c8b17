"""Progress bars for long work: on stderr, only when asked for.

Library code passes ``progress`` through; the CLI turns it on when stderr is
a terminal and ``--quiet`` is not given.
"""
from __future__ import annotations

import sys
from typing import Any, Iterable


class _Null:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "_Null":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def bar(total: int | None = None, desc: str = "", enabled: bool = False, unit: str = "it") -> Any:
    """A tqdm bar on stderr if ``enabled`` (and tqdm is installed), else a no-op."""
    if not enabled:
        return _Null()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return _Null()
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


def track(iterable: Iterable[Any], total: int | None = None, desc: str = "", enabled: bool = False) -> Iterable[Any]:
    """Iterate with a bar when ``enabled``."""
    if not enabled:
        yield from iterable
        return
    with bar(total, desc, enabled) as b:
        for item in iterable:
            yield item
            b.update(1)
