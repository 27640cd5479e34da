"""A small bilingual crisis vocabulary: Turkish and English words that mean the same.

Matching maps each word to the concepts whose stems it starts with, so that
"batiyormus" (Turkish, no diacritics) and "bankrupt" meet. The entries are
generic to brand crises, not to one brand. Stems are folded lower case.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

CONCEPTS: Dict[str, Tuple[str, ...]] = {
    "bankrupt": ("iflas", "batiyor", "batiyo", "batmis", "batti", "batacak", "batmak",
                 "batis", "batma", "konkordato", "bankrupt", "insolven", "going under",
                 "goes under", "went under", "out of business", "collapse", "cokuyor",
                 "cokuyo", "coktu", "cokecek", "kepenk", "borc", "debt", "odeyemi",
                 "can't pay", "cant pay", "unable to pay", "sinking", "broke$"),
    "sale": ("satildi", "satiliyor", "satiliyo", "satilmis", "satilacak", "satin al",
             "satiyor", "satiyo", "devral", "devir", "devred", "elden cikar", "sold",
             "selling", "for sale", "acquir", "takeover", "taken over", "buyout",
             "bought by", "buying you", "new owner", "yeni sahip", "yeni patron"),
    "owner": ("sahibi", "sahip", "owner", "owned", "yabanci", "foreign", "israil",
              "sermaye", "capital", "hisse", "shareholder", "yurt disi", "yurtdisi",
              "abroad", "overseas", "milli degil", "not turkish", "turk degil"),
    "boycott": ("boykot", "boycott", "almayin", "almiyoruz", "don't buy", "dont buy",
                "stop buying"),
    "recall": ("recall", "geri cagir", "geri cek", "toplat", "toplaniyor", "topluyor",
               "topluyo", "toplaniyo", "raflardan", "raftan", "piyasadan", "withdraw",
               "pulled", "pulling", "taken off", "off the shelves", "off shelves"),
    "contamination": ("zehir", "poison", "toxic", "toksik", "kimyasal", "chemical",
                      "bleach", "camasir suyu", "kostik", "caustic", "soda$", "lye$",
                      "deterjan", "detergent", "kirec", "contamin", "bulas", "katki",
                      "additive", "katiyor", "katiyo", "koyuyor", "koyuyo", "adding",
                      "mixing", "karistir", "sahte sut", "fake milk"),
    "plastic": ("plastik", "plastic", "cam parca", "glass", "metal", "yabanci madde",
                "foreign object", "foreign body", "parca cikti", "bits", "pieces",
                "fragment", "kirik", "shard", "eriyor", "eriyo", "melts", "melting"),
    "worm": ("kurt$", "kurtlar", "kurtlu", "solucan", "worm", "maggot", "bocek", "larva",
             "insect", "bugs$", "kaynıyor", "kayniyor", "kayniyo", "crawling", "kurtcuk"),
    "mould": ("kuf", "kuflu", "mold", "mould", "bozuk", "bozulmus", "spoiled", "spoilt",
              "rotten", "cürük", "curuk", "eksimis", "cold chain", "soguk zincir",
              "gone off", "expired"),
    "data_breach": ("hack", "sizdi", "sizinti", "sizdir", "sizmis", "calindi",
                    "calinmis", "calin", "leak", "breach", "stolen", "veri", "data$",
                    "kisisel bilgi", "bilgilerim", "bilgileri", "personal data",
                    "personal info", "my details", "my info", "sifre", "password",
                    "internete dus", "ele gecir", "compromis", "exposed"),
    "card": ("kart", "card"),
    "app": ("uygulama", "app$", "apps$", "application"),
    "phishing": ("dolandir", "sahte link", "sahte mesaj", "scam", "fraud", "phishing",
                 "oltalama", "fake link", "link", "tikla", "click", "form doldur",
                 "fill a form", "fill in", "legit", "suspicious", "supheli"),
    "giveaway": ("bedava", "ucretsiz", "hediye", "cekilis", "free", "giveaway", "gift",
                 "prize", "odul", "kazandiniz", "you won", "no cost", "for nothing",
                 "dagitiyor", "dagitiyo", "veriyormus", "veriyomus", "365 gun",
                 "1 yil", "bir yil", "one year", "a year", "whole year"),
    "fire": ("yangin", "yandi", "yaniyor", "yaniyo", "yanmis", "alev", "fire", "burn",
             "blaze", "flames", "duman", "smoke", "itfaiye", "firefight"),
    "factory": ("fabrika", "tesis", "uretim", "factory", "plant", "production", "depo",
                "warehouse", "site$", "facility"),
    "price": ("fiyat", "zam", "pahali", "pahalan", "price", "hike", "expensive", "cost",
              "yuzde", "percent", "%", "overnight", "raise", "increase", "artis"),
    "layoff": ("isten cikar", "kovul", "kovdu", "kovuyor", "isci cikar", "layoff",
               "laid off", "lay off", "laying off", "fired", "sacked", "job cut",
               "job loss", "lose their job", "issiz", "calisan", "isci", "personel",
               "worker", "employee", "staff", "mass"),
    "palm_oil": ("palm", "hurma yagi", "palmiye"),
    "kids": ("cocuk", "kid", "child", "bebek", "baby", "atistirmalik", "snack",
             "minik", "little one"),
    "delivery": ("teslimat", "kargo", "kurye", "dagitim", "eve servis", "gecik",
                 "delivery", "deliver", "courier", "driver", "late$", "delay",
                 "shipping", "arrive", "gelmedi", "gelmiyor", "gelmiyo"),
    "strike": ("grev", "strike", "eylem", "walkout", "walk out", "walked out",
               "is birak", "isi birak", "protest", "sendika", "union"),
    "hormone": ("hormon", "hormone", "antibiyotik", "antibiotic", "ilac", "steroid",
                "igne", "injection", "injected"),
    "halal": ("helal", "halal", "sertifika", "certificate", "certified", "belge",
              "domuz", "pork", "jelatin", "gelatin", "haram"),
    "milk": ("sut", "milk", "dairy"),
    "yogurt": ("yogurt", "yoghurt", "yogurd", "ayran", "suzme"),
    "cheese": ("peynir", "cheese", "kasar", "cheddar", "feta"),
    "outage": ("kesinti", "cekmiyor", "internet yok", "sebeke", "outage", "no signal",
               "network down", "is down"),
    "refund": ("iade", "geri odeme", "para iade", "refund", "return", "money back"),
    "arrest": ("tutuklan", "gozalti", "arrest", "detained", "custody", "jail", "hapis"),
    "health": ("hasta", "hastane", "zehirlen", "kustu", "ishal", "alerji", "sick",
               "ill$", "hospital", "vomit", "diarrh", "allerg", "poisoning", "safe$",
               "guvenli", "saglik", "health"),
    "close": ("kapan", "kapat", "shut", "closing", "closed down", "magaza", "sube",
              "store", "branch", "shop"),
    "ceo": ("ceo", "genel mudur", "patron", "yonetici", "boss", "chairman", "baskan"),
    "statement": ("aciklama", "resmi", "statement", "official", "press release"),
}


def _build() -> List[Tuple[str, str]]:
    pairs = [(stem, concept) for concept, stems in CONCEPTS.items() for stem in stems]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


STEMS: List[Tuple[str, str]] = _build()


def concepts(normalized_text: str) -> List[str]:
    """Concepts mentioned in folded lower-case text (see `concept_hits`)."""
    return list(concept_hits(normalized_text))


def concept_hits(normalized_text: str) -> Dict[str, str]:
    """Concepts mentioned in folded lower-case text, each with the stem that hit.

    A stem matches the start of a word (Turkish adds suffixes); a stem ending in
    "$" matches a whole word only; stems with spaces match phrases.
    """
    found: Dict[str, str] = {}
    padded = f" {normalized_text} "
    for stem, concept in STEMS:
        whole = stem.endswith("$")
        needle = f" {stem[:-1]} " if whole else f" {stem}"
        if concept not in found and needle in padded:
            found[concept] = needle.strip()
    return found
