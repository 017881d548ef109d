"""Message changes on real processes: two daphne nodes, one Redis, SQLite and PostgreSQL.

Each change made through node 1 reaches a subscriber on node 2, and a client that was away while
messages were edited, deleted, reacted to and replied to ends, after reconnecting with `since`, with
exactly the state in the database, message by message: also when its node was killed mid-way.
"""

import asyncio
import contextlib
import json
import os
import signal

import pytest
import websockets

from chat.testing.clients import WsClient
from chat.testing.cluster import (
    DATABASES,
    Cluster,
    cluster_on,
    connect,
    new_user,
)

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


@pytest.fixture(scope="module", params=DATABASES)
def cluster(request, tmp_path_factory):
    with cluster_on(request.param, tmp_path_factory.mktemp(f"changes-{request.param}")) as cluster:
        yield cluster


class Mirror:
    """A client's view of a room, built only from the frames it received, applied by message id."""

    def __init__(self) -> None:
        self.messages: dict[int, dict] = {}
        self.seqs: list[int] = []

    def apply(self, frame: dict) -> None:
        if frame["type"] == "message":
            self.seqs.append(frame["seq"])
            self.messages[frame["id"]] = frame
        elif frame["type"] == "message.changed":
            self.seqs.append(frame["seq"])
            self.messages[frame["message"]["id"]] = frame["message"]
        elif frame["type"] == "history":
            for message in frame["messages"]:
                self.messages[message["id"]] = message

    def state(self) -> dict[int, tuple]:
        return {
            message_id: (
                message["body"],
                bool(message.get("deleted")),
                "edited_at" in message,
                message.get("reply_to"),
                message.get("reply_count", 0),
                sorted((r["emoji"], r["count"]) for r in message.get("reactions", [])),
            )
            for message_id, message in self.messages.items()
        }


def database_state(cluster: Cluster, room: str) -> dict[int, tuple]:
    code = (
        "import json; from chat.domain import selectors; from chat.models import Message\n"
        f"ms = list(Message.objects.filter(room__slug={room!r}))\n"
        "rs = selectors.message_reactions(message_ids=[m.pk for m in ms])\n"
        "print(json.dumps([[m.pk, m.body, m.is_deleted, m.edited_at is not None and not m.is_deleted, m.reply_to_id,"
        " m.reply_count, sorted([r['emoji'], r['count']] for r in rs.get(m.pk, []))] for m in ms]))"
    )
    return {
        row[0]: (row[1], row[2], row[3], row[4], row[5], [tuple(r) for r in row[6]])
        for row in json.loads(cluster.django(code))
    }


def room_last_seq(cluster: Cluster, room: str) -> int:
    return int(
        cluster.django(f"from chat.models import Room; print(Room.objects.get(slug={room!r}).last_seq)")
    )


async def settle(client: WsClient, mirror: Mirror) -> None:
    """Apply every frame the server sent before it answers a ping (nothing more is in flight)."""
    await client.send({"type": "ping"})
    while (frame := await client.recv())["type"] != "pong":
        mirror.apply(frame)


async def change(client: WsClient, frame: dict) -> dict:
    """Send a change frame and return its `done` answer (an error fails the test)."""
    await client.send(frame)
    while True:
        answer = await client.recv()
        if answer["type"] == "error":
            raise AssertionError(f"{frame} refused: {answer}")
        if answer["type"] == "done":
            return answer


async def collect_until(client: WsClient, mirror: Mirror, last_seq: int, timeout: float = 10) -> None:
    """Apply frames until the mirror has seen last_seq."""
    async with asyncio.timeout(timeout):
        while not mirror.seqs or max(mirror.seqs) < last_seq:
            mirror.apply(await client.recv(timeout))


async def make_changes(author: WsClient, other: WsClient, room: str, tag: str) -> None:
    """New messages, a reply, reactions added and removed, an edit and a deletion, from two users."""
    ids = []
    for i in range(3):
        ack = await author.send_message(room, f"{tag} message {i}", f"{tag}-{i}")
        ids.append(ack["id"])
    await other.send({"type": "message.send", "room": room, "body": f"{tag} reply", "client_msg_id": f"{tag}-r",
                      "reply_to": ids[0]})  # fmt: skip
    await other.recv_type("message.ack")
    await change(other, {"type": "reaction.add", "room": room, "id": ids[1], "emoji": "👍"})
    await change(author, {"type": "reaction.add", "room": room, "id": ids[1], "emoji": "🎉"})
    await change(other, {"type": "reaction.remove", "room": room, "id": ids[1], "emoji": "👍"})
    await change(
        author, {"type": "message.edit", "room": room, "id": ids[0], "body": f"{tag} message 0 (fixed)"}
    )
    await change(author, {"type": "message.delete", "room": room, "id": ids[2]})


