"""A small real-network client for cluster tests: HTTP sign-up/log-in and a /ws/ socket."""

import asyncio
import json
import re

import httpx
import websockets

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


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

    @property
    def session_cookie(self) -> str:
        return self.client.cookies["sessionid"]

    def close(self) -> None:
        self.client.close()


class WsClient:
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

    async def recv_type(self, kind: str, timeout: float = 5) -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            if frame["type"] == kind:
                return frame

    async def subscribe(self, room: str, **extra) -> dict:
        await self.send({"type": "subscribe", "room": room, **extra})
        return await self.recv_type("subscribed")

    async def send_message(self, room: str, body: str, client_msg_id: str) -> dict:
        await self.send({"type": "message.send", "room": room, "body": body, "client_msg_id": client_msg_id})
        return await self.recv_type("message.ack")

    async def close(self) -> None:
        await self.connection.close()
