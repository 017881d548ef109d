"""Message bodies: a safe Markdown subset, rendered to HTML once, on the server.

`render(body, mentions=names)` gives the sanitized HTML to store beside the body; `plain_text(body)`
the text without markup (for notifications and search snippets); `mention_candidates(body)` the
names after an @ outside code and links, to look up before rendering.

Supported, as chat users expect it: **bold** / __bold__, *italic* / _italic_, ~~strike~~, `inline code`,
fenced code blocks (```` ```lang ```` gives ``<pre><code class="language-lang">``, no highlighting),
> block quotes, ordered and unordered lists, a single newline as a line break, links to http, https
and mailto (explicit ``[text](url)``, ``<url>``, and bare ``http://``, ``https://``, ``mailto:`` and
``www.`` text) opened in a new tab with ``rel="noopener noreferrer nofollow"``, @mentions of the names
the caller passes (``<span class="mention" data-user="name">@name</span>``) and emoji shortcodes
(``:pizza:`` -> 🍕, not glued to a letter or digit: ``a:b:c`` stays); neither counts inside code.

Left out on purpose, so the text shows as typed: raw HTML (escaped), images (``![alt](url)`` shows
``!`` and a link), headings (``# x`` stays a paragraph with its ``#``: a chat line should not shout),
horizontal rules, setext headings, tables, indented code blocks (pasted indented text stays text; use
a fence) and reference-style link definitions (a line ``[1]: ...`` would otherwise vanish from the
message). Bare domains without ``www.`` (``setup.py``, ``README.md``: ``.py`` and ``.md`` are country
domains) are not links, nor is a URL that the sanitizer would refuse or whose text hides a bidi
override or zero-width character. Blocks nested past markdown-it's limit (20) are rendered as
paragraphs rather than losing text.

Why these libraries: markdown-it-py (CommonMark, the parser of Jupyter and MyST; linkify-it-py for
bare links, emoji for shortcodes) builds the HTML with its own escaping, and nh3 (Python binding of
the Rust sanitizer ammonia) then keeps only an allow-list of tags, attributes, classes and URL
schemes, so the output is safe even if a parser rule were to let something through. All are
maintained; no HTML is escaped or assembled by hand here (the fast path for a line without markup
uses html.escape, and a test checks it gives the same HTML as the full path).
"""

import html
import re
import unicodedata
from collections.abc import Iterable, Set

import emoji
import nh3
from linkify_it import LinkifyIt
from linkify_it.main import Match
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

__all__ = ["MENTION_RE", "is_plain", "mention_candidates", "plain_text", "render", "render_message"]

# `@name` not preceded by a word character or another @ (so e-mail addresses don't count); the same
# pattern as the mention notifications in chat/domain/services.py.
MENTION_RE = re.compile(r"(?<![\w@])@([\w.+-]{1,150})")

# markdown-it's recursion limit (its maxNesting) for blocks in blocks and for inline markup; a body
# whose blocks reach it is rendered with paragraphs only (_parse).
MAX_NESTING = 20

_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_SCHEMES = {"http", "https", "mailto"}
_LINK_SCHEME_RE = re.compile(r"(?:https?|mailto):", re.IGNORECASE)
# A shortcode not glued to a letter or digit: `a:b:c`, `1:x:2` and `host:ok:1` stay text.
_SHORTCODE_RE = re.compile(r"(?<!\w):[^:\s]{1,80}:(?!\w)")
_LANGUAGE_CLASS_RE = re.compile(r"language-[\w#+.-]{1,40}")

# The fast path: a one-line body with none of these renders as one escaped paragraph (test_formatting
# checks it is the same HTML as the full path gives).
# A colon alone is not markup (times, ratios, "p:n:t"): only a shortcode, a link's scheme or `//` is.
_MARKUP_RE = re.compile(r"[\x00-\x1f\x7f-\xa0\\`*_~\[\]<>&@]|www\.|//", re.IGNORECASE)
_BLOCK_START_RE = re.compile(r"[-+#>=|]|\d{1,9}[.)](?:\s|$)")


