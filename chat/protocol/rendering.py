"""Rendering a body to HTML off the event loop: plain bodies (the common case) at once, the rest in a
worker thread, so that a hostile 4,000-character body (about 0.1 s) holds up neither this node's
deliveries nor the database thread's group commit."""

from asgiref.sync import sync_to_async

from chat.domain import formatting

_render_in_thread = sync_to_async(formatting.render_message, thread_sensitive=False)


async def body_html(body: str) -> str:
    """The body's HTML, as frames carry it (chat/domain/formatting.py)."""
    if formatting.is_plain(body):
        return formatting.render_message(body)
    return await _render_in_thread(body)
