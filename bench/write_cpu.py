"""CPU per write on the database thread, in-process (SQLite, publishing stubbed): a send, an edit and
a reaction each alone, and a batch of five writes (five sends, or four sends and one edit).

    .venv/bin/python bench/write_cpu.py

What a node's database thread spends per write, without the event loop, the sockets or Redis: the
figure that tells a change's cost from a send's apart from the load on the machine (the many-rooms
runs' CPU per delivery moves with it). On a commit where changes cannot join a batch
(no `message_changes.ChangeRequest`), the edit of the last column runs alone after the batch.
docs/benchmarks.md, "Edits and reactions".
"""

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.update(
    DATABASE_URL=f"sqlite:///{tempfile.mkdtemp(prefix='write-cpu-')}/db.sqlite3",
    SECRET_KEY="bench-only",
    DJANGO_SETTINGS_MODULE="config.settings",
    CHAT_RATE_LIMIT_MESSAGES="100000000",
    CHAT_RATE_LIMIT_WINDOW="1",
    CHAT_CHANGE_RATE_LIMIT="100000000",
    CHAT_CHANGE_RATE_WINDOW="1",
    LOG_LEVEL="WARNING",
)

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from chat.domain import message_changes, services  # noqa: E402
from chat.domain import rooms as room_services  # noqa: E402
from chat.realtime import events  # noqa: E402

WRITES = 300
BATCHED = hasattr(message_changes, "ChangeRequest")


def main() -> None:
    call_command("migrate", verbosity=0)
    events.publish = lambda group, event: None  # the database thread's work only
    users = [get_user_model().objects.create_user(f"u{i}", password="x") for i in range(4)]
    rooms = [room_services.room_create(creator=None, title=f"r{i}", limit_rate=False) for i in range(4)]
    ids = iter(range(10**9))

    def request(i: int) -> services.MessageRequest:
        body = f"hello {i}"
        return services.MessageRequest(
            room_slug=rooms[i % 4].slug,
            author=users[i % 4],
            body=body,
            client_msg_id=f"c{next(ids)}",
            body_html=body,
        )

    messages = [services.messages_create_batch([request(i)])[0][0] for i in range(40)]

    def target(i: int):
        message = messages[i % 40]
        return rooms[message.room_id - rooms[0].pk].slug, message.pk, users[message.author_id - users[0].pk]

    def send(i: int) -> None:
        services.messages_create_batch([request(i)])

    def edit(i: int) -> None:
        slug, pk, author = target(i)
        message_changes.message_edit(
            room_slug=slug, message_id=pk, editor=author, body=f"e{i}", body_html=f"e{i}"
        )

    def reaction(i: int) -> None:  # added to each of the 40 messages, then removed, and again
        slug, pk, author = target(i)
        toggle = message_changes.reaction_add if (i // 40) % 2 == 0 else message_changes.reaction_remove
        toggle(room_slug=slug, message_id=pk, user=author, emoji="👍")

    def five_sends(i: int) -> None:
        services.messages_create_batch([request(i + k) for k in range(5)])

    def four_sends_one_edit(i: int) -> None:
        slug, pk, author = target(i)
        if BATCHED:
            change = message_changes.ChangeRequest(
                message_changes.ChangeKind.EDIT, slug, pk, author, body=f"e{i}", body_html=f"e{i}"
            )
            services.messages_create_batch([request(i + k) for k in range(4)] + [change])
        else:
            services.messages_create_batch([request(i + k) for k in range(4)])
            message_changes.message_edit(
                room_slug=slug, message_id=pk, editor=author, body=f"e{i}", body_html=f"e{i}"
            )

    def cpu_per_write(write, per_call: int = 1) -> float:
        for i in range(20):
            write(i)
        started = time.process_time()
        for i in range(WRITES):
            write(i)
        return (time.process_time() - started) / WRITES / per_call * 1e6

    for _ in range(2):
        print(
            f"{'changes batched' if BATCHED else 'changes alone'}: send {cpu_per_write(send):.0f} us, "
            f"edit {cpu_per_write(edit):.0f} us, reaction {cpu_per_write(reaction):.0f} us, "
            f"batch of 5 sends {cpu_per_write(five_sends, 5):.0f} us per write, "
            f"batch of 4 sends + 1 edit {cpu_per_write(four_sends_one_edit, 5):.0f} us per write",
            flush=True,
        )


if __name__ == "__main__":
    main()
