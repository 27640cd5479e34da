"""Whose claim it is: our names, the other brands (seed list, editors, entity rule)."""

from __future__ import annotations

import dataclasses

import pytest

from bot import brands
from bot.cli import main
from bot.config import Settings


def db_path(store):
    return store.db.execute("pragma database_list").fetchone()[2]


@pytest.fixture
def known(store):
    return brands.load(store)


@pytest.mark.parametrize(
    ("text", "other"),
    [
        ("danone is recalling yogurt with metal pieces", "Danone"),
        ("Danone'nin yoğurdunda metal parça varmış", "Danone"),
        ("danonenin yogurtlari toplatiliyormus", "Danone"),
        ("is nestlé milk full of hormones?", "Nestlé"),
        ("Pınar sütünde çamaşır suyu varmış", "Pınar"),
        ("pinar sutunde camasir suyu varmis", "Pınar"),
        ("BİM'de satılan sütler bozukmuş", "BİM"),
        ("türk hava yolları grevdeymiş", "Türk Hava Yolları"),
        ("Anka Holding 500 işçi çıkarıyormuş", "Anka"),  # on no list: the entity rule
        ("the Acme Company recalled its milk", "Acme"),
        ("n11 yabancılara satılmış", "n11"),  # a name with digits, from the seed list
    ],
)
def test_another_brand_is_recognised(known, text, other):
    assert known.other_named(text) == other


@pytest.mark.parametrize(
    "text",
    [
        "kuzey sut iflas mi ediyor",
        "Kuzey Süt danone'dan daha mı pahalı?",  # ours named too: about us
        "kuzeysut is laying off workers",
        "Kuzey Gıda A.Ş. batıyor mu",
        "Zarar gördük, süt bozuk çıktı",  # "zarar" is not Zara with an ending
        "bimde satilan sutler",  # a short name only whole or before an apostrophe
        "Bu şirket batıyor mu",
        "Kargo şirketi siparişimi kaybetti",
        "Bursa Holding yandı mı",  # a place, not a company name
        "şok oldum, sütte çamaşır suyu mu var",  # Şok Market is listed whole only
        "you are NOT laying off 500 workers, right?",
    ],
)
def test_no_other_brand(known, text):
    assert known.other_named(text) is None


def test_an_nlu_brand_entity_counts_unless_it_is_ours(known):
    assert known.other_named("their yogurt is recalled", ["Yeni Marka"]) == "Yeni Marka"
    assert known.other_named("their yogurt is recalled", ["Kuzey Süt"]) is None


def test_our_names_come_from_the_settings(store):
    cfg = Settings.from_env({"BRAND_NAME": "Anadolu Hava", "BRAND_ALIASES": "AnadoluHava, AH"})
    assert brands.our_names(cfg) == ("Anadolu Hava", "AnadoluHava", "AH")
    theirs = brands.load(store, cfg)
    assert theirs.name == "Anadolu Hava"
    assert theirs.other_named("anadolu hava ucaklari bakimsiz") is None
    # Kuzey Süt is not ours here, but it is on no list either: only an entity rule finds it.
    assert theirs.other_named("Kuzey Süt şirketi iflas etmiş") == "Kuzey Süt"


def test_defaults_are_the_demo_brand():
    cfg = Settings.from_env({})
    assert cfg.brand_name == "Kuzey Süt"
    assert "Kuzey Gıda" in cfg.brand_aliases
    assert dataclasses.replace(cfg, brand_aliases=()).brand_name == "Kuzey Süt"


def test_our_own_name_is_never_another_brand_even_if_seeded(store, tmp_path, monkeypatch):
    cfg = Settings.from_env({"BRAND_NAME": "Danone", "BRAND_ALIASES": ""})
    assert brands.load(store, cfg).other_named("danone is recalling yogurt") is None


def test_editors_add_and_remove_brands(store, capsys):
    db = db_path(store)
    assert brands.load(store).other_named("sutlac marka sutleri bozuk") is None
    assert main(["--db", db, "brands", "add", "Sütlaç", "--sector", "dairy"]) == 0
    assert brands.load(store).other_named("sutlac sutleri bozuk") == "Sütlaç"
    assert main(["--db", db, "brands", "remove", "Danone"]) == 0  # a seed brand
    assert brands.load(store).other_named("danone is recalling yogurt") is None
    capsys.readouterr()
    assert main(["--db", db, "brands", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ours: Kuzey Süt, Kuzey, Kuzey Gıda")
    assert any(line.split()[:3] == ["Sütlaç", "dairy", "added"] for line in out.splitlines())
    assert any(
        line.split()[:2] == ["Danone", "dairy"] and "removed" in line for line in out.splitlines()
    )
    assert any(line.split()[:3] == ["Nestlé", "food", "seed"] for line in out.splitlines())


def test_brands_cli_refuses_our_names_and_unknown_removals(store, capsys):
    db = db_path(store)
    assert main(["--db", db, "brands", "add", "kuzey sut"]) == 2
    assert "one of our own names" in capsys.readouterr().err
    assert main(["--db", db, "brands", "remove", "Nonesuch"]) == 2
    assert "not in the list" in capsys.readouterr().err
    assert store.brand_changes() == []


def test_seed_list_has_several_sectors():
    seed = brands.seed_brands()
    assert len(seed) >= 60
    assert {"dairy", "retail", "airlines", "banking", "telecom"} <= {sector for _, sector in seed}
