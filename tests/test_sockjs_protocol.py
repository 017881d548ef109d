"""Our port of the sockjs-protocol 0.3.3 suite's checks, for the transports we serve.

The published suite (github.com/sockjs/sockjs-protocol, Python 2.7) is not on any package
registry, so CI cannot fetch it; `scripts/sockjs-conformance.sh` runs the original by hand
(docs/protocol.md records its result). This file re-states its checks for the greeting, info,
xhr, xhr_send, xhr_streaming, eventsource, websocket and raw websocket, against one real daphne
node serving the suite's test services (SOCKJS_CONFORMANCE=1).
"""

import json
import select
import socket
import time
import uuid

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from chat.testing.cluster import start_cluster
from tests.waiting import TIMEOUT, wait_until_sync

pytestmark = [pytest.mark.cluster]

NOT_CACHED = "no-store, no-cache, no-transform, must-revalidate, max-age=0"
DISCONNECT_DELAY = 1  # seconds a session lives without a receiver (5 by default)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    cluster = start_cluster(
        tmp_path_factory.mktemp("sockjs-conformance"),
        nodes=1,
        SOCKJS_CONFORMANCE="1",
        CHAT_SOCKJS_DISCONNECT_DELAY=str(DISCONNECT_DELAY),
    )
    yield cluster.nodes[0]
    cluster.stop()
    cluster.assert_no_tracebacks()


@pytest.fixture(scope="module")
def base(node) -> str:
    return f"{node.http_url}/sockjs-conformance"


@pytest.fixture
def http():
    with httpx.Client(timeout=5) as client:
        yield client


def session_url(base: str, service: str = "echo") -> str:
    return f"{base}/{service}/000/{uuid.uuid4()}"


def content_type(response) -> str:
    return response.headers["content-type"].replace(" ", "")


def assert_cors(response, origin: str | None) -> None:
    if origin:
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-credentials"] == "true"
    else:
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers


def assert_options(http, url: str, methods: str) -> None:
    for origin in ("test", "null"):
        r = http.options(url, headers={"Access-Control-Request-Method": methods, "Origin": origin})
        assert r.status_code in (200, 204)
        assert "public" in r.headers["cache-control"]
        assert "max-age=31536000" in r.headers["cache-control"]
        assert r.headers["expires"]
        assert int(r.headers["access-control-max-age"]) > 1_000_000
        for method in methods.split(","):
            assert method.strip() in r.headers["access-control-allow-methods"]
        assert not r.content
        assert_cors(r, origin)


