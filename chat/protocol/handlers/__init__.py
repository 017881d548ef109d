"""Frame and event handlers, one module per feature.

Each module maps the client frame types it handles (`FRAMES`) and the channel-layer event types it
handles (`EVENTS`) to `async def handler(session, frame_or_event)`. A handler decodes the frame,
calls one selector or service, and encodes the answer; the rules live in `chat.domain`.
"""

from chat.protocol.handlers import (
    changes,
    connection,
    delivery,
    dms,
    history,
    messages,
    presence,
    reads,
    rooms,
    search,
    subscriptions,
    users,
)

_MODULES = (
    connection,
    subscriptions,
    history,
    messages,
    changes,
    delivery,
    presence,
    search,
    users,
    rooms,
    dms,
    reads,
)

# Client frame type -> handler.
CLIENT_FRAMES = {kind: handler for module in _MODULES for kind, handler in module.FRAMES.items()}
# Channel-layer event type -> handler (looked up per event: the hot path).
LAYER_EVENTS = {kind: handler for module in _MODULES for kind, handler in module.EVENTS.items()}
