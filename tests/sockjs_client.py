"""A SockJS client for tests, speaking the chat protocol over the HTTP transports.

It can spread its requests over several nodes (`alternate=True`: every request goes to the next
node), which is what a load balancer without sticky sessions does to a real client.
"""

import asyncio
import contextlib
import itertools
import json
import uuid

import httpx

from chat.testing.clients import FrameClient


class SockJSClient(FrameClient):
    def __init__(
        self,
        base_urls: list[str],
        session_cookie: str | None,
        *,
        transport: str = "xhr_streaming",
        alternate: bool = False,
        prefix: str = "/sockjs",
    ) -> None:
        assert transport in ("xhr_streaming", "xhr", "eventsource")
        self.base_urls = base_urls
        self.transport = transport
        self.alternate = alternate
        self.prefix = prefix
        self.session_id = uuid.uuid4().hex
        self._turn = itertools.count()
        cookies = {"sessionid": session_cookie} if session_cookie else {}
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(10, read=60), cookies=cookies)
        self.frames: asyncio.Queue[dict] = asyncio.Queue()
        self.opened = asyncio.Event()
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.requests_per_node: dict[str, int] = {}
        self._task: asyncio.Task | None = None

    def _url(self, transport: str) -> tuple[str, str]:
        base = self.base_urls[next(self._turn) % len(self.base_urls)] if self.alternate else self.base_urls[0]
        self.requests_per_node[base] = self.requests_per_node.get(base, 0) + 1
        return f"{base}{self.prefix}/000/{self.session_id}/{transport}", base

    async def open(self, timeout: float = 5) -> "SockJSClient":
        self._task = asyncio.get_running_loop().create_task(self._receive_loop())
        opened = asyncio.ensure_future(self.opened.wait())
        await asyncio.wait({opened, self.closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not self.opened.is_set():
            opened.cancel()
        return self

    def _handle(self, frame: str) -> bool:
        """One SockJS frame; False once the session is closed."""
        if frame == "o":
            self.opened.set()
        elif frame.startswith("a"):
            for message in json.loads(frame[1:]):
                self.frames.put_nowait(json.loads(message))
        elif frame.startswith("c"):
            if not self.closed.done():
                self.closed.set_result(tuple(json.loads(frame[1:])))
            return False
        return True  # "h" and the xhr_streaming prelude

    async def _receive_loop(self) -> None:
        try:
            while True:
                url, base = self._url(self.transport)
                method = "GET" if self.transport == "eventsource" else "POST"
                async with self.http.stream(method, url, headers={"Origin": base}) as response:
                    if response.status_code != 200:
                        self.closed.set_result(("http", response.status_code))
                        return
                    async for line in response.aiter_lines():
                        if self.transport == "eventsource":
                            if not line.startswith("data: "):
                                continue
                            line = line[len("data: ") :]
                        if line and not self._handle(line):
                            return
        except (httpx.HTTPError, asyncio.CancelledError) as error:
            if not self.closed.done():
                self.closed.set_result(("error", repr(error)))

    async def send(self, frame: dict) -> int:
        url, base = self._url("xhr_send")
        response = await self.http.post(
            url, content=json.dumps([json.dumps(frame)]), headers={"Origin": base}
        )
        return response.status_code

    async def recv(self, timeout: float = 5) -> dict:
        return await asyncio.wait_for(self.frames.get(), timeout)

    async def send_checked(self, frame: dict) -> None:
        assert await self.send(frame) == 204

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.http.aclose()
