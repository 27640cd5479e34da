"""Fact matching: across languages and paraphrases, two tiers, abstention, never the wrong fact."""

from __future__ import annotations

import csv
import sys

import pytest
import yaml

from bot import encoder, matching
from bot.answers import Knowledge
from bot.config import settings
from bot.language import normalize
from bot.matching import Index, Match, fact_index, faq_index
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def facts():
    with (ROOT / "data/facts/demo.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def index(facts):
    return fact_index(facts)


def search(index, text):
    cfg = settings()
    return index.search(text, cfg.match_threshold, cfg.match_margin, cfg.match_suggest_threshold)


@pytest.mark.parametrize(
    ("text", "fact_id"),
    [
        ("kuzey sut iflas mi ediyor", "bankruptcy"),
        ("Kuzey Süt iflas mı ediyor?", "bankruptcy"),
        ("is kuzey going bankrupt", "bankruptcy"),
        ("sutunuze camasir suyu katiyormussunuz", "bleach-in-milk"),
        ("was the kuzey kart app hacked", "kuzey-kart-breach"),
    ],
)
def test_claims_find_their_fact_in_both_languages(index, text, fact_id):
    assert search(index, text).id == fact_id


@pytest.mark.parametrize(
    ("text", "fact_id"),
    [
        # no shared issue word: the encoder carries these
        ("they're sacking hundreds of workers", "layoffs-500"),
        ("fabrikanız yanıp kül olmuş", "bursa-factory-fire"),
        # a Turkish idiom for firing ("to put out of the door")
        ("yüzlerce kişiyi kapı dışarı ediyormuşsunuz", "layoffs-500"),
    ],
)
def test_paraphrases_without_the_facts_words_find_it(index, text, fact_id):
    assert search(index, text).id == fact_id


@pytest.mark.parametrize(
    "text",
    [
        "bugun hava cok guzel",
        "my car caught fire on the highway",
        "cheese pizza recipe",
        "my landlord raised the rent by 40 percent",
        "a worker got injured at your factory",
        "kuzey sut fiyatlara yuzde 50 zam yapmis",  # the published rise is 40 percent
        "",
        "😀",
    ],
)
def test_unrelated_claims_get_no_answer(index, text):
    assert search(index, text).id is None


def test_a_name_the_facts_never_use_blocks_the_answer(index):
    """Another company's fire is not ours, though every other word fits."""
    ours = search(index, "Kuzey'in fabrikasi yanmis")
    theirs = search(index, "Danone'nin fabrikasi yanmis")
    assert ours.id == "bursa-factory-fire"
    assert theirs.id is None and theirs.candidate == "bursa-factory-fire"


def test_between_the_thresholds_a_match_suggests_instead_of_answering(index):
    text = "they're sacking hundreds of workers"
    score = search(index, text).score
    # the same message, with the answer threshold just above its score: suggestions
    found = index.search(text, threshold=score + 0.01, margin=0.0, suggest=score - 0.01)
    assert found.id is None
    assert found.suggestions[0][0] == "layoffs-500"
    assert found.suggestions[0][1] == pytest.approx(score, abs=1e-4)
    assert all(s >= score - 0.01 for _, s in found.suggestions) and len(found.suggestions) <= 3
    # below the suggestion threshold: nothing for a person either
    assert index.search(text, threshold=0.99, margin=0.0, suggest=score + 0.01).suggestions == ()
    # an answer carries no suggestions
    assert search(index, text).suggestions == ()


def test_a_claim_the_bot_is_unsure_of_goes_to_a_person_with_its_fact(index):
    # a question about a detail of the fire the fact does not state: a person answers
    found = search(index, "Bursa'daki yangında kaç kişi yaralandı?")
    assert found.id is None
    assert found.suggestions and found.suggestions[0][0] == "bursa-factory-fire"
    assert found.as_dict()["suggestions"][0]["fact_id"] == "bursa-factory-fire"


def test_as_dict_keeps_the_cli_shape(index):
    assert set(search(index, "kuzey sut iflas mi ediyor").as_dict()) == {"fact_id", "score"}
    assert Match(None, 0.0).as_dict() == {"fact_id": None, "score": 0.0}


def test_confirmed_wordings_count_like_the_claim(facts):
    text = "personelin yarisini evine gonderiyormussunuz"
    assert search(fact_index(facts), text).id is None
    with_wording = fact_index(facts, {"layoffs-500": ["personelin yarisini evine gonderiyorlar"]})
    assert search(with_wording, text).id == "layoffs-500"


def test_old_facts_with_a_single_claim_column_still_index(facts):
    old = [
        {k: v for k, v in fact.items() if k not in ("claim_tr", "claim_en")}
        | {"claim": fact["claim_en"]}
        for fact in facts
    ]
    assert search(fact_index(old), "is kuzey going bankrupt").id == "bankruptcy"


def test_dev_set_quality(index):
    """The demo brand's dev set: high accuracy, at most one wrong fact.

    The one: "antibiyotik kullanirken sut icilir mi" (can you drink milk while
    on antibiotics?) gets the hormones-and-antibiotics fact.
    """
    cases = yaml.safe_load((ROOT / "tests/match_dev.yml").read_text(encoding="utf-8"))["cases"]
    found = [(case["fact"], search(index, case["text"]).id) for case in cases]
    wrong = [(want, got) for want, got in found if got is not None and got != want]
    assert len(wrong) <= 1
    assert sum(want == got for want, got in found) / len(found) >= 0.88


def test_empty_index_matches_nothing():
    assert Index([]).search("anything", 0.1, 0.0).id is None
    assert fact_index([]).search("anything").id is None


def test_faq_index_answers_procedures():
    with (ROOT / "data/facts/faq.csv").open(encoding="utf-8") as handle:
        faqs = faq_index(list(csv.DictReader(handle)))
    cfg = settings()
    assert (
        faqs.search(
            "iade nasil yapilir paramı nasil geri alirim", cfg.match_threshold, cfg.match_margin
        ).id
        == "return-refund"
    )


@pytest.mark.parametrize(
    ("text", "faq"),
    [
        # "how do i" and "where can i" ask for a detail, which a fact's verdict does
        # not give; an FAQ entry is exactly such an answer.
        ("how do i return a product and get my money back", "return-refund"),
        ("where can i find your official statements", "statement-page"),
    ],
)
def test_faq_index_answers_how_and_where_questions(text, faq):
    with (ROOT / "data/facts/faq.csv").open(encoding="utf-8") as handle:
        faqs = faq_index(list(csv.DictReader(handle)))
    cfg = settings()
    assert faqs.search(text, cfg.match_threshold, cfg.match_margin).id == faq


def test_knowledge_sees_publishing_without_restart(demo_store):
    cfg = settings()
    knowledge = Knowledge(demo_store, cfg.match_threshold, cfg.match_margin)
    claim = "kuzey sut iflas mi ediyor"
    assert knowledge.match_fact(claim).id == "bankruptcy"
    demo_store.set_fact_status("bankruptcy", "retired")
    assert knowledge.match_fact(claim).id is None


def test_fact_vectors_are_computed_once_per_content_version(demo_store, monkeypatch):
    """Building the index encodes the facts; a message encodes only itself.

    A new content version encodes only texts never seen (a new fact's claims).
    """
    calls = []
    real = encoder.encode

    def counting(texts, threads=encoder.THREADS):
        calls.append(list(texts))
        return real(texts, threads)

    monkeypatch.setattr(encoder, "encode", counting)
    monkeypatch.setattr(matching, "_KNOWN_VECTORS", {})
    encoder._cached_one.cache_clear()
    cfg = settings()
    knowledge = Knowledge(demo_store, cfg.match_threshold, cfg.match_margin)
    knowledge.match_fact("kuzey sut iflas mi ediyor")
    knowledge.match_fact("is kuzey going bankrupt")
    knowledge.match_fact("fabrikaniz yanip kul olmus")
    built = [texts for texts in calls if len(texts) > 1]
    assert len(built) == 1 and len(built[0]) >= 2 * len(demo_store.published_facts())
    assert [len(texts) for texts in calls].count(1) == 3  # one encoder call per message
    calls.clear()
    demo_store.set_fact_status("bankruptcy", "retired")  # a new content version
    assert knowledge.match_fact("kuzey sut iflas mi ediyor").id is None  # rebuilt
    assert calls == []  # nothing new to encode, and the message was seen
    fact = dict(demo_store.published_facts()[0])
    fact.update(
        id="new-fact",
        claim_tr="Kuzey Süt tereyağı üretimini durdurdu.",
        claim_en="Kuzey Süt stopped making butter.",
    )
    demo_store.upsert_fact(fact, status="published", verified_by="test")
    knowledge.match_fact("kuzey sut tereyagi uretmeyi birakti mi")
    encoded = [text for texts in calls for text in texts]
    # the new fact's claims (the Turkish one folded and as written) and the message,
    # the brand's words left out
    assert sorted(encoded) == sorted(
        [
            "tereyagi uretimini durdurdu",
            "tereyağı üretimini durdurdu",
            "stopped making butter",
            "tereyagi uretmeyi birakti mi",
        ]
    )
    assert all("tereyag" in normalize(text) or "butter" in text for text in encoded)


def test_large_indexes_score_only_candidates():
    """At thousands of facts a search scores a few candidates, and still finds the fact."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_match_speed import synthetic_facts

    facts = synthetic_facts(600)
    index = fact_index(facts)
    target = facts[123]
    text = target["claim_en"].lower()
    message = index._message(text)
    vector = index._query_vector(text)
    candidates = index._candidates(message, vector)
    assert len(candidates) <= 2 * matching.CANDIDATES
    assert 123 in candidates
    best = index.search(text).candidate
    # generated facts can repeat a claim word for word; any of them is right
    assert next(f for f in facts if f["id"] == best)["claim_en"] == target["claim_en"]


@pytest.mark.parametrize(
    "text",
    [
        "antibiyotik kullanirken sut icilir mi",  # may one drink milk on antibiotics?
        "can I drink milk while I'm on antibiotics?",
        "Bursa'daki yangında kaç kişi yaralandı?",  # how many were hurt in the fire?
        "how many people were hurt in the bursa factory fire?",
    ],
)
def test_a_question_about_a_detail_of_the_subject_is_not_answered_with_the_claim(index, text):
    found = search(index, text)
    assert found.id is None
    assert matching.asks_detail(text)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("A meter reader came without showing ID, should I let him in?", True),
        ("ne zaman acilacak", True),
        ("data breach at kuzey kart? should i change my password", False),  # asks the claim too
        ("kuzey iflas etmis olabilir mi", False),  # "could it be": whether it is so
        ("bu link guvenilir mi", False),
        ("bursa fabrikasi yanmis", False),  # a statement, no question
        # a clause that relays a rumour: the message asks about the claim too
        ("heard kuzey is going bust, should i stop buying?", False),
        ("zam geldi diyorlar, eski fiyattan alabilir miyim", False),
        ("eski fiyattan alabilir miyim", True),
        ("should i stop buying kuzey milk?", True),
    ],
)
def test_detail_questions_are_told_from_questions_about_the_claim(text, detail):
    assert matching.asks_detail(text) is detail


def test_a_capitalised_first_word_is_a_name_only_when_it_reads_like_one():
    assert matching._names("Annem bir mesaj iletti: 'Kuzey Süt dağıtıyor'") == ["kuzey", "sut"]
    assert matching._names("Ürünleriniz artık helal değil mi?") == []
    assert matching._names("Since they put in the new meter") == []
    assert matching._names("350 TL iade") == []
    assert matching._names("Enerjisa elektriğe zam yapacakmış") == ["enerjisa"]
    assert matching._names("El bagajına ücret koymadınız değil mi?") == []
    assert matching._names("Ak Çiftlik Süt'ün sertifikası iptal") == ["ak", "ciftlik", "sut"]
    assert matching._names("Getir'den kart bilgileri sızmış") == ["getir"]
    # -deki, -lara: a located or dative word, not a name
    assert matching._names("Mağazanızdaki ürünler bozukmuş") == []
    assert matching._names("Çalışanlara maaş ödenmiyormuş") == []
    assert matching._names("Trendyol'daki satıcılar") == ["trendyol"]


def test_a_first_word_that_is_a_word_does_not_block_the_answer(index):
    # "Ayranın" starts the sentence: a word with its suffix, not another company
    assert search(index, "Ayranın fiyatı neden bu kadar arttı, %40 mı zamladınız?").id == (
        "price-increase-40"
    )


def test_a_message_with_turkish_letters_is_read_as_written_too(index, monkeypatch):
    read = []
    real = encoder.encode_one
    monkeypatch.setattr(encoder, "encode_one", lambda t, *threads: read.append(t) or real(t, *threads))
    assert search(index, "Sütünüze çamaşır suyu katıyormuşsunuz").id == "bleach-in-milk"
    assert read == ["sütünüze çamaşır suyu katıyormuşsunuz"]  # one encoder call
    # the published claims are read in both forms: as written and folded
    claims = index._semantic_texts
    assert any("çamaşır" in t for t in claims) and any("camasir" in t for t in claims)


def test_both_signals_agreeing_modestly_support_an_answer(index, monkeypatch):
    text = "sutunuze camasir suyu katiyomussunuz, cocuguma icirmeye korkuyorum"
    assert search(index, text).id == "bleach-in-milk"
    monkeypatch.setattr(matching, "JOINT_SEMANTIC", 2.0)  # without the joint support
    assert search(index, text).id is None


# A fictional water utility whose claims name no crisis issue of the lexicon
# ("cut off the water", "smart meters"): the rules below must hold for them too.
POYRAZ = [
    {
        "id": "water-cut",
        "topic": "supply",
        "claim_tr": "Poyraz Su bu yaz şehrin suyunu haftalarca kesecek.",
        "claim_en": "Poyraz Su will cut off the city's water for weeks this summer.",
        "answer_tr": "Bu yaz planlı bir su kesintisi yoktur; barajlar dolu.",
        "answer_en": "No water cut is planned this summer; the dams are full.",
    },
    {
        "id": "meter-swap",
        "topic": "meters",
        "claim_tr": "Poyraz Su tüm sayaçları akıllı sayaçla değiştiriyor.",
        "claim_en": "Poyraz Su is replacing every meter with a smart meter.",
        "answer_tr": "Sayaç değişimi yalnızca arızalı sayaçlar için yapılıyor.",
        "answer_en": "Meters are replaced only when they are faulty.",
    },
    {
        "id": "lead-pipes",
        "topic": "quality",
        "claim_tr": "Poyraz Su şebekesinde kurşun borular var.",
        "claim_en": "Poyraz Su's network has lead pipes.",
        "answer_tr": "Şebekemizde kurşun boru kullanılmıyor.",
        "answer_en": "Our network has no lead pipes.",
    },
    {
        "id": "ceo-quit",
        "topic": "management",
        "claim_tr": "Poyraz Su'nun genel müdürü istifa etti.",
        "claim_en": "Poyraz Su's general manager resigned.",
        "answer_tr": "Genel müdürümüz görevinin başında.",
        "answer_en": "Our general manager is still in office.",
    },
    {
        "id": "bill-app",
        "topic": "app",
        "claim_tr": "Poyraz Su faturaları artık sadece uygulamadan ödenebiliyor.",
        "claim_en": "Poyraz Su bills can now only be paid in the app.",
        "answer_tr": "Faturalar bankalardan ve şubelerden de ödenebilir.",
        "answer_en": "Bills can still be paid at banks and branches.",
    },
]


@pytest.mark.parametrize(
    "text",
    [
        "poyraz su bu yaz suya zam mi yapiyor",  # a price rise: the facts never mention one
        "is poyraz raising the water price?",
        "is poyraz su going on strike this summer?",
    ],
)
def test_an_issue_no_fact_mentions_is_not_answered(text, monkeypatch):
    """The message's issue is its claim: a fact that never mentions it cannot judge it."""
    index = fact_index(POYRAZ)
    found = search(index, text)
    assert found.id is None
    monkeypatch.setattr(matching, "UNJUDGED_ISSUES", False)  # without the rule
    assert search(index, text).id == "water-cut"


@pytest.mark.parametrize(
    "text",
    [
        "Bursa fabrikanızın yeni adresi nerede?",
        "kuzey kart puanlarimi nereden harcarim",
        "where is the new address of your bursa factory?",
        "where do i spend my kuzey kart points?",
    ],
)
def test_a_where_question_asks_for_a_detail(index, text):
    assert matching.asks_detail(text)
    assert search(index, text).id is None


@pytest.mark.parametrize(
    ("text", "intoxicated"),
    [
        ("Poyraz şoförü sarhoş araba kullanıyormuş", True),
        ("şoför alkollü yakalanmış", True),
        ("a poyraz driver was filmed drunk at the wheel", True),
        ("the driver had a beer before the trip", True),
        ("a poyraz driver proposed to his girlfriend on camera", False),
        ("şoför yolculara çok kibar davrandı", False),
    ],
)
def test_intoxication_is_an_issue_in_both_languages(text, intoxicated):
    """Drunk driving or flying is a crisis issue: a driver story without it is not that claim."""
    assert ("c_intoxication" in matching.features(text).groups) is intoxicated


MARTI = [
    {
        "id": "izmir-ferries",
        "topic": "routes",
        "claim_tr": "Martı Feribot İzmir seferlerini tamamen kaldırıyor.",
        "claim_en": "Marti Ferries is dropping all its Izmir sailings.",
        "answer_tr": "İzmir seferlerimiz sürüyor. Yalnızca İzmir-Antalya hattı kışın haftada iki sefere iniyor.",
        "answer_en": "Our Izmir sailings continue. Only the Izmir-Antalya line runs twice a week in winter.",
    },
    {
        "id": "fuel-surcharge",
        "topic": "prices",
        "claim_tr": "Martı Feribot biletlere yakıt zammı ekledi.",
        "claim_en": "Marti Ferries added a fuel surcharge to tickets.",
        "answer_tr": "Bilet fiyatlarımız yıl başından beri aynı.",
        "answer_en": "Our fares have not changed since January.",
    },
    {
        "id": "sinking-rumour",
        "topic": "safety",
        "claim_tr": "Martı Feribot'un bir gemisi battı.",
        "claim_en": "A Marti Ferries ship sank.",
        "answer_tr": "Batan bir gemimiz yok; tüm gemilerimiz seferde.",
        "answer_en": "None of our ships has sunk; all are in service.",
    },
]


def test_a_place_only_the_answer_names_does_not_make_the_claim_about_it():
    """The claim names Izmir; a rumour about Antalya is another claim, though the answer mentions Antalya."""
    index = fact_index(MARTI)
    assert search(index, "Martı İzmir seferlerini kaldırıyormuş, doğru mu?").id == "izmir-ferries"
    assert search(index, "Martı Antalya seferlerini kaldırıyormuş, doğru mu?").id is None


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("their yogurt was pulled from shelves", "c_recall"),
        ("bilet iptalinde parayi geri vermiyorlarmis", "c_refund"),
        ("ucus iptal olunca paramizi geri alamiyoruz", "c_refund"),
        ("faturaya ek ücret mi eklediniz", "c_fee"),
        ("is there a hidden fee on my bill now", "c_fee"),
        ("hizmet bedeli koymussunuz", "c_fee"),
        ("why was i charged 9.90 extra", "c_fee"),
        ("the app was down all night", "c_outage"),
        ("sehirde iki gun cereyan olmayacakmis", "c_outage"),
        ("site hala yuklenmiyor", "c_outage"),
        ("are you pulling out of izmir", "c_discontinue"),
        ("trabzon seferleri kaldiriliyormus", "c_discontinue"),
        ("is the night bus being discontinued", "c_discontinue"),
        ("they are pulling the yogurt", "c_recall"),
        ("pazarixte satilan ayakkabilar cakmaymis", "c_counterfeit"),
        ("is the branded stuff counterfeit", "c_counterfeit"),
        ("kredimin faizini artirmissiniz", "c_price"),
        ("SKT'si geçmiş kutular satılıyor", "c_mould"),
    ],
)
def test_everyday_wordings_name_the_issue(text, concept):
    assert concept in matching.features(text).groups