def _link_allowed(url: str) -> bool:
    """Links (explicit and automatic) only to http, https and mailto, and only where the text is the link.

    `url` is normalized (percent-encoded, host in punycode). A URL the sanitizer would refuse (no
    host, a port out of range, an invalid IDN) is not a link, rather than an anchor without an href;
    nor is one that hides a bidi override or a zero-width character (markdown-it's normalizeLinkText
    decodes it back), with which the text shown would not be the address.
    """
    if _LINK_SCHEME_RE.match(url) is None:
        return False
    if "href=" not in _HREF_CHECK.clean('<a href="' + html.escape(url) + '"></a>'):
        return False
    # Format characters (Cf): bidi overrides and isolates, zero-width spaces and joiners, soft hyphens.
    return not any(unicodedata.category(c) == "Cf" for c in _MARKDOWN.normalizeLinkText(url))


class _Linkify(LinkifyIt):
    """linkify-it that drops bare links unless they start with ``www.`` (no ``setup.py`` links)."""

    def match(self, text: str) -> list[Match] | None:
        matches = super().match(text)
        if not matches:
            return matches
        kept = [m for m in matches if m.schema or m.text[:4].lower() == "www."]
        return kept or None


def _mentions_and_emoji(state: StateCore) -> None:
    """Core rule: shortcodes to emoji (not in automatic links) and @mentions (not in any link)."""
    names: Set[str] = state.env.get("mentions", frozenset())
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        in_link = in_autolink = False
        for token in block.children:
            if token.type == "link_open":
                in_link, in_autolink = True, token.info == "auto"
            elif token.type == "link_close":
                in_link = in_autolink = False
            elif token.type == "text":
                if not in_autolink and ":" in token.content:
                    token.content = _SHORTCODE_RE.sub(_emojize, token.content)
                if names and not in_link and "@" in token.content:
                    children.extend(_split_mentions(token, names))
                    continue
            children.append(token)
        block.children = children


def _emojize(match: re.Match[str]) -> str:
    return emoji.emojize(match.group(0), language="alias")


def _split_mentions(token: Token, names: Set[str]) -> list[Token]:
    """The text token cut into text and mention spans, for the mentioned names in `names`."""
    text = token.content
    tokens: list[Token] = []
    start = 0
    for match in MENTION_RE.finditer(text):
        name = match.group(1)
        if name not in names:
            name = name.rstrip(".")  # "@bob." at the end of a sentence
            if name not in names:
                continue
        if match.start() > start:
            tokens.append(_text_token(text[start : match.start()], token.level))
        tokens.append(Token("mention_open", "span", 1, attrs={"class": "mention", "data-user": name}))
        tokens.append(_text_token("@" + name, token.level + 1))
        tokens.append(Token("mention_close", "span", -1))
        start = match.start() + 1 + len(name)
    if start == 0:
        return [token]
    if start < len(text):
        tokens.append(_text_token(text[start:], token.level))
    return tokens


def _text_token(content: str, level: int) -> Token:
    token = Token("text", "", 0, content=content)
    token.level = level
    return token


def _make_markdown(*, blocks: bool) -> MarkdownIt:
    """A parser: markdown-it's "zero" preset plus an allow-list of rules; paragraphs only if not `blocks`."""
    md = MarkdownIt(
        "zero",
        {"html": False, "breaks": True, "linkify": True, "maxNesting": MAX_NESTING, "typographer": False},
    )
    if blocks:
        md.enable(["blockquote", "fence", "list"])  # "paragraph" is on in "zero"
    md.enable(["emphasis", "strikethrough", "backticks", "escape", "entity", "link", "autolink", "newline"])
    md.enable("linkify")  # the core rule and the inline rule of that name
    md.linkify = _Linkify(options={"fuzzy_link": True, "fuzzy_email": False, "fuzzy_ip": False})
    md.linkify.add("ftp:", None).add("//", None)
    md.validateLink = _link_allowed
    md.core.ruler.push("mentions_and_emoji", _mentions_and_emoji)
    return md


def _class_filter(tag: str, attribute: str, value: str) -> str | None:
    """nh3 attribute filter: the only classes are `mention` on spans and `language-x` on code."""
    if attribute != "class":
        return value
    if tag == "span":
        return value if value == "mention" else None
    if tag == "code":
        return value if _LANGUAGE_CLASS_RE.fullmatch(value) else None
    return None


