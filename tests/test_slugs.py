"""Room slugs from titles (chat/domain/slugs.py): readable ASCII for Korean titles, never empty."""

import re

import pytest

from chat.domain import rooms as room_services
from chat.domain.slugs import base_slug, romanize_hangul

SLUG = re.compile(r"[-a-zA-Z0-9_]+")  # Django's <slug:...> path converter


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("한국어 방", "hangugeo-bang"),  # a final consonant before a vowel moves over, as it is heard
        ("개발팀", "gaebaltim"),
        ("안녕하세요 world", "annyeonghaseyo-world"),
        ("서울 2026", "seoul-2026"),
        ("Général", "general"),
    ],
)
def test_titles_become_readable_ascii_slugs(title, slug):
    assert base_slug(title) == slug


def test_a_title_with_nothing_a_slug_can_keep_gets_a_random_one():
    slugs = {base_slug(title) for title in ["日本語", "日本語", "!!!", "🙂"]}
    assert len(slugs) == 4 and all(re.fullmatch(r"room-[a-z0-9]{6}", s) for s in slugs)


def test_only_hangul_syllables_are_romanized():
    assert romanize_hangul("a 가 ㄱ 日") == "a ga ㄱ 日"  # a lone jamo is left to slugify (dropped)


@pytest.mark.django_db(transaction=True)
def test_rooms_with_the_same_korean_title_get_unique_slugs_that_fit_the_url_pattern():
    rooms = [room_services.room_create(creator=None, title="한국어 방") for _ in range(3)]
    assert [r.slug for r in rooms] == ["hangugeo-bang", "hangugeo-bang-2", "hangugeo-bang-3"]
    assert all(SLUG.fullmatch(r.slug) for r in rooms)
