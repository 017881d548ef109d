"""The SockJS 0.3 fallback transport, served from the same ASGI application as /ws/.

Layout: framing (frames and their JSON encoding), services (which endpoints exist and how they
behave), handlers (what runs inside a session: the chat protocol, or the conformance suite's
echo/close services), sessions (the session state machine and its routing across nodes), http
(the HTTP transports) and websocket (the two WebSocket endpoints).
"""
