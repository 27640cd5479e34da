"""The store for async code: every call runs in a small thread pool, never in the event loop.

SQLite waits up to its busy timeout (10 s) for a write lock that someone else
holds, e.g. the CLI publishing facts. Called from a Sanic handler, that wait
would stop the whole server: every webhook, every customer. `AsyncStore` runs
each `Store` method in one of a few threads, each with its own connection to the
same file (WAL mode: readers never wait for the writer), so the event loop keeps
serving while one call waits.

    store = AsyncStore(path)
    await store.record_inbound("whatsapp", sid, sender, body)

Any public `Store` method is available this way, with the same arguments.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Callable, Coroutine, List, Union

from bot.store import Store


def store_path(store: Store) -> Path:
    """The file a store's connection has open."""
    for _seq, name, file in store.db.execute("pragma database_list").fetchall():
        if name == "main" and file:
            return Path(file)
    raise ValueError("an in-memory store cannot be shared between threads")


class AsyncStore:
    """`Store` methods as coroutines that run in a thread pool (one connection per thread).

    Args:
        path: the SQLite file (migrated here, once, before any call).
        threads: how many calls may run (or wait for a lock) at the same time.
    """

    def __init__(self, path: Union[str, Path], threads: int = 4) -> None:
        self.path = Path(path)
        Store.open(self.path).close()  # migrate once, before the threads open it
        self._local = threading.local()
        self._opened: List[Store] = []
        self._guard = threading.Lock()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="crisisdesk-store")

    @classmethod
    def of(cls, store: Union[Store, AsyncStore], threads: int = 4) -> AsyncStore:
        """`store` itself when it is async already, else an async store on the same file."""
        return store if isinstance(store, AsyncStore) else cls(store_path(store), threads)

    def _thread_store(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store.open(self.path, migrate=False)
            self._local.store = store
            with self._guard:
                self._opened.append(store)
        return store

    def _run(self, name: str, args: tuple, kwargs: dict) -> Any:
        return getattr(self._thread_store(), name)(*args, **kwargs)

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Runs `Store.<name>(*args, **kwargs)` in the pool and returns its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(self._run, name, args, kwargs))

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        if name.startswith("_") or not callable(getattr(Store, name, None)):
            raise AttributeError(name)
        return partial(self.call, name)

    def close(self) -> None:
        """Waits for running calls, then closes every thread's connection."""
        self._pool.shutdown(wait=True)
        with self._guard:
            for store in self._opened:
                store.close()
            self._opened.clear()
