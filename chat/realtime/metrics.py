"""Prometheus metrics of this process (each daphne node is one process and serves its own /metrics)."""

import bisect
import itertools

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

CONNECTIONS = Gauge("chat_connections", "Open client connections", ["transport"])
SUBSCRIPTIONS = Gauge("chat_subscriptions", "Room subscriptions held by open connections")
MESSAGES_RECEIVED = Counter("chat_messages_received_total", "Messages accepted from clients (stored)")


class Deliveries:
    """Room messages handed to local client connections: a count and a latency histogram.

    Recorded once per recipient, thousands of times a second, always on the event loop's thread.
    prometheus_client's Counter and Histogram take a lock per update, about 7% of a
    node's CPU per delivery; these are plain numbers, turned into the usual metric families
    (`chat_frames_sent_total{type="message"}`, `chat_delivery_latency_seconds`) when scraped.
    """

    BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

    def __init__(self) -> None:
        self.count = 0
        self.latency_counts = [0] * (len(self.BUCKETS) + 1)  # the last one is +Inf
        self.latency_sum = 0.0

    def record(self, latency: float | None) -> None:
        """One frame sent; `latency` from the message's commit to now, when known."""
        self.count += 1
        if latency is not None:
            self.latency_counts[bisect.bisect_left(self.BUCKETS, latency)] += 1
            self.latency_sum += latency

    def collect(self):
        frames = CounterMetricFamily("chat_frames_sent", "Frames sent to clients", labels=["type"])
        frames.add_metric(["message"], self.count)
        yield frames
        cumulative = list(itertools.accumulate(self.latency_counts))
        bounds = [*map(floatToGoString, self.BUCKETS), "+Inf"]
        yield HistogramMetricFamily(
            "chat_delivery_latency_seconds",
            "From a message's commit to its frame being handed to a local client connection",
            buckets=list(zip(bounds, cumulative, strict=True)),
            sum_value=self.latency_sum,
        )


DELIVERIES = Deliveries()
REGISTRY.register(DELIVERIES)
ERRORS = Counter("chat_errors_total", "Error frames sent, by code", ["code"])
RATE_LIMITED = Counter("chat_rate_limited_total", "Messages refused by the rate limit")
CONNECTIONS_REFUSED = Counter(
    "chat_connections_refused_total", "Connections closed at once: the user held too many (4409)", ["kind"]
)
ACCEPT_PAUSES = Counter(
    "chat_accept_pauses_total",
    "Times this node stopped accepting connections for a moment: its event loop fell behind (config/admission.py)",
)
REPAIRED = Counter("chat_repaired_messages_total", "Messages sent from the database to fill a gap")
READ_FRAMES = Counter("chat_read_frames_total", "`read` frames accepted from clients")
READ_FLUSH_STATEMENTS = Counter(
    "chat_read_flush_statements_total", "UPSERT statements that stored coalesced read positions"
)
READ_POSITIONS_WRITTEN = Counter(
    "chat_read_positions_written_total", "Read positions (rows) that moved forward in the database"
)