class Stream:
    """An HTTP/1.0 streaming response read off a raw socket: what arrives, as it arrives."""

    def __init__(
        self, url: str, method: str = "POST", headers: dict | None = None, *, wait: bool = True
    ) -> None:
        parsed = httpx.URL(url)
        self.sock = socket.create_connection((parsed.host, parsed.port), timeout=5)
        lines = [f"{method} {parsed.raw_path.decode()} HTTP/1.0", f"Host: {parsed.host}", "Content-Length: 0"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = b""
        if wait:  # a poll that waits for a message sends nothing before it: read_head() later
            self.read_head()

    def read_head(self) -> None:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def read(self, expected: str) -> str:
        """The next len(expected) characters (compare with ==, so a mismatch shows both)."""
        size = len(expected.encode())
        while len(self.buffer) < size and self._fill():
            pass
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data.decode()

    def line(self) -> str:
        """The next line, newline included."""
        while b"\n" not in self.buffer and self._fill():
            pass
        data, newline, self.buffer = self.buffer.partition(b"\n")
        return (data + newline).decode()

    def ended(self) -> bool:
        return not self.buffer and not self._fill()

    def close(self) -> None:
        self.sock.close()


ANOTHER_CONNECTION = 'c[2010,"Another connection still open"]\n'


def two_polls(url: str) -> tuple[Stream, Stream]:
    """Two polls of one session at once; returns (held, refused) once one of them is refused.

    The session holds one and refuses the other at once. Which one it took first is its
    business: waiting for the refusal avoids guessing when the first poll was attached.
    """
    polls = [Stream(f"{url}/xhr", wait=False) for _ in range(2)]
    ready, _, _ = select.select([poll.sock for poll in polls], [], [], TIMEOUT)
    assert ready, f"neither poll was answered within {TIMEOUT} s"
    refused = next(poll for poll in polls if poll.sock is ready[0])
    [held] = [poll for poll in polls if poll is not refused]
    refused.read_head()
    return held, refused


def answer_once_let_go(ask) -> str:
    """ask()'s answer once it is not "another connection still open" any more (a refused request
    changes nothing, so asking again is safe)."""
    answers = []

    def let_go() -> str | None:
        answers.append(ask())
        return None if answers[-1] == ANOTHER_CONNECTION else answers[-1]

    return wait_until_sync(let_go, lambda: f"the session let go of its receiver; answers: {answers[-3:]}")


# --- greeting and info ---------------------------------------------------------------------


def test_greeting(http, base):
    for url in (f"{base}/echo", f"{base}/echo/"):
        r = http.get(url)
        assert r.status_code == 200
        assert content_type(r) == "text/plain;charset=UTF-8"
        assert r.text == "Welcome to SockJS!\n"
        assert "set-cookie" not in r.headers
    for suffix in ("/a", "/a.html", "//", "///", "/a/a", "/a/a/", "/a/"):
        assert http.get(f"{base}/echo{suffix}").status_code == 404


def test_unserved_transports_are_404(http, base):
    """JSONP, htmlfile and the iframe page are left out (docs/protocol.md says why)."""
    url = session_url(base)
    assert http.get(f"{url}/jsonp?c=x").status_code == 404
    assert http.get(f"{url}/htmlfile?c=x").status_code == 404
    assert http.post(f"{url}/jsonp_send", content="d=[]").status_code == 404
    assert http.get(f"{base}/echo/iframe.html").status_code == 404


def test_info(http, base):
    r = http.get(f"{base}/echo/info", headers={"Origin": "test"})
    assert r.status_code == 200
    assert content_type(r) == "application/json;charset=UTF-8"
    assert "set-cookie" not in r.headers
    assert r.headers["cache-control"] == NOT_CACHED
    assert "expires" not in r.headers and "last-modified" not in r.headers
    assert_cors(r, "test")
    data = r.json()
    assert data["websocket"] is True
    assert data["cookie_needed"] is False
    assert data["origins"] == ["*:*"]
    assert 0 <= data["entropy"] < 2**32
    assert http.get(f"{base}/echo/info").json()["entropy"] != data["entropy"]
    assert_options(http, f"{base}/echo/info", "OPTIONS, GET")
    assert http.get(f"{base}/disabled_websocket_echo/info").json()["websocket"] is False
    assert http.get(f"{base}/cookie_needed_echo/info").json()["cookie_needed"] is True


# --- sessions over xhr polling ---------------------------------------------------------------


def test_session_urls_accept_any_server_and_session_value(http, base):
    for part in ("/a/a", "/_/_", "/1/1", "/abcdefgh_i-j%20/abcdefg_i-j%20"):
        suffix = str(uuid.uuid4())[:8]
        r = http.post(f"{base}/echo{part}{suffix}/xhr")
        assert (r.status_code, r.text) == (200, "o\n")
    for bad in ("//", "/a./a", "/a/a.", "/./.", "/", "///"):
        assert http.get(f"{base}/echo{bad}/xhr").status_code == 404
        assert http.post(f"{base}/echo{bad}/xhr").status_code == 404


def test_server_id_is_ignored(http, base):
    session = str(uuid.uuid4())
    assert http.post(f"{base}/echo/000/{session}/xhr").text == "o\n"
    assert http.post(f"{base}/echo/000/{session}/xhr_send", content='["a"]').status_code == 204
    assert http.post(f"{base}/echo/999/{session}/xhr").text == 'a["a"]\n'


def test_simple_session_and_a_second_receiver(http, base):
    url = session_url(base)
    assert http.post(f"{url}/xhr").text == "o\n"
    r = http.post(f"{url}/xhr_send", content='["a"]')
    assert r.status_code == 204 and not r.content
    assert http.post(f"{url}/xhr").text == 'a["a"]\n'
    assert http.post(f"{base}/echo/000/bad_session/xhr_send", content='["a"]').status_code == 404
    held, refused = two_polls(url)
    assert (refused.status, refused.line()) == (200, ANOTHER_CONNECTION)
    assert refused.ended()
    assert http.post(f"{url}/xhr_send", content='["b"]').status_code == 204
    held.read_head()  # the held poll is the session's receiver: it gets the echo
    assert (held.status, held.line()) == (200, 'a["b"]\n')
    held.close()
    refused.close()


def test_close_service(http, base):
    url = session_url(base, "close")
    assert http.post(f"{url}/xhr").text == "o\n"
    assert http.post(f"{url}/xhr").text == 'c[3000,"Go away!"]\n'
    assert http.post(f"{url}/xhr").text == 'c[3000,"Go away!"]\n'  # until the session times out


def test_xhr_transport_headers(http, base):
    url = session_url(base)
    r = http.post(f"{url}/xhr", headers={"Origin": "test"})
    assert (r.status_code, r.text) == (200, "o\n")
    assert content_type(r) == "application/javascript;charset=UTF-8"
    assert_cors(r, "test")
    assert r.headers["cache-control"] == NOT_CACHED
    r = http.post(f"{url}/xhr_send", content='["x"]', headers={"Origin": "test"})
    assert r.status_code == 204 and not r.content
    assert content_type(r) == "text/plain;charset=UTF-8"
    assert_cors(r, "test")
    assert r.headers["cache-control"] == NOT_CACHED
    assert r.headers["x-content-type-options"] == "nosniff"
    assert http.post(f"{url}/xhr").text == 'a["x"]\n'
    for suffix in ("/xhr", "/xhr_send"):
        assert_options(http, f"{base}/echo/abc/abc{suffix}", "OPTIONS, POST")


def test_xhr_send_errors(http, base):
    assert http.post(f"{session_url(base)}/xhr_send", content='["x"]').status_code == 404
    url = session_url(base)
    assert http.post(f"{url}/xhr").text == "o\n"
    r = http.post(f"{url}/xhr_send", content='["x')
    assert r.status_code == 500 and "Broken JSON encoding." in r.text
    r = http.post(f"{url}/xhr_send", content="")
    assert r.status_code == 500 and "Payload expected." in r.text
    assert http.post(f"{url}/xhr_send", content="[]").status_code == 204  # an empty frame is fine
    assert http.post(f"{url}/xhr_send", content='["a"]').status_code == 204
    assert http.post(f"{url}/xhr").text == 'a["a"]\n'


def test_xhr_send_accepts_any_content_type(http, base):
    url = session_url(base)
    assert http.post(f"{url}/xhr").text == "o\n"
    types = ["text/plain", "T", "application/json", "application/xml", "", "text/xml; charset=utf-8"]
    for ctype in types:
        assert (
            http.post(f"{url}/xhr_send", content='["a"]', headers={"Content-Type": ctype}).status_code == 204
        )
    assert http.post(f"{url}/xhr").text == "a[" + ",".join(['"a"'] * len(types)) + "]\n"


def test_request_headers_are_echoed_for_cors(http, base):
    url = session_url(base)
    request = {"Origin": "test", "Access-Control-Request-Method": "POST"}
    r = http.options(f"{url}/xhr", headers={**request, "Access-Control-Request-Headers": "a, b, c"})
    assert r.headers["access-control-allow-headers"] == "a, b, c"
    r = http.options(f"{url}/xhr", headers={**request, "Access-Control-Request-Headers": ""})
    assert "access-control-allow-headers" not in r.headers


def test_json_encoding_round_trips(http, base):
    """The server escapes what browsers mangle; every character comes back as it went."""
    escaped_by_server = [c for c in map(chr, range(256, 65536)) if _server_escapes(c)]
    url = session_url(base)
    assert http.post(f"{url}/xhr").text == "o\n"
    payload = json.dumps(["".join(escaped_by_server)], ensure_ascii=False)
    assert http.post(f"{url}/xhr_send", content=payload.encode()).status_code == 204
    body = http.post(f"{url}/xhr").text.strip()[2:-1]
    assert body == '"' + "".join(f"\\u{ord(c):04x}" for c in escaped_by_server) + '"'
    # A lone surrogate (valid in JavaScript strings) can only travel escaped, both ways.
    assert http.post(f"{url}/xhr_send", content='["\\ud800"]').status_code == 204
    assert http.post(f"{url}/xhr").text == 'a["\\ud800"]\n'
    # Everything a client sends escaped (here: all of the BMP but surrogates) decodes to itself.
    url = session_url(base)
    assert http.post(f"{url}/xhr").text == "o\n"
    everything = "".join(chr(i) for i in range(65536) if not 0xD800 <= i <= 0xDFFF)
    chunks = [everything[i : i + 8192] for i in range(0, len(everything), 8192)]  # under the 64 KiB limit
    for chunk in chunks:
        assert http.post(f"{url}/xhr_send", content=json.dumps([chunk])).status_code == 204
    assert json.loads(http.post(f"{url}/xhr").text.strip()[1:]) == chunks


def _server_escapes(c: str) -> bool:
    o = ord(c)
    return 0x200C <= o <= 0x200F or 0x2028 <= o <= 0x202F or 0x2060 <= o <= 0x206F or 0xFFF0 <= o <= 0xFFFF


# --- streaming ---------------------------------------------------------------------------


def test_xhr_streaming(http, base):
    url = session_url(base)
    r = Stream(f"{url}/xhr_streaming", headers={"Origin": "test"})
    assert r.status == 200
    assert r.headers["content-type"].replace(" ", "") == "application/javascript;charset=UTF-8"
    assert r.headers["access-control-allow-origin"] == "test"
    assert r.headers["cache-control"] == NOT_CACHED
    assert "content-length" not in r.headers and "transfer-encoding" not in r.headers  # HTTP/1.0
    assert r.read("h" * 2048 + "\n") == "h" * 2048 + "\n"
    assert r.read("o\n") == "o\n"
    assert http.post(f"{url}/xhr_send", content='["x"]').status_code == 204
    assert r.read('a["x"]\n') == 'a["x"]\n'
    r.close()
    assert_options(http, f"{base}/echo/abc/abc/xhr_streaming", "OPTIONS, POST")


def test_xhr_streaming_response_limit(http, base):
    url = session_url(base)
    r = Stream(f"{url}/xhr_streaming")
    r.read("h" * 2048 + "\n")
    assert r.read("o\n") == "o\n"
    message = '"' + "x" * 128 + '"'
    for _ in range(31):  # the test services end a response after 4096 bytes
        assert http.post(f"{url}/xhr_send", content=f"[{message}]").status_code == 204
        assert r.read(f"a[{message}]\n") == f"a[{message}]\n"
    assert r.ended()


def test_eventsource(http, base):
    url = session_url(base)
    r = Stream(f"{url}/eventsource", method="GET")
    assert r.status == 200
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["cache-control"] == NOT_CACHED
    assert r.read("\r\n") == "\r\n"
    assert r.read("data: o\r\n\r\n") == "data: o\r\n\r\n"
    assert http.post(f"{url}/xhr_send", content='["x"]').status_code == 204
    assert r.read('data: a["x"]\r\n\r\n') == 'data: a["x"]\r\n\r\n'
    assert http.post(f"{url}/xhr_send", content=r'["  \u0000\n\r "]').status_code == 204
    expected = 'data: a["  \\u0000\\n\\r "]\r\n\r\n'
    assert r.read(expected) == expected
    r.close()


def test_eventsource_response_limit(http, base):
    url = session_url(base)
    r = Stream(f"{url}/eventsource", method="GET")
    r.read("\r\n")
    assert r.read("data: o\r\n\r\n") == "data: o\r\n\r\n"
    message = '"' + "x" * 4096 + '"'
    assert http.post(f"{url}/xhr_send", content=f"[{message}]").status_code == 204
    assert r.read(f"data: a[{message}]\r\n\r\n") == f"data: a[{message}]\r\n\r\n"
    assert r.ended()


def test_cookie_needed_services_set_jsessionid(http, base):
    r = http.post(f"{session_url(base, 'cookie_needed_echo')}/xhr")
    assert r.text == "o\n"
    assert r.headers["set-cookie"].split(";")[0] == "JSESSIONID=dummy"
    assert r.headers["set-cookie"].split(";")[1].strip().lower() == "path=/"
    r = http.post(f"{session_url(base, 'cookie_needed_echo')}/xhr", headers={"Cookie": "JSESSIONID=abcdef"})
    assert r.headers["set-cookie"].split(";")[0] == "JSESSIONID=abcdef"
    for transport, method in (("xhr_streaming", "POST"), ("eventsource", "GET")):
        r = Stream(f"{session_url(base, 'cookie_needed_echo')}/{transport}", method=method)
        assert r.headers["set-cookie"].split(";")[0] == "JSESSIONID=dummy"
        r.close()


# --- closing -------------------------------------------------------------------------------


def test_close_frame_on_streaming(base):
    url = session_url(base, "close")
    r1 = Stream(f"{url}/xhr_streaming")
    r1.read("h" * 2048 + "\n")
    assert r1.read("o\n") == "o\n"
    assert r1.read('c[3000,"Go away!"]\n') == 'c[3000,"Go away!"]\n'
    assert r1.ended()
    r2 = Stream(f"{url}/xhr_streaming")
    r2.read("h" * 2048 + "\n")
    assert r2.read('c[3000,"Go away!"]\n') == 'c[3000,"Go away!"]\n'
    assert r2.ended()


def test_a_second_streaming_receiver_is_refused(base):
    url = session_url(base)
    r1 = Stream(f"{url}/xhr_streaming")
    r1.read("h" * 2048 + "\n")
    assert r1.read("o\n") == "o\n"
    r2 = Stream(f"{url}/xhr_streaming")
    r2.read("h" * 2048 + "\n")
    expected = 'c[2010,"Another connection still open"]\n'
    assert r2.read(expected) == expected
    assert r2.ended()
    r1.close()

    def ask() -> str:
        r3 = Stream(f"{url}/xhr_streaming")
        r3.read("h" * 2048 + "\n")
        answer = r3.line()
        r3.close()
        return answer

    # The aborted receiver ended the session: the next request learns it (or starts anew).
    assert answer_once_let_go(ask) in ("o\n", 'c[1002,"Connection interrupted"]\n')


def test_an_aborted_poll_interrupts_the_session(http, base):
    url = session_url(base)
    assert http.post(f"{url}/xhr").text == "o\n"
    held, refused = two_polls(url)
    assert refused.line() == ANOTHER_CONNECTION
    refused.close()
    held.close()  # the client aborts the poll the session holds
    answer = answer_once_let_go(lambda: http.post(f"{url}/xhr").text)
    assert answer in ("o\n", 'c[1002,"Connection interrupted"]\n')


def test_a_session_times_out_without_a_receiver(http, base):
    url = session_url(base)
    opened = time.monotonic()
    assert http.post(f"{url}/xhr").text == "o\n"
    # Sends do not keep a session alive, so they can ask whether it is gone yet.
    wait_until_sync(
        lambda: http.post(f"{url}/xhr_send", content='["a"]').status_code == 404,
        "the session without a receiver timed out",
        timeout=DISCONNECT_DELAY + TIMEOUT,
        interval=0.1,
    )
    assert time.monotonic() - opened >= DISCONNECT_DELAY  # and not before its time


# --- WebSocket -----------------------------------------------------------------------------


def ws_url(base: str, service: str = "echo") -> str:
    return session_url(base, service).replace("http://", "ws://") + "/websocket"


def test_websocket_over_plain_http(http, base):
    assert http.get(f"{base}/echo/0/0/websocket").status_code == 400
    r = http.get(f"{base}/echo/0/0/websocket", headers={"Upgrade": "WebSocket", "Connection": "close"})
    assert r.status_code == 400
    for headers in ({"Upgrade": "WebSocket", "Connection": "Upgrade"}, {}):
        r = http.post(f"{base}/echo/0/0/websocket", headers=headers)
        assert r.status_code == 405 and r.headers["allow"] and not r.content
        assert "content-type" not in r.headers
    assert http.get(f"{base}/disabled_websocket_echo/0/0/websocket").status_code == 404


def test_websocket_transport(base):
    with ws_connect(ws_url(base)) as ws:
        assert ws.recv() == "o"
        ws.send("")  # ignored
        ws.send("[]")  # ignored
        ws.send('["a"]')
        assert ws.recv() == 'a["a"]'
        ws.send('"b"')  # a single message is fine too
        assert ws.recv() == 'a["b"]'


def test_websocket_close_and_broken_json(base):
    with ws_connect(ws_url(base, "close")) as ws:
        assert ws.recv() == "o"
        assert ws.recv() == 'c[3000,"Go away!"]'
        with pytest.raises(ConnectionClosed):
            ws.recv()
    with ws_connect(ws_url(base)) as ws:
        assert ws.recv() == "o"
        ws.send('["a')
        with pytest.raises(ConnectionClosed):
            ws.recv()
        assert ws.close_code == 4400


def test_websocket_sessions_may_share_an_id(base):
    url = ws_url(base)
    with ws_connect(url) as ws1, ws_connect(url) as ws2:
        assert ws1.recv() == "o" and ws2.recv() == "o"
        ws1.send('["a"]')
        ws2.send('["b"]')
        assert ws1.recv() == 'a["a"]' and ws2.recv() == 'a["b"]'


def test_raw_websocket(base):
    raw = base.replace("http://", "ws://")
    with ws_connect(f"{raw}/echo/websocket") as ws:
        ws.send("Hello world!\uffff")
        assert ws.recv() == "Hello world!\uffff"
    with ws_connect(f"{raw}/close/websocket") as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv()
        assert (ws.close_code, ws.close_reason) == (3000, "Go away!")


# --- HTTP/1.1 ------------------------------------------------------------------------------


def test_http11_keep_alive_and_chunked_streaming(base):
    with httpx.Client(timeout=5) as http:
        for _ in range(2):  # the same connection serves both
            r = http.get(f"{base}/echo")
            assert r.headers["content-length"] == "19"
        with http.stream("POST", f"{session_url(base, 'close')}/xhr_streaming") as r:
            assert r.headers["transfer-encoding"] == "chunked"
            assert "content-length" not in r.headers
            body = r.read().decode()
        assert body == "h" * 2048 + '\no\nc[3000,"Go away!"]\n'
