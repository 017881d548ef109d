"""Real-network clients for tests and the bench: HTTP sign-up/log-in and /ws/ sockets."""

import asyncio
import contextlib
import json
import re

import httpx
import websockets

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TOKEN_SECRET_RE = re.compile(r'<code id="token-secret">([^<]+)</code>')
TOKEN_REVOKE_RE = re.compile(r'action="/accounts/tokens/(\d+)/revoke"')


class HttpUser:
    """A browser-like HTTP session against one node (cookies are valid on every node)."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=10)

    def _post_form(self, path: str, data: dict) -> httpx.Response:
        page = self.client.get(path)
        page.raise_for_status()
        token = CSRF_RE.search(page.text).group(1)
        return self.client.post(path, data={**data, "csrfmiddlewaretoken": token})

    def signup(self, username: str, password: str) -> None:
        response = self._post_form(
            "/accounts/signup/", {"username": username, "password1": password, "password2": password}
        )
        assert response.status_code == 302, response.text[:500]

    def login(self, username: str, password: str) -> None:
        response = self._post_form("/accounts/login/", {"username": username, "password": password})
        assert response.status_code == 302, response.text[:500]

    def create_room(self, title: str, *, private: bool = False) -> str:
        data = {"title": title, "description": ""}
        if private:
            data["is_private"] = "on"
        response = self._post_form("/", data)
        assert response.status_code == 302, response.text[:500]
        return response.headers["location"].strip("/").split("/")[-1]

    def create_api_token(self, name: str) -> tuple[int, str]:
        """Create an API token on the tokens page; (its id, the secret shown once)."""
        response = self._post_form("/accounts/tokens/", {"name": name})
        assert response.status_code == 200, response.text[:500]
        token_id = max(int(found) for found in TOKEN_REVOKE_RE.findall(response.text))
        return token_id, TOKEN_SECRET_RE.search(response.text).group(1)

    def revoke_api_token(self, token_id: int) -> None:
        """Revoke one of this user's API tokens with the page's form."""
        page = self.client.get("/accounts/tokens/")
        token = CSRF_RE.search(page.text).group(1)
        response = self.client.post(
            f"/accounts/tokens/{token_id}/revoke", data={"csrfmiddlewaretoken": token}
        )
        assert response.status_code == 302, response.text[:500]

    @property
    def session_cookie(self) -> str:
        return self.client.cookies["sessionid"]

    def close(self) -> None:
        self.client.close()


class FrameClient:
    """The chat protocol's request helpers over any transport that can send and receive frames."""

    async def send(self, frame: dict):
        raise NotImplementedError

    async def recv(self, timeout: float = 5) -> dict:
        raise NotImplementedError

    async def send_checked(self, frame: dict) -> None:
        """Send a frame the test expects the transport to accept."""
        await self.send(frame)

    async def recv_type(self, kind: str, timeout: float = 5) -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            if frame["type"] == kind:
                return frame

    async def subscribe(self, room: str, **extra) -> dict:
        await self.send_checked({"type": "subscribe", "room": room, **extra})
        return await self.recv_type("subscribed")

    async def send_message(self, room: str, body: str, client_msg_id: str) -> dict:
        frame = {"type": "message.send", "room": room, "body": body, "client_msg_id": client_msg_id}
        await self.send_checked(frame)
        return await self.recv_type("message.ack")


class WsClient(FrameClient):
    """One /ws/ connection speaking JSON frames."""

    def __init__(self, connection) -> None:
        self.connection = connection

    @classmethod
    async def connect(cls, port: int, session_cookie: str, *, origin: str | None = None) -> "WsClient":
        connection = await websockets.connect(
            f"ws://127.0.0.1:{port}/ws/",
            origin=origin or f"http://127.0.0.1:{port}",
            additional_headers={"Cookie": f"sessionid={session_cookie}"},
            max_size=2**22,
            open_timeout=10,
        )
        return cls(connection)

    async def send(self, frame: dict) -> None:
        await self.connection.send(json.dumps(frame))

    async def recv(self, timeout: float = 5) -> dict:
        return json.loads(await asyncio.wait_for(self.connection.recv(), timeout))

    async def close(self) -> None:
        await self.connection.close()


class ResilientClient:
    """A client that follows docs/protocol.md's rules: on any disconnect it reconnects to a live
    node, resubscribes with `since`, and resends unacked messages with the same client_msg_id.

    It records everything the fault tests check: the seqs received per room (duplicates
    included), gaps the server let through, and close codes.
    """

    def __init__(self, name: str, session_key: str, ports: list[int], rooms: list[str]) -> None:
        self.name = name
        self.session_key = session_key
        self.ports = list(ports)
        self.rooms = list(rooms)
        self.last_seq = {room: 0 for room in rooms}
        self.received: dict[str, list[int]] = {room: [] for room in rooms}
        self.gaps: list[tuple[str, int, int]] = []
        self.unacked: dict[str, dict] = {}
        self.acks: dict[str, int] = {}
        self.errors: list[dict] = []
        self.close_codes: list[int | None] = []
        self.reconnects = 0
        self.connection = None
        self.connected = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stopping = True
        if self.connection is not None:
            await self.connection.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def send(self, room: str, body: str, client_msg_id: str) -> None:
        frame = {"type": "message.send", "room": room, "body": body, "client_msg_id": client_msg_id}
        self.unacked[client_msg_id] = frame
        if self.connection is not None and self.connected.is_set():
            with contextlib.suppress(Exception):
                await self.connection.send(json.dumps(frame))

    async def _connect(self):
        while not self._stopping:
            for port in self.ports:
                try:
                    return await websockets.connect(
                        f"ws://127.0.0.1:{port}/ws/",
                        origin=f"http://127.0.0.1:{port}",
                        additional_headers={"Cookie": f"sessionid={self.session_key}"},
                        open_timeout=5,
                        max_size=2**22,
                    )
                except Exception:
                    continue
            await asyncio.sleep(0.2)  # no node answered: a retry's pace, not a wait for a condition
        raise asyncio.CancelledError

    async def _run(self) -> None:
        first = True
        while not self._stopping:
            self.connection = await self._connect()
            if not first:
                self.reconnects += 1
            first = False
            try:
                for room in self.rooms:
                    await self.connection.send(
                        json.dumps({"type": "subscribe", "room": room, "since": self.last_seq[room]})
                    )
                for frame in list(self.unacked.values()):
                    await self.connection.send(json.dumps(frame))
                self.connected.set()
                async for text in self.connection:
                    self._handle(json.loads(text))
            except websockets.ConnectionClosed:
                pass
            finally:
                self.connected.clear()
                self.close_codes.append(self.connection.close_code)

    def _handle(self, frame: dict) -> None:
        kind = frame["type"]
        if kind == "message":
            room, seq = frame["room"], frame["seq"]
            self.received[room].append(seq)
            if seq > self.last_seq[room] + 1:
                self.gaps.append((room, self.last_seq[room], seq))
            self.last_seq[room] = max(self.last_seq[room], seq)
        elif kind == "message.ack":
            self.unacked.pop(frame["client_msg_id"], None)
            self.acks[frame["client_msg_id"]] = frame["seq"]
        elif kind == "subscribed" and frame.get("recovered") is False or kind == "error":
            self.errors.append(frame)

    def duplicates(self) -> int:
        return sum(len(seqs) - len(set(seqs)) for seqs in self.received.values())
