"""Logging helpers referenced from settings.LOGGING."""

import logging


class NodeNameFilter(logging.Filter):
    """Adds `node` (this process's cluster node name) to every record."""

    def __init__(self, node: str = "node") -> None:
        super().__init__()
        self.node = node

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = self.node
        return True
