"""Prometheus metrics of this process (each daphne node is one process and serves its own /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("chat_connections", "Open client connections", ["transport"])
SUBSCRIPTIONS = Gauge("chat_subscriptions", "Room subscriptions held by open connections")
MESSAGES_RECEIVED = Counter("chat_messages_received_total", "Messages accepted from clients (stored)")
FRAMES_SENT = Counter("chat_frames_sent_total", "Frames sent to clients", ["type"])
MESSAGE_FRAMES_SENT = FRAMES_SENT.labels("message")  # once per delivery: skip the label lookup
DELIVERY_LATENCY = Histogram(
    "chat_delivery_latency_seconds",
    "From a message's commit to its frame being handed to a local client connection",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ERRORS = Counter("chat_errors_total", "Error frames sent, by code", ["code"])
RATE_LIMITED = Counter("chat_rate_limited_total", "Messages refused by the rate limit")
REPAIRED = Counter("chat_repaired_messages_total", "Messages sent from the database to fill a gap")
