"""One object per event loop: redis.asyncio clients, queues and tasks belong to the loop that
made them (tests run each test in its own loop; a node runs one)."""

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self.factory = factory
        self.items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        """The running loop's object, made on first use."""
        loop = asyncio.get_running_loop()
        item = self.items.get(loop)
        if item is None:
            item = self.items[loop] = self.factory()
        return item