async def test_every_change_made_on_node_1_reaches_a_subscriber_on_node_2(cluster):
    _, http_a = new_user(cluster, node=0)
    _, http_b = new_user(cluster, node=1)
    room = http_a.create_room("Changes live")
    a = await connect(cluster, http_a, 0)
    b = await connect(cluster, http_b, 1)
    await a.subscribe(room)
    mirror = Mirror()
    mirror.apply(await b.subscribe(room))
    mirror.apply(await b.recv_type("history"))
    b_on_a = await connect(cluster, http_b, 0)  # b also acts through node 1
    await make_changes(a, b_on_a, room, "live")
    last_seq = room_last_seq(cluster, room)
    assert last_seq == 3 + 2 + 3 + 1 + 1  # 3 messages, a reply and its count, 3 reactions, an edit, a delete
    await collect_until(b, mirror, last_seq)
    await settle(b, mirror)
    assert mirror.seqs == list(range(1, last_seq + 1))  # every change once, in order
    assert mirror.state() == database_state(cluster, room)
    for client in (a, b, b_on_a):
        await client.close()


async def test_a_client_away_during_changes_catches_up_to_exactly_the_database(cluster):
    _, http_a = new_user(cluster, node=0)
    _, http_b = new_user(cluster, node=1)
    room = http_a.create_room("Changes away")
    a = await connect(cluster, http_a, 0)
    b_writer = await connect(cluster, http_b, 0)
    await a.subscribe(room)
    await make_changes(a, b_writer, room, "before")
    b = await connect(cluster, http_b, 1)
    mirror = Mirror()
    subscribed = await b.subscribe(room)
    mirror.apply(await b.recv_type("history"))
    since = subscribed["last_seq"]
    await b.close()  # away
    await make_changes(a, b_writer, room, "away")
    # Changes to messages the client had already seen, made while it was away.
    first_id = min(mirror.messages)
    await change(a, {"type": "message.edit", "room": room, "id": first_id, "body": "edited while away"})
    await change(b_writer, {"type": "reaction.add", "room": room, "id": first_id, "emoji": "❤️"})
    b = await connect(cluster, http_b, 1)
    again = await b.subscribe(room, since=since)
    assert again["recovered"] is True
    await collect_until(b, mirror, again["last_seq"])
    await settle(b, mirror)
    assert mirror.seqs == list(range(since + 1, again["last_seq"] + 1))  # each missed change once
    assert mirror.state() == database_state(cluster, room)
    for client in (a, b, b_writer):
        await client.close()


@pytest.mark.parametrize("database", DATABASES)
async def test_a_killed_node_s_client_catches_up_every_change_on_the_other_node(tmp_path, database):
    with cluster_on(database, tmp_path / "kill") as cluster:
        _, http_a = new_user(cluster, node=0)
        _, http_b = new_user(cluster, node=1)
        room = http_a.create_room("Changes crash")
        a = await connect(cluster, http_a, 0)
        b_writer = await connect(cluster, http_b, 0)
        await a.subscribe(room)
        b = await connect(cluster, http_b, 1)
        mirror = Mirror()
        mirror.apply(await b.subscribe(room))
        mirror.apply(await b.recv_type("history"))
        await make_changes(a, b_writer, room, "first")
        before = room_last_seq(cluster, room)
        writer = asyncio.ensure_future(make_changes(a, b_writer, room, "during"))
        # The crash lands while changes are being made: once the client has seen one of them.
        await collect_until(b, mirror, before + 1)
        os.kill(cluster.nodes[1].process.pid, signal.SIGKILL)
        # Whatever reached the client before the crash counts; nothing after it can.
        with contextlib.suppress(TimeoutError, websockets.ConnectionClosed):
            while True:
                mirror.apply(await b.recv(1))
        await writer
        seen = max(mirror.seqs)
        b = await connect(cluster, http_b, 0)  # reconnects to the survivor
        again = await b.subscribe(room, since=seen)
        assert again["recovered"] is True
        await collect_until(b, mirror, again["last_seq"])
        await settle(b, mirror)
        assert mirror.seqs == list(range(1, again["last_seq"] + 1))  # exactly once, in order
        assert mirror.state() == database_state(cluster, room)
        for client in (a, b, b_writer):
            await client.close()


async def expect_error(client: WsClient, frame: dict, codes: set[str]) -> None:
    await client.send(frame)
    while True:
        answer = await client.recv()
        if answer["type"] in ("error", "done", "thread", "edits"):
            break
    assert answer["type"] == "error" and answer["code"] in codes, (frame, answer)


async def edits_of(client: WsClient, room: str, message_id: int) -> list[tuple[str, str]]:
    """`edits.fetch`: the message's earlier (body, editor) pairs (an error fails the test)."""
    await client.send({"type": "edits.fetch", "room": room, "id": message_id, "ref": "edits"})
    while True:
        answer = await client.recv()
        if answer.get("ref") == "edits":
            assert answer["type"] == "edits", answer
            return [(edit["body"], edit["editor"]) for edit in answer["edits"]]