# Built once, shared by every thread: markdown-it keeps a parse's state in per-call objects,
# linkify-it-py 2.2's match() none on the instance, and nh3's Cleaner is immutable;
# tests/test_formatting.py renders from several threads at once.
_MARKDOWN = _make_markdown(blocks=True)
_FLAT = _make_markdown(blocks=False)  # for a body whose blocks nest too deep: paragraphs only
_HREF_CHECK = nh3.Cleaner(
    tags={"a"},
    attributes={"*": set(), "a": {"href"}},
    url_schemes=_SCHEMES,
    url_relative="deny",
    link_rel=None,
)
_SANITIZER = nh3.Cleaner(
    tags={"p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a", "span"},
    attributes={
        "*": set(),
        "a": {"href"},
        "ol": {"start"},
        "code": {"class"},
        "span": {"class", "data-user"},
    },
    attribute_filter=_class_filter,
    url_schemes=_SCHEMES,
    url_relative="deny",
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    strip_comments=True,
)


def render(body: str, *, mentions: Iterable[str] = ()) -> str:
    """The body as sanitized HTML; `@name` becomes a mention span where `name` is in `mentions`."""
    body = _well_formed(body)
    if _is_plain(body):
        return "<p>" + html.escape(body, quote=False) + "</p>"
    return _render_markdown(body, mentions if isinstance(mentions, Set) else frozenset(mentions))


def render_message(body: str) -> str:
    """A message body's HTML as frames carry it: every `@name` outside code is shown as a mention
    (whether the user exists is not looked up: rendering needs no database)."""
    names = {
        name for match in MENTION_RE.finditer(body) for name in (match.group(1), match.group(1).rstrip("."))
    }
    return render(body, mentions=names)


def is_plain(body: str) -> bool:
    """Whether render() takes the fast path (microseconds) for this body; otherwise it may take up to
    about 0.1 s for a hostile 4,000-character body, so async callers render it in a worker thread."""
    return _is_plain(_well_formed(body))


def _render_markdown(body: str, names: Set[str]) -> str:
    """The full path: markdown-it, then nh3."""
    env = {"mentions": names}
    md, tokens = _parse(body, env)
    return _SANITIZER.clean(md.renderer.render(tokens, md.options, env)).rstrip("\n")


def plain_text(body: str) -> str:
    """The body's text without markup (emoji shortcodes replaced), for notifications and snippets.

    Plain text, not HTML: escape it wherever it goes into HTML.
    """
    _, tokens = _parse(_well_formed(body), {})
    parts: list[str] = []
    for token in tokens:
        if token.type == "inline" and token.children:
            for child in token.children:
                if child.type in ("text", "code_inline"):
                    parts.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    parts.append("\n")
        elif token.type == "fence":
            parts.append(token.content)
        elif token.type == "paragraph_close":
            parts.append("\n")
    return re.sub(r"\n\s*\n", "\n", "".join(parts)).strip()


def mention_candidates(body: str) -> set[str]:
    """The names after an `@` outside code and links (with and without trailing dots), to look up."""
    names: set[str] = set()
    _, tokens = _parse(_well_formed(body), {})
    for token in tokens:
        if token.type != "inline" or not token.children:
            continue
        in_link = False
        for child in token.children:
            if child.type in ("link_open", "link_close"):
                in_link = child.type == "link_open"
            elif child.type == "text" and not in_link:
                for match in MENTION_RE.finditer(child.content):
                    names.update({match.group(1), match.group(1).rstrip(".")})
    names.discard("")
    return names


def _well_formed(body: str) -> str:
    """The body with lone surrogates (valid in JSON, not in UTF-8) replaced, so nh3 can take it."""
    try:
        body.encode()
    except UnicodeEncodeError:
        return _SURROGATE_RE.sub("\ufffd", body)
    return body


def _is_plain(body: str) -> bool:
    """A non-empty single line with no markup, link, mention or shortcode: the fast path."""
    return (
        bool(body)
        and body == body.strip()
        and _MARKUP_RE.search(body) is None
        and _BLOCK_START_RE.match(body) is None
        and (":" not in body or (_SHORTCODE_RE.search(body) is None and _LINK_SCHEME_RE.search(body) is None))
    )


def _parse(body: str, env: dict) -> tuple[MarkdownIt, list[Token]]:
    """The parser used and the tokens: paragraphs only if blocks nest past the limit.

    markdown-it drops the rest of a body once a block opens at the nesting limit (no block can
    start inside it); the body is parsed again without blocks, so no text is lost.
    """
    tokens = _MARKDOWN.parse(body, env)
    if any(token.nesting == 1 and token.level >= MAX_NESTING - 1 for token in tokens):
        return _FLAT, _FLAT.parse(body, env)
    return _MARKDOWN, tokens
