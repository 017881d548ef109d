"""The Markdown subset of message bodies (chat/domain/formatting.py): features, XSS payloads, bounds."""

import random
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import pytest

from chat.domain.formatting import (
    _is_plain,
    _render_markdown,
    mention_candidates,
    plain_text,
    render,
)

ALLOWED_TAGS = {"p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a", "span"}
REL = "noopener noreferrer nofollow"
LINK = f'target="_blank" rel="{REL}"'


@pytest.fixture(autouse=True)
def _real_redis():
    """Overrides conftest's: these are pure functions, no Redis server is needed."""


class _Elements(HTMLParser):
    """Every start tag of an HTML fragment with its attributes, and the text."""

    def __init__(self, fragment: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(fragment)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_inert(output: str) -> None:
    """Only allowed tags; no event handler, style or src; links only to http(s)/mailto, new tab, rel."""
    assert "<script" not in output.lower()
    for tag, attrs in _Elements(output).elements:
        assert tag in ALLOWED_TAGS, (tag, output)
        for name, value in attrs.items():
            assert not name.startswith("on"), (name, output)
            assert name in {"href", "target", "rel", "class", "data-user", "start"}, (name, output)
            lowered = "".join((value or "").split()).lower()
            for scheme in ("javascript:", "data:", "vbscript:"):
                assert not lowered.startswith(scheme), (name, value, output)
        if tag == "a":
            href = attrs.get("href")
            assert href is not None, output  # a refused URL is text, not an anchor without an href
            assert href.lower().startswith(("http://", "https://", "mailto:")), output
            assert attrs.get("rel") == REL, output
            assert attrs.get("target") == "_blank", output


# --- features ------------------------------------------------------------------------


def test_plain_text_is_one_escaped_paragraph():
    assert render("Sounds good, see you at 5?") == "<p>Sounds good, see you at 5?</p>"
    assert render('it\'s "fine"') == '<p>it\'s "fine"</p>'


def test_bold_italic_strike_and_inline_code():
    assert render("**b** __b__ *i* _i_ ~~s~~ `x < y`") == (
        "<p><strong>b</strong> <strong>b</strong> <em>i</em> <em>i</em> <s>s</s> <code>x &lt; y</code></p>"
    )


def test_fenced_code_block_keeps_its_language_and_shows_its_content_as_typed():
    body = "```python\nif a < b and '**x**':\n    print(':pizza: @alice')\n```"
    assert render(body, mentions={"alice"}) == (
        "<pre><code class=\"language-python\">if a &lt; b and '**x**':\n"
        "    print(':pizza: @alice')\n</code></pre>"
    )
    assert render("```\nplain\n```") == "<pre><code>plain\n</code></pre>"


def test_a_fence_language_that_is_not_a_name_is_dropped():
    assert render('```x" onmouseover="alert(1)\ncode\n```') == "<pre><code>code\n</code></pre>"


def test_block_quote():
    assert render("> quoted\n> still\n\nreply") == (
        "<blockquote>\n<p>quoted<br>\nstill</p>\n</blockquote>\n<p>reply</p>"
    )


def test_unordered_and_ordered_lists():
    assert render("- a\n- b") == "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"
    assert render("* a\n+ b") == "<ul>\n<li>a</li>\n</ul>\n<ul>\n<li>b</li>\n</ul>"
    assert render("1. a\n2. b") == "<ol>\n<li>a</li>\n<li>b</li>\n</ol>"
    assert render("3. c") == '<ol start="3">\n<li>c</li>\n</ol>'


def test_a_single_newline_is_a_line_break():
    assert render("one\ntwo") == "<p>one<br>\ntwo</p>"
    assert render("one\n\ntwo") == "<p>one</p>\n<p>two</p>"


def test_headings_rules_and_indented_code_stay_text():
    assert render("# big") == "<p># big</p>"
    assert render("title\n===") == "<p>title<br>\n===</p>"
    assert render("---") == "<p>---</p>"
    assert render("    indented") == "<p>indented</p>"


def test_urls_become_links_that_open_in_a_new_tab():
    assert render("see https://example.com/a?b=1&c=2") == (
        f'<p>see <a href="https://example.com/a?b=1&amp;c=2" {LINK}>https://example.com/a?b=1&amp;c=2</a></p>'
    )
    assert (
        render("http://example.com") == f'<p><a href="http://example.com" {LINK}>http://example.com</a></p>'
    )
    assert render("www.example.com") == f'<p><a href="http://www.example.com" {LINK}>www.example.com</a></p>'
    assert render("mailto:bob@example.com") == (
        f'<p><a href="mailto:bob@example.com" {LINK}>mailto:bob@example.com</a></p>'
    )
    assert render("<https://example.com>") == (
        f'<p><a href="https://example.com" {LINK}>https://example.com</a></p>'
    )


def test_bare_domains_file_names_and_email_addresses_are_not_links():
    assert render("edit setup.py and README.md, or mail bob@example.com") == (
        "<p>edit setup.py and README.md, or mail bob@example.com</p>"
    )


def test_explicit_links_go_only_to_http_https_and_mailto():
    assert render("[docs](https://example.com/docs)") == (
        f'<p><a href="https://example.com/docs" {LINK}>docs</a></p>'
    )
    assert render("[mail](mailto:a@example.com)") == f'<p><a href="mailto:a@example.com" {LINK}>mail</a></p>'
    for body in ("[x](/relative)", "[x](//example.com)", "[x](ftp://example.com)", "[x](#top)", "[x](tel:1)"):
        assert render(body) == f"<p>{body}</p>"


def test_images_are_not_shown():
    assert render("![cat](https://example.com/cat.png)") == (
        f'<p>!<a href="https://example.com/cat.png" {LINK}>cat</a></p>'
    )


def test_mentions_of_the_given_names_become_spans():
    assert render("hi @alice, @bob. and @carol", mentions={"alice", "bob"}) == (
        '<p>hi <span class="mention" data-user="alice">@alice</span>, '
        '<span class="mention" data-user="bob">@bob</span>. and @carol</p>'
    )
    assert render("@a.b-c_d+e", mentions=["a.b-c_d+e"]) == (
        '<p><span class="mention" data-user="a.b-c_d+e">@a.b-c_d+e</span></p>'
    )
    assert render("hi @alice") == "<p>hi @alice</p>"


def test_mentions_do_not_count_in_code_links_or_email_addresses():
    body = "`@alice` [@alice](https://example.com) alice@alice.org\n```\n@alice\n```"
    assert "mention" not in render(body, mentions={"alice", "alice.org"})


def test_emoji_shortcodes_become_emoji_outside_code_and_urls():
    assert render(":pizza: :+1: :thumbsup: :no_such_emoji:") == "<p>🍕 👍 👍 :no_such_emoji:</p>"
    assert render(":pizza::pizza: (:tada:) :heart:!") == "<p>🍕🍕 (🎉) ❤️!</p>"
    assert (
        render("ratio 1:x:2, a:b:c, see:ok:yes, 12:30:45")
        == "<p>ratio 1:x:2, a:b:c, see:ok:yes, 12:30:45</p>"
    )
    assert render("`:pizza:`") == "<p><code>:pizza:</code></p>"
    assert render("```\n:pizza:\n```") == "<pre><code>:pizza:\n</code></pre>"
    assert render("https://example.com/:pizza:/") == (
        f'<p><a href="https://example.com/:pizza:/" {LINK}>https://example.com/:pizza:/</a></p>'
    )
    assert render("[:pizza:](https://example.com)") == f'<p><a href="https://example.com" {LINK}>🍕</a></p>'


def test_raw_html_is_shown_as_text():
    assert render("<b>bold</b> &amp; &copy;") == "<p>&lt;b&gt;bold&lt;/b&gt; &amp; ©</p>"


def test_empty_and_blank_bodies_render_nothing():
    assert render("") == ""
    assert render(" \n\t\n ") == ""


def test_lone_surrogates_become_replacement_characters():
    assert render("a\ud800b") == "<p>a\ufffdb</p>"
    assert plain_text("**a\udfff**") == "a\ufffd"


def test_plain_text_drops_the_markup():
    body = "**Deploy** done :tada:\n> see `make run` and [the docs](https://example.com)\n\n- one\n- two"
    assert plain_text(body) == "Deploy done 🎉\nsee make run and the docs\none\ntwo"
    assert plain_text("```js\nlet a = 1;\n```") == "let a = 1;"
    assert plain_text("<script>x</script>") == "<script>x</script>"  # text: escape it when it goes into HTML


def test_mention_candidates_leave_out_code_and_links():
    body = "@alice @bob. `@carol` [@dave](https://example.com) eve@example.com\n```\n@frank\n```"
    assert mention_candidates(body) == {"alice", "bob", "bob."}


# --- the fast path ------------------------------------------------------------------------

FAST_PATH_ALPHABET = [
    *"abcXYZ019 ,.;?!'\"()/-+=#%$^{}|",
    *["\u00a0", "\u2028", "\u200b", "\ufeff", "\u3000", "\x85", "\u202e", "é", "e\u0301", "日本", "🍕"],
    *["\u00ad", "\ufffd", "\U0010ffff", "\x7f", "\t", "\x0b", "\x0c", "\r", "\n", "\x00", "\x1c"],
    *["www", "w.", "1.", "2)", " -", "> ", "=", "|"],
    *[":", "::", ":ok:", ":pizza:", "http:", "https://", "mailto:", "ftp://", "//", "tel:", "10:30"],
]


@pytest.mark.parametrize(
    "body",
    [
        "ok",
        "Sounds good, see you at 5?",
        "50% off (really) - right?!",
        "2 people",
        "1.5 hours",
        "日本語 🍕",
        "at 10:30",
        "a:b",
        "3:14:15",
        "ratio 2:1",
    ],
)
def test_a_plain_line_takes_the_fast_path(body):
    assert _is_plain(body)
    assert render(body) == _render_markdown(body, frozenset())


@pytest.mark.parametrize(
    "body",
    ["*a*", "a_b_", "`a`", "[a](b)", "a\nb", " a", "a ", "- a", "+ a", "1. a", "2) b", "# a", "> a", ":pizza:", "see http://x", "mailto:a@b", "ftp://x", "//x", "a@b",
     "a&amp;b", "a<b", "www.example.com", "a\\b", "~~a~~", "a\u00a0b"],
)  # fmt: skip
def test_markup_takes_the_full_path(body):
    assert not _is_plain(body)


def test_the_fast_path_gives_the_same_html_as_the_full_path():
    rng = random.Random(12)
    taken = 0
    for _ in range(20000):
        body = "".join(rng.choice(FAST_PATH_ALPHABET) for _ in range(rng.randint(1, 12)))
        if _is_plain(body):
            taken += 1
            assert render(body) == _render_markdown(body, frozenset()), repr(body)
    assert taken > 2000


# --- XSS ---------------------------------------------------------------------------

XSS_PAYLOADS = [
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](  javascript:alert(1)  )",
    "[x](<javascript:alert(1)>)",
    "[x](java\\\nscript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](data:image/png;base64,iVBORw0KGgo=)",
    "[x](vbscript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//x.example/x.js></SCRIPT>",
    "<<script>script>alert(1)<</script>/script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
    '<a href="javascript:alert(1)">x</a>',
    "<style>*{background:url(javascript:alert(1))}</style>",
    "<!-- <script>alert(1)</script> -->",
    "```\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n```",
    "```html\n</code></pre><script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
    "`</code><script>alert(1)</script>`",
    "[[x](javascript:1)](http://a.example)",
    "[x](http://a.example)(javascript:alert(1))",
    '[a](http://x.example "title" onmouseover=alert(1))',
    '[a](http://x.example "title\\" onmouseover=alert(1)")',
    '[x](http://a.example/" onmouseover="alert(1))',
    '<http://a.example/"onmouseover=alert(1)>',
    "<javascript:alert(1)>",
    "javascript:alert(1)",
    "javascript://example.com/%0Aalert(1)",
    "http://a.example/<script>alert(1)</script>",
    "www.example.com/<img src=x onerror=alert(1)>",
    "[x]: javascript:alert(1)\n\n[x]",
    '[x]: http://a.example "t" onmouseover=alert(1)\n\n[x]',
    "![img](http://x.example/y.png onerror=alert(1))",
    '![img](http://x.example/y.png "onerror=alert(1)")',
    "![x](javascript:alert(1))",
    "[x](http://a.example/\u202egnp.exe)",
    "[a\u200bb](javascript\u200b:alert(1))",
    "[x](\u200bjavascript:alert(1))",
    "www.\u202eexample.com",
    "\u202e[x](javascript:alert(1))",
    "[x](http://a.example)\x00<script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "@alice<script>alert(1)</script>",
    ":pizza:<img src=x onerror=alert(1)>",
    "> <img src=x onerror=alert(1)>\n- <svg onload=alert(1)>",
]


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_payloads_stay_inert(payload):
    assert_inert(render(payload, mentions={"alice"}))


