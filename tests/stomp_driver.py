"""Drives tests/stomp/client.mjs (a real npm STOMP client in Node) from the cluster tests."""

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

NODE_DIR = Path(__file__).parent / "stomp"


def ensure_npm_packages() -> None:
    """`npm ci` from the lock file, once (make test runs it too)."""
    if not (NODE_DIR / "node_modules" / "@stomp" / "stompjs").exists():
        subprocess.run(
            ["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=600
        )


class NodeStompClient:
    """One STOMP client process: commands in, events out (tests/stomp/client.mjs)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict] = []  # everything received, for failure messages
        self.unread: list[dict] = []

    @classmethod
    async def start(cls, **config) -> "NodeStompClient":
        node = shutil.which("node")
        process = await asyncio.create_subprocess_exec(
            node,
            str(NODE_DIR / "client.mjs"),
            json.dumps(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=NODE_DIR,
        )
        return cls(process)

    async def command(self, op: str, **fields) -> None:
        self.process.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())
        await self.process.stdin.drain()

    async def subscribe(self, sub_id: str, destination: str, **headers: str) -> None:
        await self.command("subscribe", id=sub_id, destination=destination, headers=headers)

    async def send(self, destination: str, body: dict | str, **headers: str) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        await self.command("send", destination=destination, body=text, headers=headers)

    async def next(self, event: str, timeout: float = 15, **match) -> dict:
        """The first unread event of this kind (and with these fields); other events stay unread."""

        def matches(item: dict) -> bool:
            return item["event"] == event and all(item.get(k) == v for k, v in match.items())

        for item in self.unread:
            if matches(item):
                self.unread.remove(item)
                return item

        async def read() -> dict:
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    raise EOFError(f"client exited; events: {self.events[-5:]}")
                item = json.loads(line)
                self.events.append(item)
                if item["event"] == "exception":
                    raise AssertionError(item["message"])
                if matches(item):
                    return item
                self.unread.append(item)

        return await asyncio.wait_for(read(), timeout)

    async def message(self, subscription: str, timeout: float = 15, **body_match) -> dict:
        """The next MESSAGE on a subscription whose JSON body has these fields; the body, decoded,
        with the headers under "_headers"."""
        while True:
            item = await self.next("message", timeout, subscription=subscription)
            body = json.loads(item["body"])
            if all(body.get(k) == v for k, v in body_match.items()):
                return {**body, "_headers": item["headers"]}

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
