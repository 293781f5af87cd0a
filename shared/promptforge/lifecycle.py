"""``async with`` for anything that is opened and closed: one definition for every resource."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncResource"]


class AsyncResource:
    """A resource used as ``async with resource: ...``: ``open()`` on entry, ``close()`` on exit.

    Subclasses override ``open`` and ``close``; both may also be called directly.
    """

    async def open(self) -> None:
        """Acquire what the resource holds (nothing by default)."""

    async def close(self) -> None:
        """Release it (nothing by default)."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
