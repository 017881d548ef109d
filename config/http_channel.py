"""The HTTP/1.1 channel of a node (config/server.py, items 8 and 9): deadlines for reading each
request, a body limit, and no cycle left behind by a WebSocket upgrade."""

import json
import logging
import os

from twisted.web import http

logger = logging.getLogger("chat.server")

# Seconds a client has to send a request's headers, and then its body (DeadlineHTTPChannel).
HEADER_TIMEOUT = float(os.environ.get("CHAT_HEADER_TIMEOUT", "10"))
BODY_TIMEOUT = float(os.environ.get("CHAT_BODY_TIMEOUT", "30"))
# A chunked body is counted with its framing (the chunks' size lines), at most this much of it.
CHUNKED_FRAMING_SLACK = 64 * 1024


class DeadlineHTTPChannel(http.HTTPChannel):
    """twisted.web's HTTP/1.1 channel with deadlines for reading each request.

    Twisted's only read timeout (timeOut, 60 s) is an idle timeout that every byte resets: a client
    that sent one byte of its headers (or of its body) every few seconds held its connection for
    ever (slowloris), and a few thousand such clients held every descriptor of a node. Here the
    headers must all be in within HEADER_TIMEOUT of the connection's start (on a kept-alive
    connection: of the next request's first byte; an idle kept-alive connection still gets
    Twisted's 60 s, which proxies' upstream pools expect), and the body within BODY_TIMEOUT of the
    headers; otherwise the client gets 408 and the connection is closed (aborted if the client does
    not read it). A request being answered (a streaming response, a WebSocket) has no deadline.

    The factory builds this channel directly rather than through twisted's HTTP/2-negotiating
    wrapper: daphne here serves HTTP/1.1 and WebSocket only (no `h2`, no TLS; nginx terminates TLS).
    """

    _read_deadline = None
    _between_requests = False  # a kept-alive connection waiting for its next request
    body_limit: int | None = None  # CHAT_REQUEST_MAX_BYTES, set by ChatServer.run
    _in_body = False  # between a request's headers and the end of its body
    _body_bytes = 0  # of that body, as received (with chunked framing)
    _refused = False  # answered 413: the rest of the body is dropped, then the connection closed
    _tail = b""

    def connectionMade(self) -> None:
        super().connectionMade()
        self._set_read_deadline(HEADER_TIMEOUT)

    def dataReceived(self, data: bytes) -> None:
        if self._between_requests:
            self._between_requests = False
            self._set_read_deadline(HEADER_TIMEOUT)
        super().dataReceived(data)

    def allHeadersReceived(self) -> None:
        self._between_requests = False
        self._set_read_deadline(BODY_TIMEOUT)
        self._in_body, self._body_bytes = True, 0
        if self.body_limit is not None and self.length is not None and self.length > self.body_limit:
            self._refuse_too_large()  # before Twisted opens a file for it, and without 100 Continue
            return
        super().allHeadersReceived()

    def rawDataReceived(self, data: bytes) -> None:
        if self._refused:
            self._drop(data)
            return
        if self._in_body and self.body_limit is not None:
            self._body_bytes += len(data)
            if self._body_bytes > self.body_limit + CHUNKED_FRAMING_SLACK:  # only a chunked body gets here
                self._refuse_too_large()
                self._drop(data)
                return
        super().rawDataReceived(data)

    def allContentReceived(self) -> None:
        self._in_body = False
        self._set_read_deadline(None)
        super().allContentReceived()
        if self.transport is not None and getattr(self.transport, "protocol", self) is not self:
            # daphne handed the connection to a WebSocket protocol: this channel and its request
            # are done, but refer to each other (a cycle only a full collection would free).
            for request in self.requests:
                request.channel = None
            self.requests = []

    def _refuse_too_large(self) -> None:
        """Answer 413 with the uploads' JSON error, and drop the rest of the body as it comes (the
        client reads the answer once it has sent its body; closing at once could reset the
        connection before it does): up to its Content-Length, or a chunked body's last chunk, or
        the body's deadline."""
        self._refused = True
        self._body_bytes = 0
        peer = self.transport.getPeer()
        logger.info(
            "refusing a request body from %s:%s over %s bytes (413)", peer.host, peer.port, self.body_limit
        )
        body = json.dumps(
            {"code": "too_large", "detail": f"The request body is larger than {self.body_limit} bytes."}
        ).encode()
        self.transport.write(
            b"HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
            b"X-Content-Type-Options: nosniff\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        self.persistent = False
        if self.length == 0:
            self.loseConnection()

    def _drop(self, data: bytes) -> None:
        self._body_bytes += len(data)
        self._tail = (self._tail + data)[-5:]
        if (self.length is not None and self._body_bytes >= self.length) or (
            self.length is None and self._tail == b"0\r\n\r\n"
        ):
            self._set_read_deadline(None)
            self.loseConnection()

    def requestDone(self, request) -> None:
        # Set before the base class parses a pipelined next request (whose headers clear it).
        self._between_requests = self.persistent
        super().requestDone(request)

    def connectionLost(self, reason) -> None:
        self._set_read_deadline(None)
        super().connectionLost(reason)

    def _set_read_deadline(self, seconds: float | None) -> None:
        if self._read_deadline is not None and self._read_deadline.active():
            self._read_deadline.cancel()
        self._read_deadline = self.callLater(seconds, self._read_too_slow) if seconds else None

    def _read_too_slow(self) -> None:
        self._read_deadline = None
        if self._refused:  # already answered
            self.timeoutConnection()
            return
        peer = self.transport.getPeer()
        logger.info("closing %s:%s: request not received in time (408)", peer.host, peer.port)
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
        self.timeoutConnection()  # closes, and aborts after abortTimeout if the client does not read
