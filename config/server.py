"""daphne with a few protocol changes; `python -m config.server` takes daphne's own arguments.
(~550 lines kept in one module, see "Why one module" below: each numbered change below patches daphne/autobahn/Twisted at start-up,
checked by config/compat.py, and they share one server factory; the HTTP channel of items 8 and 9 is
config/http_channel.py, admission control config/admission.py.)

1. autobahn fails a connection that breaks a limit (a frame above
   --websocket-max-message-size, invalid UTF-8 in a text frame) by dropping TCP, so a
   client sees only 1006. With failByDrop off it first sends the close frame with the
   documented code (1009 too big, 1007 invalid UTF-8).
2. A frame sent while the client is disconnecting is dropped instead of raising.
3. daphne writes every outgoing frame into the socket's user-space buffer without limit,
   so a client that stops reading makes the server's memory grow with every message of
   its rooms. Here the buffer is capped (CHAT_SEND_BUFFER_LIMIT, 1 MiB): a connection whose
   unsent data exceeds it is closed with 4408 and its buffer freed.
4. SIGTERM is graceful: the node stops listening, closes every WebSocket with 1012 (service
   restart: reconnect, to another node), lets the application clean up, and exits within
   CHAT_SHUTDOWN_GRACE seconds (default 10). The SockJS sessions this node owns are closed
   the same way (close frame c[1012,...]).
5. The ASGI close "reason" reaches the client (daphne drops it), a refused WebSocket
   handshake says where its HTTP response ends, and a clean close ends TCP with FIN, not RST.
6. The send path is cheaper per frame: a small text frame sent to many sockets is built once
   (_text_frame), a frame goes straight to the socket when nothing is buffered (_write), and
   autobahn's per-send debug-log formatting is skipped (sendData).
7. What is loaded at start-up is frozen out of the garbage collector's sight (gc.freeze), so a
   full collection pauses the node for a fraction of the time; and full collections are rarer
   (GC_THRESHOLDS): with CPython's defaults, a node taking 15,000 connections ran 31 of them, one
   every 2 s, each walking every object of every connection so far (up to 1.8 s, 16 s of CPU in
   all); with these, 3 (3.7 s). Young cycles are still collected, every 10,000 allocations.
8. A request must arrive in time: its headers within CHAT_HEADER_TIMEOUT seconds (default 10) of
   the connection's start (or of their first byte on a kept-alive connection), its body within
   CHAT_BODY_TIMEOUT (default 30) of its headers; otherwise 408 and the connection is closed
   (config/http_channel.py). After a WebSocket upgrade, the channel lets go of its request (daphne
   left the two in a cycle that only a full collection freed).
9. A request body larger than CHAT_REQUEST_MAX_BYTES (the upload limit and 64 KiB) is answered
   413 as soon as its Content-Length says so, or once a chunked body passes it, and what follows is
   dropped as it arrives: it never reaches a temporary file or the application (config/http_channel.py).
10. A WebSocket connect queued behind others (a reconnect storm) waits up to 60 s to be accepted,
   not daphne's 5 s (WEBSOCKET_CONNECT_TIMEOUT, a CLI default that `--websocket_connect_timeout`
   still overrides).
11. daphne's two housekeeping loops walk every connection, one every second (finished applications
   to reap) and one every two (timeouts and WebSocket pings): at 15,000 idle sockets, 9% of a core.
   Here each walks them every CHECKER_PERIOD (5) seconds, and a finished application is reaped up
   to 5 s later. A WebSocket is pinged every 30 s (PING_INTERVAL, a CLI default that `--ping-interval`
   overrides; daphne: 20 s), as Phoenix does: each ping and its pong cost the node about 50 us, 3.6%
   of a core at 15,000 sockets every 20 s. A dead peer is still dropped within 30 s of a ping it
   does not answer (--ping-timeout); proxies in front need a read timeout above 35 s (docs/deploy.md).

12. A node whose event loop falls behind stops accepting connections until it catches up
   (config/admission.py; CHAT_ADMISSION_CONTROL=0 turns it off): a reconnect storm waits in the
   kernel's backlog, not in the loop ahead of the deliveries of the clients the node already has.
13. Pings, lean (BoundedWebSocketProtocol.check_timeouts): daphne sent autobahn's ping (a 12-byte
   payload of time, sequence and os.urandom, and a timer per ping for its pong) and autobahn parsed
   each pong as any frame: at 15,000 idle sockets, pings and pongs were nearly half of an idle node's
   CPU. Here a ping is the 2-byte empty frame written at once, an empty pong arriving alone is
   recognised in its 6 bytes without autobahn's parser, and the pong timeout is a timestamp checked
   at the next walk: a peer that sends nothing for --ping-timeout after a ping is dropped within
   that and CHECKER_PERIOD, where autobahn's timer dropped it at --ping-timeout.
14. daphne's application walk visited every connection to find the few whose connection closed or
   whose application finished; here only those are visited (ChatServer.application_checker:
   protocol_disconnected and each application's done callback list them), with daphne's own code.

Most of this reaches into autobahn's, daphne's and Twisted's internals; before it serves, the node
checks that every such name (and those the chat uses in channels-redis, asgiref, Django ...) is
still there in the installed versions (config/compat.py), and exits with the list if one is not.

Why one module of about 550 lines: it is the node's daphne, the subclasses that the items above
describe (the WebSocket protocol, the server, the command line) and their start-up; the parts that
became concepts of their own already live apart (the HTTP channel in config/http_channel.py,
admission control in config/admission.py). The WebSocket protocol class (limits, the send path, pings:
items 1-3, 5, 6 and 13) is the next to move out, to config/ws_protocol.py, when it grows again.
"""

