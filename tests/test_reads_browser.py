"""chat/static/chat/reads.js in headless Chromium against two real nodes: a read in one browser
clears the count in a second browser of the same user on the other node within a second.

The page runs its own tracker (app.js; the badges it draws: tests/test_dms_browser.py); each page
here also starts a second ReadTracker on the page's own ChatClient, to read its counts and the
`read` frames directly.
"""

import pytest

from chat.testing.clients import WsClient
from tests import test_browser
from tests.test_browser import page_for, playwright_api, run_async, screenshot, wait_connected
from tests.waiting import wait_until_sync

pytestmark = [pytest.mark.cluster, pytest.mark.browser]
# The fixtures of test_browser.py: a two-node cluster and headless Chromium (one of each per module).
cluster = test_browser.cluster
browser = test_browser.browser

START_TRACKER = """([slug, watch]) => {
  const app = document.getElementById("app");
  window.readLog = {sent: [], zeroAt: null};
  const send = window.chatClient.send.bind(window.chatClient);
  window.chatClient.send = (frame) => {
    if (frame.type === "read") window.readLog.sent.push([Date.now(), frame.seq]);
    return send(frame);
  };
  window.reads = new ChatReads.ReadTracker(window.chatClient, {
    me: app.dataset.username,
    onChange: (room, counts) => {
      if (room === slug && counts.unread === 0 && window.readLog.zeroAt === null && window.readLog.armed)
        window.readLog.zeroAt = Date.now();
    },
  });
  if (watch) window.reads.watch(slug, document.getElementById("scroller"), document.getElementById("messages"));
  window.chatClient.send({type: "rooms.list"});
}"""


def with_tracker(page, slug: str, *, watch: bool) -> None:
    page.add_script_tag(url="/static/chat/reads.js")
    page.evaluate(START_TRACKER, [slug, watch])


def counts(page, slug: str) -> dict:
    return page.evaluate("(slug) => window.reads.counts(slug)", slug)


def test_a_read_in_one_browser_clears_the_count_in_another_on_the_other_node_within_a_second(
    browser, cluster
):
    [slug] = cluster.make_rooms(["Read in the browser"])
    (alice, alice_key), (bob, bob_key) = cluster.make_users(["readalice", "readbob"])

    async def setup() -> None:
        writer = await WsClient.connect(cluster.nodes[0].port, alice_key)
        reader = await WsClient.connect(cluster.nodes[1].port, bob_key)
        first = await writer.send_message(slug, "first", "b1")
        await reader.send({"type": "read", "room": slug, "seq": first["seq"]})  # bob follows the room
        await reader.recv_type("read.updated")
        for i in range(3):
            await writer.send_message(slug, f"unread {i}", f"b2-{i}")
        await writer.send_message(slug, f"and @{bob}", "b3")
        await writer.close(), await reader.close()

    run_async(setup())
    laptop = page_for(browser, cluster, 1, bob_key)  # the lobby, on node 2
    laptop.goto("/")
    wait_connected(laptop)
    with_tracker(laptop, slug, watch=False)
    wait_until_sync(
        lambda: counts(laptop, slug) == {"unread": 4, "mentions": 1, "readSeq": 1},
        lambda: str(counts(laptop, slug)),
    )
    laptop.evaluate("window.readLog.armed = true")

    phone = page_for(browser, cluster, 0, bob_key)  # the room itself, on node 1
    phone.goto(f"/rooms/{slug}/")
    wait_connected(phone)
    playwright_api.expect(phone.locator("#messages li.message").nth(4)).to_be_visible()
    phone.bring_to_front()
    with_tracker(phone, slug, watch=True)
    sent = wait_until_sync(lambda: phone.evaluate("window.readLog.sent"), "the phone never sent `read`")
    assert sent[-1][1] >= 5
    zero_at = wait_until_sync(
        lambda: laptop.evaluate("window.readLog.zeroAt"), lambda: str(counts(laptop, slug))
    )
    assert zero_at - sent[0][0] < 1000, f"the laptop's count cleared {zero_at - sent[0][0]} ms after the read"
    assert counts(laptop, slug) == {"unread": 0, "mentions": 0, "readSeq": sent[-1][1]}
    # A fresh browser (no localStorage) of the same user gets the same counts from the server.
    fresh = page_for(browser, cluster, 1, bob_key)
    fresh.goto("/")
    wait_connected(fresh)
    with_tracker(fresh, slug, watch=False)
    wait_until_sync(lambda: counts(fresh, slug)["readSeq"] == sent[-1][1])
    assert counts(fresh, slug)["unread"] == 0
    for page in (laptop, phone, fresh):
        assert page.errors == []
        page.context.close()