async def test_outsiders_removed_members_and_malformed_frames_change_nothing_on_either_node(cluster):
    owner_name, http_owner = new_user(cluster, node=0)
    bob_name, http_bob = new_user(cluster, node=1)
    room = http_owner.create_room("Changes private", private=True)
    cluster.django(
        "from chat.domain import rooms\n"
        f"rooms.room_member_add(room_slug={room!r}, actor=None, username={bob_name!r}, as_admin=True); "
        "print('ok')"
    )
    owner = await connect(cluster, http_owner, 0)
    ack = await owner.send_message(room, "private words", "priv-1")
    message_id = ack["id"]
    bob = await connect(cluster, http_bob, 1)
    await change(bob, {"type": "reaction.add", "room": room, "id": message_id, "emoji": "👀"})  # a member may
    # ... but sees no one else's earlier versions (a member, not a moderator), on the other node.
    await expect_error(bob, {"type": "edits.fetch", "room": room, "id": message_id}, {"not_allowed"})
    cluster.django(
        "from chat.domain import rooms\n"
        f"rooms.room_member_remove(room_slug={room!r}, actor=None, username={bob_name!r}, as_admin=True); "
        "print('ok')"
    )
    _, http_eve = new_user(cluster, node=1)
    eve = await connect(cluster, http_eve, 1)
    before = room_last_seq(cluster, room)
    refused = {"forbidden", "unknown_room"}
    for attacker in (bob, eve):  # a removed member, an outsider; both on node 2
        for frame in (
            {"type": "reaction.add", "room": room, "id": message_id, "emoji": "👍"},
            {"type": "reaction.remove", "room": room, "id": message_id, "emoji": "👀"},
            {"type": "message.edit", "room": room, "id": message_id, "body": "mine now"},
            {"type": "message.delete", "room": room, "id": message_id},
            {"type": "thread.fetch", "room": room, "id": message_id},
            {"type": "edits.fetch", "room": room, "id": message_id},
            {
                "type": "message.send",
                "room": room,
                "body": "re",
                "client_msg_id": "x-reply",
                "reply_to": message_id,
            },
        ):
            await expect_error(attacker, frame, refused)
    # Someone else's message in a room the attacker may read: not theirs to edit or delete.
    public = http_owner.create_room("Changes public")
    ack = await owner.send_message(public, "owner's words", "pub-1")
    await expect_error(
        eve, {"type": "message.edit", "room": public, "id": ack["id"], "body": "x"}, {"not_allowed"}
    )
    await expect_error(eve, {"type": "message.delete", "room": public, "id": ack["id"]}, {"not_allowed"})
    # Its earlier versions: the author's and a moderator's (on the other node), no one else's.
    await change(owner, {"type": "message.edit", "room": public, "id": ack["id"], "body": "owner's words!"})
    # (bob, not eve: each refusal is a strike against the connection's flood limit)
    await expect_error(bob, {"type": "edits.fetch", "room": public, "id": ack["id"]}, {"not_allowed"})
    mod_name, http_mod = new_user(cluster, node=1)
    cluster.django(
        "from chat.domain import rooms\n"
        f"rooms.room_member_add(room_slug={public!r}, actor=None, username={mod_name!r}, as_admin=True); "
        f"rooms.room_role_set(room_slug={public!r}, actor=None, username={mod_name!r}, role='moderator', "
        "as_admin=True); print('ok')"
    )
    mod = await connect(cluster, http_mod, 1)
    assert await edits_of(mod, public, ack["id"]) == [("owner's words", owner_name)]
    assert await edits_of(owner, public, ack["id"]) == [("owner's words", owner_name)]
    for frame in (
        {"type": "edits.fetch", "room": public, "id": "1"},
        {"type": "edits.fetch", "room": public},
        {"type": "edits.fetch", "room": ["x"], "id": ack["id"]},
    ):
        await expect_error(mod, frame, {"invalid_field"})
    await mod.close()
    # A message id of another room is unknown in this one.
    await expect_error(
        eve, {"type": "reaction.add", "room": public, "id": message_id, "emoji": "👍"}, {"unknown_message"}
    )
    # Malformed frames.
    for frame in (
        {"type": "message.edit", "room": public, "id": "1", "body": "x"},
        {"type": "message.edit", "room": public, "id": 2**64, "body": "x"},
        {"type": "message.edit", "room": public, "id": ack["id"], "body": ["x"]},
        {"type": "message.delete", "room": public},
        {"type": "reaction.add", "room": public, "id": ack["id"], "emoji": ["👍"]},
        {"type": "reaction.add", "room": public, "id": True, "emoji": "👍"},
        {"type": "thread.fetch", "room": public, "id": -1},
        {"type": "message.send", "room": public, "body": "x", "client_msg_id": "bad-reply", "reply_to": "1"},
    ):
        await expect_error(eve, frame, {"invalid_field"})
    await expect_error(
        eve, {"type": "reaction.add", "room": public, "id": ack["id"], "emoji": "<b>"}, {"invalid_emoji"}
    )
    assert room_last_seq(cluster, room) == before
    state = database_state(cluster, room)
    assert state[message_id][0] == "private words" and state[message_id][5] == [("👀", 1)]
    for client in (owner, bob, eve):
        await client.close()