@pytest.mark.parametrize(
    "payload",
    [
        "[x](javascript:alert(1))",
        "[x](JAVASCRIPT:alert(1))",
        "[x](vbscript:msgbox(1))",
        "javascript:alert(1)",
    ],
)
def test_links_with_other_schemes_stay_text(payload):
    output = render(payload)
    assert "<a" not in output
    assert "".join(_Elements(output).text) == payload


@pytest.mark.parametrize(
    "payload",
    ["www.\u202eexample.com", "https://a.example/\u202egnp.exe", "[x](http://a.example/\u202egnp.exe)",
     "[x](http://\u200ba.example)", "[x](http://a.example/%E2%80%8B)", "https://a\u2066.example"],
)  # fmt: skip
def test_links_that_hide_bidi_overrides_or_zero_width_characters_stay_text(payload):
    output = render(payload)
    assert "<a" not in output
    assert "".join(_Elements(output).text) == payload


@pytest.mark.parametrize(
    "payload", ["[x](http:)", "[x](http://)", "[x](http://a.example:99999)", "[x](http://256.256.256.256)"]
)
def test_urls_the_sanitizer_would_refuse_stay_text(payload):
    assert render(payload) == f"<p>{payload}</p>"


def test_html_in_code_is_shown_escaped():
    assert (
        render("`<img src=x onerror=alert(1)>`") == "<p><code>&lt;img src=x onerror=alert(1)&gt;</code></p>"
    )
    assert render("```\n<script>alert(1)</script>\n```") == (
        "<pre><code>&lt;script&gt;alert(1)&lt;/script&gt;\n</code></pre>"
    )


