"""Room slugs from titles: readable ASCII for every title, Korean included.

A slug is what the URL pattern (`<slug:slug>`: ASCII letters, digits, `-`, `_`) and the protocol
accept. Latin titles go through Django's slugify; Hangul syllables are romanized first (Revised
Romanization, letter by letter, without the sound changes between syllables: "한국어 방" ->
"hangugeo-bang"), so a Korean room's link says what it is. A title with nothing left (other
scripts, only symbols) gets "room-" and six random characters, so two such rooms do not become
room, room-2, room-3...
"""

import secrets
import string

from django.utils.text import slugify

# Hangul syllables are composed arithmetically (Unicode 3.12): ((initial * 21) + medial) * 28 + final.
_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3


def _table(entries: str) -> list[str]:
    """A comma-separated table (an empty entry: no sound), indexed as in Unicode."""
    return entries.split(",")


_INITIALS = _table("g,kk,n,d,tt,r,m,b,pp,s,ss,,j,jj,ch,k,t,p,h")
_MEDIALS = _table("a,ae,ya,yae,eo,e,yeo,ye,o,wa,wae,oe,yo,u,wo,we,wi,yu,eu,ui,i")
_FINALS = _table(",k,k,k,n,n,n,t,l,k,m,l,l,l,p,l,m,p,p,t,t,ng,t,t,k,t,p,t")
# A final consonant before a syllable that starts with a vowel is heard as that syllable's initial
# (한국어 is "hangugeo", not "hanguk-eo"): the one sound change kept, as it is the most audible.
_FINAL_AS_INITIAL = _table(",g,kk,ks,n,nj,nh,d,r,lg,lm,lb,ls,lt,lp,lh,m,b,bs,s,ss,ng,j,ch,k,t,p,h")


def romanize_hangul(text: str) -> str:
    """Text with its Hangul syllables spelled in Latin letters (other characters unchanged)."""
    out = []
    for i, char in enumerate(text):
        code = ord(char)
        if not _HANGUL_FIRST <= code <= _HANGUL_LAST:
            out.append(char)
            continue
        index = code - _HANGUL_FIRST
        initial, medial, final = index // 588, (index % 588) // 28, index % 28
        next_code = ord(text[i + 1]) if i + 1 < len(text) else 0
        before_vowel = _HANGUL_FIRST <= next_code <= _HANGUL_LAST and (next_code - _HANGUL_FIRST) // 588 == 11
        out.append(
            _INITIALS[initial] + _MEDIALS[medial] + (_FINAL_AS_INITIAL if before_vowel else _FINALS)[final]
        )
    return "".join(out)


def base_slug(title: str, *, max_length: int = 50) -> str:
    """A readable ASCII slug for `title` (not checked for uniqueness): never empty."""
    slug = slugify(romanize_hangul(title))[:max_length].strip("-")
    if slug:
        return slug
    return "room-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(6))
