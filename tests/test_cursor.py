"""The delivery cursor (chat/protocol/cursor.py): seq order, held messages and gaps, with no I/O."""

from chat.protocol.cursor import Cursor, Verdict


def test_the_next_seq_is_sent_and_older_ones_are_duplicates():
    cursor = Cursor(position=5)
    assert cursor.offer(6, "six") is Verdict.SEND
    cursor.advance(6)
    assert cursor.offer(6, "six again") is Verdict.DUPLICATE
    assert cursor.offer(3, "old") is Verdict.DUPLICATE
    assert cursor.held == {}


def test_a_message_ahead_of_a_gap_is_held_until_the_gap_closes():
    cursor = Cursor(position=1)
    assert cursor.offer(3, "three") is Verdict.HOLD
    assert cursor.offer(4, "four") is Verdict.HOLD
    assert cursor.gap_end == 2
    assert cursor.release() == []  # 2 is still missing
    assert cursor.offer(2, "two") is Verdict.SEND
    cursor.advance(2)
    assert cursor.release() == [(3, "three"), (4, "four")]
    assert cursor.held == {}
    assert cursor.gap_end is None


def test_release_stops_at_the_next_gap():
    cursor = Cursor(position=0)
    for seq in (2, 3, 5):
        cursor.offer(seq, seq)
    cursor.advance(1)
    assert cursor.release() == [(2, 2), (3, 3)]
    assert list(cursor.held) == [5]
    assert cursor.gap_end == 4


def test_a_fill_that_overtook_held_messages_drops_them():
    cursor = Cursor(position=0)
    cursor.offer(2, "two")
    cursor.offer(3, "three")
    cursor.offer(6, "six")
    cursor.advance(4)  # a database fill sent 1..4
    assert cursor.release() == []
    assert list(cursor.held) == [6]


def test_too_many_held_asks_for_an_immediate_fill():
    cursor = Cursor(position=0, hold_limit=3)
    verdicts = [cursor.offer(seq, seq) for seq in (2, 3, 4, 5)]
    assert verdicts == [Verdict.HOLD, Verdict.HOLD, Verdict.HOLD, Verdict.FILL_NOW]
    assert cursor.gap_end == 1


def test_advance_never_moves_back():
    cursor = Cursor(position=10)
    cursor.advance(7)
    assert cursor.position == 10