import asyncio
import functools
import gc
import logging
import os
import signal
import socket
import struct
import sys
import time

from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings
from twisted.internet import reactor
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from chat.protocol import closecodes
from config import admission, compat
from config.http_channel import DeadlineHTTPChannel

logger = logging.getLogger("chat.server")

SHUTDOWN_GRACE = float(os.environ.get("CHAT_SHUTDOWN_GRACE", "10"))
# Item 12; 0 turns it off (the bench compares both).
ADMISSION_CONTROL = os.environ.get("CHAT_ADMISSION_CONTROL", "1") != "0"
SEND_BUFFER_LIMIT = int(os.environ.get("CHAT_SEND_BUFFER_LIMIT", str(1024 * 1024)))
# Optional kernel send buffer per socket (bytes); 0 keeps the kernel's autotuning.
SOCKET_SNDBUF = int(os.environ.get("CHAT_SOCKET_SNDBUF", "0"))
# STOMP answers a frame over its 64 KiB limit with an ERROR frame (docs/stomp.md), so WebSocket
# messages up to twice the node's limit reach it on that path; beyond, autobahn closes with 1009.
STOMP_PATH = "/" + os.environ.get("CHAT_STOMP_PATH", "/stomp").strip("/")


@implementer(IPushProducer)
class _SlowReaderGuard:
    """Registered as the transport's streaming producer: Twisted calls pauseProducing when the
    transport holds more than `bufferSize` unsent bytes, which is our cap."""

    def __init__(self, protocol: "BoundedWebSocketProtocol") -> None:
        self.protocol = protocol

    def pauseProducing(self) -> None:
        self.protocol.close_too_slow()

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


# Frames up to this many characters are cached: every broadcast fits (a message of 4,000 characters
# is about 4,200; presence and room events are smaller). A history page, sent to one client only,
# is up to ~1.2 MB: 128 of those kept about 280 MiB pinned per node (docs/reliability.md). So the
# cache holds at most 128 x 8 K characters (2 MiB of ASCII text and frames; 8 MiB at worst).
CACHED_FRAME_MAX_CHARS = 8192


def _build_text_frame(text: str) -> tuple[bytes, int]:
    """One unmasked, unfragmented RFC 6455 text frame, and its payload size."""
    payload = text.encode("utf-8")
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload, size


_cached_text_frame = functools.lru_cache(maxsize=128)(_build_text_frame)


