"""STOMP 1.0/1.1/1.2 over WebSocket and SockJS, over the chat protocol's ChatSession (docs/stomp.md)."""