def test_reads_js_counts_live_messages_and_mentions_between_server_updates(browser, cluster):
    [slug] = cluster.make_rooms(["Live counts"])
    (alice, alice_key), (bob, bob_key) = cluster.make_users(["livealice", "livebob"])
    page = page_for(browser, cluster, 1, bob_key)
    page.goto("/")
    wait_connected(page)
    with_tracker(page, slug, watch=False)
    page.evaluate("(slug) => window.chatClient.subscribe(slug, 0)", slug)

    async def talk() -> None:
        writer = await WsClient.connect(cluster.nodes[0].port, alice_key)
        first = await writer.send_message(slug, "first", "l1")
        await writer.close()
        reader = await WsClient.connect(cluster.nodes[0].port, bob_key)
        await reader.send({"type": "read", "room": slug, "seq": first["seq"]})
        await reader.recv_type("read.updated")
        await reader.send_message(slug, "my own", "l2")
        await reader.close()
        writer = await WsClient.connect(cluster.nodes[0].port, alice_key)
        await writer.send_message(slug, f"hey @{bob}", "l3")
        await writer.send_message(slug, "another", "l4")
        await writer.close()

    run_async(talk())
    wait_until_sync(
        lambda: counts(page, slug) == {"unread": 2, "mentions": 1, "readSeq": 1},
        lambda: str(counts(page, slug)),
    )
    assert page.errors == []
    page.context.close()


def test_the_new_messages_line_marks_what_others_wrote_since_the_read_position_never_my_own(browser, cluster):
    [slug] = cluster.make_rooms(["New line"])
    (alice, alice_key), (bob, bob_key), (_, carol_key) = cluster.make_users(
        ["linealice", "linebob", "linecarol"]
    )

    async def talk() -> None:
        writer = await WsClient.connect(cluster.nodes[0].port, alice_key)
        reader = await WsClient.connect(cluster.nodes[1].port, bob_key)
        first = await writer.send_message(slug, "seen before", "n1")
        await reader.send({"type": "read", "room": slug, "seq": first["seq"]})
        await reader.recv_type("read.updated")
        carol = await WsClient.connect(cluster.nodes[0].port, carol_key)  # read as far as bob, for a phone
        await carol.send({"type": "read", "room": slug, "seq": first["seq"]})
        await carol.recv_type("read.updated")
        await carol.close()
        # Bob's own message after his read position is not new to him; Alice's after it are.
        own = await reader.send_message(slug, "bob wrote this", "n2")
        await writer.send({"type": "read", "room": slug, "seq": own["seq"]})  # Alice read up to it
        await writer.recv_type("read.updated")
        await writer.send_message(slug, "new to bob", "n3")
        await writer.send_message(slug, "also new", "n4")
        await writer.close(), await reader.close()

    run_async(talk())
    page = page_for(browser, cluster, 1, bob_key)
    page.goto(f"/rooms/{slug}/")
    wait_connected(page)
    marker = page.locator("#messages #new-marker")
    playwright_api.expect(marker).to_have_count(1)
    playwright_api.expect(marker).to_have_text("New messages")
    after = page.locator("#messages #new-marker + li.message .body")
    playwright_api.expect(after).to_have_text("new to bob")
    screenshot(page, "new-messages-line")
    # The same line on a phone, in Korean (carol read as far as bob: bob's own message is new to her).
    phone = page_for(browser, cluster, 0, carol_key, locale="ko-KR")
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"/rooms/{slug}/")
    wait_connected(phone)
    playwright_api.expect(phone.locator("#messages #new-marker")).to_have_text("새 메시지")
    screenshot(phone, "new-messages-line-phone-ko")
    assert phone.errors == []
    phone.context.close()
    # Alice read up to Bob's message and then wrote two: nothing after her read position is new to her.
    mine = page_for(browser, cluster, 0, alice_key)
    mine.goto(f"/rooms/{slug}/")
    wait_connected(mine)
    playwright_api.expect(mine.locator("#messages li.message").nth(3)).to_be_visible()
    playwright_api.expect(mine.locator(f'#rooms li[data-slug="{slug}"]')).to_have_count(1)  # `rooms` came
    assert mine.locator("#new-marker").count() == 0
    for p in (page, mine):
        assert p.errors == []
        p.context.close()