def _text_frame(text: str) -> tuple[bytes, int]:
    """The frame of `text`, built once for a small frame that many sockets get.

    A broadcast reaches every subscriber on a node as the same string, so its frame is built
    (UTF-8 encoded, header packed) once instead of once per socket by autobahn's sendMessage().
    """
    if len(text) > CACHED_FRAME_MAX_CHARS:
        return _build_text_frame(text)
    return _cached_text_frame(text)


class BoundedWebSocketProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol with a cap on the unsent bytes per connection."""

    too_slow = False

    def onConnect(self, request):
        path = request.path
        if (path == STOMP_PATH or path.startswith(STOMP_PATH + "/")) and self.maxMessagePayloadSize:
            self.maxMessagePayloadSize *= 2
            self.maxFramePayloadSize = max(self.maxFramePayloadSize, self.maxMessagePayloadSize)
        return super().onConnect(request)

    def onOpen(self) -> None:
        if SOCKET_SNDBUF:
            self.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SNDBUF)
        self.transport.bufferSize = SEND_BUFFER_LIMIT
        if getattr(self.transport, "producer", None) is not None:
            # twisted.web's HTTPChannel registered itself before daphne upgraded the connection.
            self.transport.unregisterProducer()
        self.transport.registerProducer(_SlowReaderGuard(self), True)
        super().onOpen()

    def close_too_slow(self) -> None:
        if self.too_slow:
            return
        self.too_slow = True
        logger.warning(
            "closing %s: more than %d bytes unsent (client not reading)", self.client_addr, SEND_BUFFER_LIMIT
        )
        # The close frame would wait behind the unread data, so drop the connection now
        # (freeing the buffer); the application sees a disconnect with code 4408.
        self.sendClose(code=closecodes.TOO_SLOW, reason="too slow")
        self.transport.abortConnection()

    def serverSend(self, content, binary=False) -> None:
        # A frame for a connection that is closing (the client left, or too slow) has nowhere
        # to go; daphne would raise autobahn's Disconnected into the log.
        if self.too_slow or self.state in (self.STATE_CLOSING, self.STATE_CLOSED):
            return
        if (
            not binary
            and self.state == self.STATE_OPEN
            and self._perMessageCompress is None
            and not self.autoFragmentSize
            and not self.trackedTimings
        ):
            # No size limit here: --websocket-max-message-size is for what clients send, but
            # autobahn applied it to outgoing messages too, and raised on a history page above it.
            frame, size = _text_frame(content)
            stats = self.trafficStats
            stats.outgoingWebSocketMessages += 1
            stats.outgoingOctetsAppLevel += size
            stats.outgoingOctetsWebSocketLevel += size
            self.sendData(frame)
            return
        super().serverSend(content, binary)

    # daphne compares and hashes protocols by id() in Python code; object's own methods mean the
    # same and are C code, and Server.handle_reply() looks the protocol up for every frame sent.
    __hash__ = object.__hash__
    __eq__ = object.__eq__

    def handle_reply(self, message) -> None:
        # A text frame on an open socket (nearly every reply) skips daphne's re-checks of the type.
        if message.get("type") == "websocket.send" and self.state == self.STATE_OPEN:
            text = message.get("text")
            if text is not None and not message.get("bytes"):
                self.serverSend(text, False)
                return
        # daphne drops the ASGI close "reason"; clients (and the SockJS raw endpoint) get it here.
        if (
            message.get("type") == "websocket.close"
            and message.get("reason")
            and self.state not in (self.STATE_CONNECTING, self.STATE_CLOSING, self.STATE_CLOSED)
        ):
            self.sendClose(code=message.get("code") or 1000, reason=message["reason"])
            return
        super().handle_reply(message)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        # autobahn's sendData formats its debug-log arguments (click.style, inspect) on every
        # call even with debug logging off: about a tenth of a node's CPU under fan-out. The
        # common case (no chopping, nothing queued) is the same write without that.
        if chopsize or sync or self.send_queue:
            super().sendData(data, sync, chopsize)
            return
        self._write(data)
        if self.state == self.STATE_OPEN:
            self.trafficStats.outgoingOctetsWireLevel += len(data)
        elif self.state in (self.STATE_CONNECTING, self.STATE_PROXY_CONNECTING):
            self.trafficStats.preopenOutgoingOctetsWireLevel += len(data)
        if self.logOctets:
            self.logTxOctets(data, False)

    def _write(self, data: bytes) -> None:
        """transport.write(), but try the socket at once, as asyncio's transports do.

        Twisted's write() only buffers and registers the socket for writability; the reactor
        sends on its next turn and unregisters it: two epoll_ctl calls and a reactor callback per
        frame, a third of a node's CPU when it fans a message out to many sockets. When nothing
        is buffered, one send() usually takes the whole frame; whatever it does not take goes
        through write() as before (and so through the send-buffer cap above).
        """
        transport = self.transport
        if (
            getattr(transport, "TLS", False)
            or transport.dataBuffer
            or transport._tempDataBuffer
            or not transport.connected
            or transport.disconnecting
            or not hasattr(transport, "socket")
        ):
            transport.write(data)
            return
        try:
            written = transport.socket.send(data)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError:  # the connection is lost: let Twisted find out as usual
            transport.write(data)
            return
        if written < len(data):
            transport.write(data[written:])

    # --- pings (item 13) ---------------------------------------------------------------------

    ping_sent_at: float | None = None  # the oldest ping the peer has not answered (nor sent anything since)

    def check_timeouts(self) -> None:
        """daphne's check (run by ChatServer.timeout_checker), with a lean ping on an open socket:
        an empty ping frame written at once, and no pong timer; a peer that sends nothing (no pong,
        no frame) within the ping timeout of a ping is dropped here, at the next walk."""
        if self.state != self.STATE_OPEN:
            super().check_timeouts()  # the connect timeout
            return
        server = self.server
        if server.websocket_timeout >= 0 and self.duration() > server.websocket_timeout:
            self.serverClose()
            return
        now = time.time()
        if self.ping_sent_at is not None and now - self.ping_sent_at > server.ping_timeout:
            # As autobahn's own ping timeout does (onAutoPingTimeout).
            self.wasClean = False
            self.wasNotCleanReason = "WebSocket ping timeout (peer did not respond with pong in time)"
            self.dropConnection(abort=True)
            return
        if now - self.last_ping > server.ping_interval:
            self.last_ping = now
            if self.ping_sent_at is None:
                self.ping_sent_at = now
            self.sendData(PING_FRAME)

    def _dataReceived(self, data: bytes) -> None:
        # Anything from the peer shows it is there. An empty pong on its own, between frames (nearly
        # every pong: the answer to PING_FRAME), needs nothing else: autobahn's frame parser, a tenth
        # of an idle node's CPU, is skipped for it.
        self.ping_sent_at = None
        if (
            len(data) == 6
            and data.startswith(PONG_FRAME_HEAD)
            and self.state == self.STATE_OPEN
            and not self.data
            and self.current_frame is None
        ):
            return
        super()._dataReceived(data)

    def dropConnection(self, abort=False) -> None:
        # autobahn resets (RST) the TCP connection after a clean closing handshake; a client
        # still reading then sees "connection reset" instead of the end. Nothing is left to
        # read at that point, so close it normally (FIN).
        if abort and self.wasClean and self.state == self.STATE_CLOSING:
            abort = False
        super().dropConnection(abort)

    def sendHttpErrorResponse(self, code, reason, responseHeaders=None) -> None:
        # autobahn refuses a bad handshake (400, or 405 for a POST) with no framing headers and
        # then closes; say so, as HTTP/1.1 clients need to know where the response ends.
        headers = [*(responseHeaders or []), ("Content-Length", "0"), ("Connection", "close")]
        if code == 405:
            headers.append(("Allow", "GET"))
        super().sendHttpErrorResponse(code, reason, headers)

    def onClose(self, wasClean, code, reason) -> None:
        if self.too_slow:
            code = closecodes.TOO_SLOW
        super().onClose(wasClean, code, reason)


# An empty ping, as a server sends it (unmasked; FIN, opcode 9), and the first two bytes of the empty
# pong a client answers with (masked: four bytes of mask follow, and no payload).
PING_FRAME = b"\x89\x00"
PONG_FRAME_HEAD = b"\x8a\x80"


# Connections the kernel queues for accept() (listen(2)'s backlog). Twisted's default is 50: when a node
# dies, its clients reconnect to the others within a second, and every SYN past the 50th was dropped
# and retried by the client's kernel 1, 3, 7 ... s later (in the bench's storm, half the reconnects
# took two attempts). The kernel caps it at net.core.somaxconn (4096 on current Linux). At 1,024 the
# bench's storm (2,500 reconnects to one survivor, which admission control lets in a few at a time)
# overflowed it on a slow hour: 4-17% of the clients were still out at the end of the run (their SYNs
# retried 1, 3, 7, 15 s later); at 4,096 every one was back, in each run since (docs/benchmarks.md).
LISTEN_BACKLOG = 4096


def with_backlog(endpoint: str) -> str:
    """A Twisted `tcp:` endpoint description with LISTEN_BACKLOG, unless it sets a backlog itself."""
    if endpoint.startswith("tcp:") and ":backlog=" not in endpoint:
        return f"{endpoint}:backlog={LISTEN_BACKLOG}"
    return endpoint


# gc.set_threshold (item 7): a young collection every 10,000 net allocations (CPython: 700); a full
# one considered after 10 x 10 of them (CPython: 70,000 allocations), and run only once what
# survived since the last one is a quarter of the rest (CPython's own rule).
GC_THRESHOLDS = (10_000, 10, 10)

# Seconds between two walks over every connection by daphne's housekeeping loops (item 11).
CHECKER_PERIOD = 5.0


class ChatServer(Server):
    """daphne's server with the protocol options and class above, a graceful SIGTERM, a listen
    backlog for reconnect storms, and housekeeping loops that walk the connections less often."""

    shutting_down = False
    _walked: dict[str, float]  # when each housekeeping loop last walked the connections (set by run)

    def _walk_due(self, name: str) -> bool:
        now = time.monotonic()
        if now - self._walked.get(name, 0.0) < CHECKER_PERIOD:
            return False
        self._walked[name] = now
        return True

    # --- reaping applications (item 14): daphne's walk, over the connections that need it -------

    _to_reap: set  # connections that closed or whose application finished since the last walk (run)

    def protocol_disconnected(self, protocol) -> None:
        super().protocol_disconnected(protocol)
        self._to_reap.add(protocol)

    def create_application(self, protocol, scope):
        queue = super().create_application(protocol, scope)
        instance = self.connections.get(protocol, {}).get("application_instance")
        if instance is not None:
            instance.add_done_callback(functools.partial(self._finished, protocol))
        return queue

    def _finished(self, protocol, _future) -> None:
        self._to_reap.add(protocol)

    def application_checker(self) -> None:
        """daphne's walk (reap finished applications, cancel those that outlive their connection by
        application_close_timeout, forget closed connections), over only the connections that
        closed or whose application finished, not all of them: an open connection whose
        application runs has nothing to reap. daphne's own code runs, on a dict of those."""
        # daphne's reschedules itself every second; in between its walks, only the rescheduling.
        if not self._walk_due("applications"):
            reactor.callLater(1, self.application_checker)
            return
        everything, due = self.connections, self._to_reap
        self._to_reap = set()
        self.connections = {protocol: everything[protocol] for protocol in due if protocol in everything}
        try:
            super().application_checker()
        finally:
            walked, self.connections = self.connections, everything
        for protocol in due:
            if protocol not in everything:
                continue
            if protocol not in walked:  # daphne forgot it: closed, and its application done
                del everything[protocol]
            elif "disconnected" in everything[protocol]:  # closed, its application still running
                self._to_reap.add(protocol)

    def timeout_checker(self) -> None:
        if self._walk_due("timeouts"):
            super().timeout_checker()
        else:
            reactor.callLater(2, self.timeout_checker)

    def run(self) -> None:
        self.listening_ports = []
        self._walked = {}
        self._to_reap = set()
        self.admission = (
            admission.Admission(reactor.callLater, on_pause=_count_accept_pause)
            if ADMISSION_CONTROL
            else None
        )
        self.endpoints = [with_backlog(endpoint) for endpoint in self.endpoints]

        # run() creates ws_factory and then blocks in reactor.run(); this runs in between,
        # before the first connection is accepted, after Twisted installed its signal handlers.
        def configure() -> None:
            self.ws_factory.setProtocolOptions(failByDrop=False)
            self.ws_factory.protocol = BoundedWebSocketProtocol
            self.http_factory.protocol = DeadlineHTTPChannel
            DeadlineHTTPChannel.body_limit = settings.CHAT_REQUEST_MAX_BYTES
            signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(self.shut_down_gracefully))
            # Django, Channels, Twisted and the app are loaded and live as long as the process: out
            # of the collector's sight, a full collection no longer walks them (110 -> 30 ms pauses).
            gc.collect()
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
            if self.admission is not None:
                self.admission.start()

        reactor.callWhenRunning(configure)
        super().run()

    def listen_success(self, port) -> None:
        self.listening_ports.append(port)
        if self.admission is not None:
            self.admission.add_port(port)
        super().listen_success(port)

    def _open_websockets(self) -> list[WebSocketProtocol]:
        return [p for p in self.connections if isinstance(p, WebSocketProtocol) and p.state != p.STATE_CLOSED]

    def shut_down_gracefully(self) -> None:
        if self.shutting_down:
            return
        self.shutting_down = True
        sockets = self._open_websockets()
        logger.warning(
            "SIGTERM: closing %d WebSocket(s) with %d, then exiting", len(sockets), closecodes.SERVICE_RESTART
        )
        if self.admission is not None:
            self.admission.stop()
        for port in self.listening_ports:
            port.stopListening()
        sockjs_closed = asyncio.ensure_future(_close_sockjs_sessions())
        for protocol in sockets:
            if protocol.state == protocol.STATE_OPEN:
                # sendClose() accepts only 1000 and 3000-4999 from applications; 1012 (service
                # restart) is a registered code clients know, so send the frame directly.
                protocol.sendCloseFrame(code=closecodes.SERVICE_RESTART, reasonUtf8=b"node restarting")
        deadline = time.monotonic() + SHUTDOWN_GRACE

        def wait_then_stop() -> None:
            if (self._open_websockets() or not sockjs_closed.done()) and time.monotonic() < deadline:
                reactor.callLater(0.1, wait_then_stop)
            else:
                # A moment for the consumers to run their disconnect handlers.
                reactor.callLater(0.5, self.stop)

        wait_then_stop()


