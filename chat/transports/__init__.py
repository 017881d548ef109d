"""Transports: adapters that carry the protocol's frames (WebSocket at /ws/, SockJS at /sockjs/).

They decode and encode frames and hand them to a `chat.protocol.session.ChatSession`; no rule lives here.
"""