def test_free_is_a_giveaway_not_a_fee():
    assert "c_giveaway" in matching.features("koltuk secimi ucretsiz mi").groups
    assert "c_fee" not in matching.features("koltuk secimi ucretsiz mi").groups


def test_a_fee_claim_in_other_words_finds_the_fee_fact():
    """'ek ücret' and 'sneaking a fee' share the fee issue with 'an extra fee to bills'."""
    with (ROOT / "tests/match_dev2/dalga.csv").open(encoding="utf-8", newline="") as handle:
        index = fact_index(list(csv.DictReader(handle)))
    assert search(index, "faturama ek ucret eklemissiniz neden").id == "paper-bill-fee"


def test_one_piece_of_evidence_that_is_the_claims_own_issue_supports_an_answer():
    """The message's only issue is the document's (bankruptcy): enough, with other words it adds."""
    with (ROOT / "tests/match_dev/kervanyol.csv").open(encoding="utf-8", newline="") as handle:
        index = fact_index(list(csv.DictReader(handle)))
    found = search(index, "kervanyol batiyormus, butun seferler duracakmis diyolar")
    assert (found.id, found.evidence) == ("company-closing", 1)


BOGAZ = [
    {
        "id": "istanbul-courier-strike",
        "topic": "delivery",
        "claim_tr": "Boğaz Market kuryeleri İstanbul'da greve çıktı.",
        "claim_en": "Bogaz Market couriers in Istanbul went on strike.",
        "answer_tr": "İstanbul'da kuryelerimizin bir kısmı bugün iş bıraktı; siparişler en çok iki saat gecikiyor.",
        "answer_en": "Some of our Istanbul couriers stopped work today; orders run up to two hours late.",
    },
    {
        "id": "besiktas-store-closed",
        "topic": "stores",
        "claim_tr": "Boğaz Market Beşiktaş mağazası kapandı.",
        "claim_en": "Bogaz Market closed its Besiktas store.",
        "answer_tr": "Beşiktaş mağazamız tadilat için iki hafta kapalı, sonra yeniden açılıyor.",
        "answer_en": "Our Besiktas store is closed for two weeks of renovation, then reopens.",
    },
    {
        "id": "price-rise",
        "topic": "prices",
        "claim_tr": "Boğaz Market tüm ürünlere yüzde 30 zam yaptı.",
        "claim_en": "Bogaz Market raised all prices by 30 percent.",
        "answer_tr": "Fiyatlarımız bu ay değişmedi.",
        "answer_en": "Our prices have not changed this month.",
    },
    {
        "id": "card-leak",
        "topic": "security",
        "claim_tr": "Boğaz Market müşterilerinin kart bilgileri sızdı.",
        "claim_en": "Bogaz Market customers' card details were leaked.",
        "answer_tr": "Kart bilgileri bizde saklanmıyor; bir sızıntı olmadı.",
        "answer_en": "We do not store card details; there was no leak.",
    },
]


def test_a_district_is_in_its_city_unless_the_fact_names_another_district():
    """Kadıköy is in the Istanbul strike, but not in the Beşiktaş store's closing."""
    index = fact_index(BOGAZ)
    assert matching.features("Kadıköy'de kuryeler grevdeymiş").places == {"kadik"}
    assert search(index, "Kadıköy'de kuryeler greve mi çıkmış?").id == "istanbul-courier-strike"
    assert search(index, "Kadıköy mağazanız kapanmış, doğru mu?").id is None
    assert search(index, "Beşiktaş mağazanız kapanmış, doğru mu?").id == "besiktas-store-closed"