def _count_accept_pause() -> None:
    # Imported late: Django is set up by the application, after this module is loaded.
    from chat.realtime import metrics

    metrics.ACCEPT_PAUSES.inc()


async def _close_sockjs_sessions() -> None:
    # Imported late: Django is set up by the application, after this module is loaded.
    from chat.transports.sockjs import relay

    await relay.close_all(closecodes.SERVICE_RESTART, "Node restarting")


# daphne's default (5 s) is both how long a WebSocket may take to be accepted by the application and
# autobahn's opening-handshake timeout. When a node dies, thousands of its clients reconnect to the
# others within a second or two, and a node works through their connects in turn (about 4 ms of CPU
# each: docs/benchmarks.md, "Reconnect storm"): with 5 s, every connect still queued after 5 s was
# refused after part of its work was done, and its client came back later to queue again (14,461
# attempts for 2,500 clients, 62.6% of messages not delivered in time). A connect that waits is
# served; `--websocket_connect_timeout` still sets it.
WEBSOCKET_CONNECT_TIMEOUT = 60
# Seconds between two pings of an open WebSocket (item 11).
PING_INTERVAL = 30


class ChatCommandLineInterface(CommandLineInterface):
    server_class = ChatServer

    def __init__(self) -> None:
        super().__init__()
        self.parser.set_defaults(
            websocket_connect_timeout=WEBSOCKET_CONNECT_TIMEOUT, ping_interval=PING_INTERVAL
        )


def main() -> None:
    try:
        compat.check()
    except compat.IncompatibleLibraries as exc:
        sys.exit(f"config.server: not starting: {exc}")  # the message, exit status 1, no traceback
    ChatCommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
