"""Which usernames can be chosen at sign-up: no name that passes for another by mixing scripts.

Django's UsernameField has already NFKC-normalised the value (fullwidth "ａｄｍｉｎ" is "admin", "ﬁ" is
"fi") and UnicodeUsernameValidator allows only letters, digits and @ . + - _. What is left to refuse
is a name whose letters come from several scripts, the usual way to imitate another user: "аdmin"
with a Cyrillic "а" looks exactly like "admin". The rule is Unicode's "highly restrictive" level
(UTS #39, section 5.2): every letter and digit of the name comes from one script, or the name mixes
only scripts that one language writes together:

- Latin, Han and Hangul (Korean),
- Latin, Han, Hiragana and Katakana (Japanese),
- Latin, Han and Bopomofo (Chinese);

characters of no particular script (ASCII digits, "_", ".", "@", "+", "-") go with any of them.
The one script must be one of UTS #31's recommended scripts (scripts in use today: no Linear B,
Gothic or Cherokee look-alikes). Script data comes from the `regex` package's Unicode tables.

Not covered: a name in one script that looks like a name in another (Cyrillic "сор" against Latin
"cop"), which needs UTS #39's confusable skeletons, and case differences outside ASCII on SQLite
(Django refuses "Admin" beside "admin" with a case-insensitive lookup, which SQLite applies to
ASCII only).
"""

import regex
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# UTS #31, table 5 (recommended scripts), without Common and Inherited.
RECOMMENDED_SCRIPTS = (
    "Arabic", "Armenian", "Bengali", "Bopomofo", "Cyrillic", "Devanagari", "Ethiopic", "Georgian",
    "Greek", "Gujarati", "Gurmukhi", "Han", "Hangul", "Hebrew", "Hiragana", "Kannada", "Katakana",
    "Khmer", "Lao", "Latin", "Malayalam", "Myanmar", "Oriya", "Sinhala", "Tamil", "Telugu", "Thaana",
    "Thai", "Tibetan",
)  # fmt: skip
# UTS #39 "highly restrictive": the script sets of languages that write several scripts together.
LANGUAGE_SCRIPT_SETS = (
    ("Latin", "Han", "Hangul"),
    ("Latin", "Han", "Hiragana", "Katakana"),
    ("Latin", "Han", "Bopomofo"),
)


def _only(scripts: tuple[str, ...]) -> regex.Pattern:
    classes = "".join(rf"\p{{Script={script}}}" for script in ("Common", "Inherited", *scripts))
    return regex.compile(rf"[{classes}]*")


_ALLOWED = [_only((script,)) for script in RECOMMENDED_SCRIPTS] + [_only(s) for s in LANGUAGE_SCRIPT_SETS]


def is_single_script(username: str) -> bool:
    """True when the name's characters fit one recommended script or one language's script set."""
    return any(pattern.fullmatch(username) for pattern in _ALLOWED)


def validate_username_script(username: str) -> None:
    if not is_single_script(username):
        raise ValidationError(
            _(
                "Use letters of one writing system: only Latin letters, only Hangul, and so on "
                "(Hangul or Japanese kana may be mixed with Latin letters and Chinese characters)."
            ),
            code="mixed_script",
        )
