"""Every close code the server sends (docs/protocol.md, "Close codes"), in one place.

Pure constants with no imports, so config/server.py can read them before Django is set up.
"""

# WebSocket's own codes (RFC 6455) that the server chooses.
SERVICE_RESTART = 1012  # the node is shutting down gracefully: reconnect at once, to any node
INVALID_UTF8 = 1007  # a text frame was not UTF-8 (sent by daphne/autobahn, listed for the docs)
TOO_BIG = 1009  # a frame above the size limit (sent by autobahn)

# The application's codes (4000-4999).
BROKEN_JSON = 4400  # framed SockJS over WebSocket: a message that is not a JSON array of strings
UNAUTHENTICATED = 4401  # not signed in, or the session ended (logout, deleted, user deactivated...)
TOO_SLOW = 4408  # the client stopped reading: its unsent frames passed the limit
TOO_MANY_CONNECTIONS = 4409  # the user already holds the most connections allowed (all nodes)
RATE_LIMITED = 4429  # still sending after FLOOD_STRIKES refusals in a row

# The reasons sent with them where the transport carries one (SockJS close frames).
REASONS = {
    UNAUTHENTICATED: "Not signed in",
    RATE_LIMITED: "Rate limited",
    TOO_SLOW: "Client not reading",
    TOO_MANY_CONNECTIONS: "Too many connections",
    SERVICE_RESTART: "Node restarting",
}