def test_a_link_title_is_not_kept():
    assert render('[a](http://x.example "title")') == f'<p><a href="http://x.example" {LINK}>a</a></p>'


# --- bounds ------------------------------------------------------------------------

DEEP = [">" * 10000, "> " * 5000, "*" * 10000, "* " * 5000, "[" * 10000, "- " * 5000, "1. " * 3000, "_" * 10000,
        "~" * 10000, "`" * 10000, "<" * 10000, "](" * 5000, "\n".join("  " * i + "- x" for i in range(500))]  # fmt: skip


@pytest.mark.parametrize("body", DEEP, ids=lambda body: repr(body[:6]))
def test_deep_nesting_renders_in_bounded_time(body):
    started = time.process_time()
    output = render(body + " end")
    assert time.process_time() - started < 1.0
    assert_inert(output)
    assert "end" in output


def test_text_nested_past_the_limit_is_not_lost():
    output = render(">" * 50 + " deep\nnext")
    assert "deep" in output and "next" in output
    assert plain_text(">" * 50 + " deep") == ">" * 50 + " deep"


WORST_CASE_UNITS = ["[", "_[", "[*", "![", "*[", "[a](", "[]", "**a", "~~a", "<a", "http://a.example ", "www.a.bc ",
                    "@alice ", ":pizza:", "&#x61;", "a\n", "> a\n"]  # fmt: skip


@pytest.mark.parametrize("unit", WORST_CASE_UNITS)
def test_a_4000_character_worst_case_body_renders_in_bounded_time(unit):
    body = (unit * (4000 // len(unit) + 1))[:4000]
    started = time.process_time()
    output = render(body, mentions={"alice"})
    assert time.process_time() - started < 0.5
    assert_inert(output)


def test_rendering_from_several_threads_at_once_gives_each_body_its_own_html():
    bodies = [
        f"@user{i} see https://example.com/{i} and www.site{i}.example :pizza: **{i}**" for i in range(200)
    ]
    names = {f"user{i}" for i in range(200)}
    expected = [render(body, mentions=names) for body in bodies]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            assert list(pool.map(lambda body: render(body, mentions=names), bodies)) == expected
