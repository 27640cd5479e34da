"""A small bilingual crisis vocabulary: Turkish and English words that mean the same.

Matching maps words to the concepts whose stems they start with, so that
"batiyomus" (Turkish, no diacritics, colloquial) and "bankrupt" meet. The entries
are generic to brand crises, not to one brand. Stems are folded lower case and
written as people type them: colloquial Turkish drops the "r" of "-iyor"
("topluyo"), so verb stems stop before it ("topluyo" covers "topluyor",
"topluyomus" and "topluyorlarmis").

Stem syntax:
- a stem matches the start of a word (Turkish adds suffixes): "iflas" matches
  "iflasi"; keep stems long enough not to hit unrelated words ("zam" would hit
  "zaman", so price hikes use "zam$", "zamm" and "zamla");
- a stem ending in "$" matches a whole word only ("kurt$", "fired$");
- a stem with spaces matches consecutive words, the last one as a prefix
  ("geri cagir" matches "geri cagiriliyor"), skipping the Turkish particles
  and articles people put in between ("geri mi cagirdiniz", "yabanci bir
  madde"); apostrophes split words like in messages ("can't pay" is "can t pay").

Each word belongs to at most one concept: at every position the longest matching
stem wins, so "yabanci madde" (foreign object) is not also "yabanci" (foreign
owner) and "fired" (laid off) is not "fire".

Concepts are of two kinds. Most are *issues*, what a rumour says happened or is
wrong (a bankruptcy, a recall, a fire, a leak, a refund). `CONTEXT` concepts
name the things involved (products, places, people, channels); they help to
confirm a match with a claim but never make one on their own ("my factory worker
was injured" is not about a factory fire or a layoff). `ELSEWHERE` marks the context of
other sectors (transport, energy, housing, ...), and `PLACES` lists places,
which tell one location's crisis from another's.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, List, Sequence, Tuple

from bot.language import words

# fmt: off
CONCEPTS: Dict[str, Tuple[str, ...]] = {
    # --- issues: what a rumour claims ---
    "bankrupt": ("iflas", "concordat", "batiyo", "batmis", "batti", "batacak", "batmak", "batma",
                 "batis", "batik$", "konkordato", "bankrupt", "bankrupcy", "insolven",
                 "going under", "goes under", "gone under", "went under", "go under",
                 "out of business", "went bust", "go bust", "going bust", "collapse",
                 "cokuyo", "cokecek", "cokus", "cokmek", "borc",
                 "cant pay", "unable to pay", "sinking", "went broke",
                 "gone broke", "go broke", "going broke", "goes broke", "are broke",
                 "is broke", "you broke", "guys broke",
                 "iflas bayra",
                 "liquidat", "tasfiye", "haciz", "icraya", "receivership", "kapaniyo",
                 "kapandi", "kapanmis", "kapanacak", "kapatiyo", "kapatti", "kapatmis",
                 "kapatacak", "shut down", "shutting down", "closing down",
                 "close down", "closed down", "mali sikinti", "para sikintisi",
                 "nakit sikintisi", "financial trouble", "money problems", "in debt"),
    "sale": ("satildi", "satiliyo", "satilmis", "satilacak", "satiyo", "satacak",
             "satmis", "satin almislar", "satin alindi", "satin alinmis",
             "satin alinacak", "devral", "devir$", "devri$", "devred", "devrediliyo",
             "el degistir", "sold$", "selling", "for sale", "acquir",
             "takeover", "take over", "taken over", "taking over", "buyout",
             "bought by", "bought out", "buying out", "new owner", "yeni sahib",
             "satisa cikar", "buyer", "merger", "changing hands",
             "changed hands"),
    "owner": ("sahibi", "sahip", "owner", "owned", "owns$", "yabanci", "foreign",
              "israil", "israel", "amerikan", "american", "sermaye", "capital", "hisse",
              "shareholder", "ortagi", "ortaklik", "ortaklari", "yurt disi", "yurtdisi",
              "abroad", "overseas", "milli degil", "yerli degil", "yerli$", "domestic",
              "not turkish", "turk degil", "turk mali", "turkish owned", "ait$",
              "aitsiniz", "aitmis", "aittir", "kimin", "kime ait", "parent company",
              "ana sirket", "holding", "multinational", "cokuluslu"),
    "boycott": ("boykot", "boycott", "almayin", "almiyoruz", "almayalim", "almayacag",
                "don t buy", "dont buy", "ambargo", "embargo"),
    "recall": ("recall", "geri cagir", "geri cagri", "geri cek", "toplat", "toplaniyo",
               "toplanmis", "toplandi", "toplanacak", "topluyo", "toplamis",
               "toplamislar", "raflardan", "raftan", "piyasadan", "satistan",
               "withdraw", "pulling", "taken off", "off the shelves",
               "off shelves", "off the shelf", "removed from shelves", "pulled from",
               "pulled off", "being pulled", "pulled some"),
    "danger": ("tehlike", "danger", "hazard", "zararli", "harmful", "risk", "uyari",
               "warning", "alert"),
    "contamination": ("zehir", "zehri", "poison", "toksik", "aflatoks", "kimyasal",
                      "chemical", "bleach", "camasir suyu", "kostik", "caustic",
                      "soda$", "deterjan", "detergent", "kirec", "contamin",
                      "bulas", "katki", "additive", "katiyo", "katmis", "katilmis",
                      "katiliyo", "adding", "mixing", "karistir", "hileli",
                      "sahte sut", "fake milk", "adulterat", "formaldehit", "formalin",
                      "peroksit", "peroxide", "melamin", "nisasta", "starch", "klor$",
                      "chlorine", "sulandir", "watered down", "watering down",
                      "temizlik malzeme", "cleaning agent", "cleaning product"),
    "plastic": ("plasti", "cam parca", "cam kirig", "glass", "metal",
                "yabanci madde", "yabanci cisim", "foreign object", "foreign body",
                "foreign matter", "naylon", "parca cikti", "pieces", "piece of",
                "fragment", "shard", "erimiyo", "melts", "melting",
                "doesn t melt", "dont melt"),
    "worm": ("kurt$", "kurdu$", "kurtlar", "kurtlu", "kurtlan", "kurtcu", "solucan",
             "worm", "maggot", "boce", "larva", "insect", "kayniyo", "crawling", "sinek",
             "cockroach", "roach", "kemirgen", "rodent"),
    "mould": ("kuf$", "kufu$", "kufl", "mold", "mould", "bozuk", "bozulmus", "bozul",
              "spoiled", "spoilt", "rotten", "curuk", "eksimis", "kokmus", "kesilmis",
              "cold chain", "soguk zincir", "gone off", "expired", "skt gec", "skt$",
              "son kullanma", "tarihi gecmis", "gone bad", "went bad", "sour$"),
    "data_breach": ("hack", "sizdi", "sizinti", "sizdir", "sizmis", "calindi",
                    "calinmis", "calinan", "leak", "breach", "ihlal", "stolen", "steal",
                    "ele gecir", "compromis", "exposed", "dark web",
                    "siber", "cyber"),
    "phishing": ("dolandir", "sahte link", "sahte mesaj", "sahte site", "sahte kampanya",
                 "scam", "fraud", "phishing", "oltalama", "fake link", "fake message",
                 "fake site", "fake website", "fake campaign", "fake account", "spam", "link",
                 "tikla", "click", "form doldur", "fill in", "legit",
                 "suspicious", "supheli", "sms$"),
    "giveaway": ("bedava", "ucretsiz", "hediye", "cekilis", "free$", "giveaway",
                 "giving away", "give away", "gives away", "gift", "odul",
                 "kazandin", "you won", "i won", "for nothing", "dagitiyo",
                 "dagitacak", "1 yil", "bir yil", "one year", "a year",
                 "yil boyu"),
    "fire": ("yangin", "yandi", "yaniyo", "yanmis", "yanacak", "alev", "fire$", "fires$",
             "on fire", "caught fire", "firefight", "burn", "ablaze", "flames",
             "smoke", "itfaiye", "kundak", "arson", "patlama", "patladi", "explosion",
             "exploded", "blast", "kul oldu", "kul olmus", "yanip$", "burnt down",
             "burned down"),
    "discontinue": ("pulling out", "pull out", "pulled out", "pulls out", "discontinu",
                    "kaldiriyo", "kaldiracak", "kaldirmis", "kaldirdi", "kaldirildi",
                    "kaldiriliyo", "kaldirilacak", "kaldirilmis", "stop flying",
                    "stops flying", "no longer fly", "axing", "axed$", "scrapping",
                    "scrapped", "leaving the market", "leave the market", "exit the market",
                    "exiting", "sona er", "dropping"),
    "counterfeit": ("counterfeit", "knockoff", "knock off", "replica", "taklit", "cakma",
                    "sahte urun", "sahte mal", "sahte cik", "not original", "orijinal degil"),
    "fee": ("ucret", "fee$", "fees$", "surcharg", "charge$", "charges$", "charged$",
            "extra charg", "bedel", "masraf", "komisyon", "commission", "aidat"),
    "price": ("fiyat", "zam$", "zamm", "zamli", "pahali", "pahalan", "price",
              "pricing", "hike", "expensive", "cost", "yuzde", "percent", "overnight",
              "bir gecede", "bi gecede", "raise", "raising", "increase", "artis",
              "artmis", "artiyo", "artacak", "arttir", "artir", "went up", "gone up",
              "goes up", "skyrocket", "fahis", "ucmus", "uctu", "enflasyon", "inflation"),
    "layoff": ("isten cikar", "isten at", "isine son", "kovul", "kovdu", "kovuyo",
               "kovacak", "kovmus", "isci cikar", "personel cikar", "calisan cikar",
               "cikis veril", "toplu cikis", "kapi disari", "tensikat", "kuculme", "kadro",
               "layoff", "lay off", "laid off", "laying off", "lays off", "fired$",
               "sacked", "sacking", "cutting jobs", "job loss", "losing jobs",
               "lose their job", "lost their job", "issiz", "downsiz", "redundan"),
    "palm_oil": ("palm", "hurma yag"),
    "hormone": ("hormon", "hormone", "antibiy", "antibiot", "ilac", "steroid",
                "igne", "injection", "injected", "rbst"),
    "halal": ("helal", "halal", "domuz", "pork", "jelatin", "gelatin", "haram"),
    "revoke": ("iptal", "revok", "cancel", "gecersiz", "askiya al", "elinden al",
               "elinizden al", "ellerinden al", "suspend"),
    "delay": ("gecik", "late$", "delay", "gelmedi", "gelmiyo", "gelmemis", "ulasmadi",
              "ulasmiyo", "not arrived", "hasn t arrived",
              "didn t arrive", "didnt arrive", "still waiting", "hala bekli"),
    "strike": ("grev", "strike", "eylem", "walkout", "walk out",
               "isi birak", "is durdur", "protest", "sendika", "union$", "picket",
               "lokavt", "lockout"),
    "refund": ("iade", "geri odeme", "para iade", "refund", "return", "money back",
               "parayi geri", "parami geri", "paramizi geri", "geri vermi",
               "tazminat", "compensat"),
    "arrest": ("gozalti", "arrest", "detained", "custody", "jail", "hapis",
               "hapse", "prison", "baskin", "raid$", "raided"),
    "health": ("hasta", "zehirlen", "kustu", "kusma", "ishal", "alerji", "sick",
               "ill$", "hospital", "vomit", "diarrh", "allerg", "poisoning",
               "saglik", "health", "kanser", "cancer", "died$", "death", "dead$",
               "karin agri", "stomach"),
    "injury": ("yaralan", "yarali", "injur", "hurt$", "kaza", "accident"),
    "wages": ("maas", "salary", "salaries", "wage", "odenmiyo", "odenmedi", "unpaid",
              "not paid", "not been paid"),
    "pollution": ("atik$", "atiklar", "atik su", "atiksu", "kirlet",
                  "kirlilik", "waste$", "wastewater", "sewage", "dumping"),
    "cruelty": ("eziyet", "kotu muamele", "hayvan hakki", "mistreat", "cruel",
                "abused", "abuse$"),
    "intoxication": ("sarhos", "alkollu", "alkol al", "ickili", "drunk",
                     "intoxicat", "under the influence", "beer$", "beers$", "bira$",
                     "alcohol"),
    "offence": ("irkci", "racis", "ayrimc", "discrimin", "sexis", "cinsiyetci",
                "hakaret", "insult"),
    "outage": ("kesinti", "cekmiyo", "internet yok", "sebeke", "outage", "no signal",
               "network down", "is down", "calismiyo", "acilmiyo", "not working",
               "crash", "was down", "went down", "been down", "are down", "app down",
               "offline", "blackout", "no service", "no power", "not loading",
               "yuklenmiyo", "erisilemiyo", "erisim yok", "hizmet vermiyo", "cereyan yok",
               "cereyan git", "cereyan kes", "cereyan olmay", "elektrik yok",
               "elektrikler yok"),
    # --- context: what or where (never a match on its own) ---
    "milk": ("sut", "milk", "dairy"),
    "yogurt": ("yogurt", "yoghurt", "yogurd", "suzme"),
    "cheese": ("peynir", "cheese", "kasar", "cheddar", "feta", "lor$"),
    "factory": ("fabrika", "tesis", "factory", "plant$", "plants$", "depo", "warehouse",
                "site$", "sites$", "facility", "facilities", "imalathane"),
    "staff": ("calisan", "isci", "personel", "emekci", "worker", "employee", "staff",
              "eleman", "job$", "jobs$"),
    "card": ("kart", "card"),
    "personal_data": ("veri$", "veriler", "verisi", "veritaban", "data$", "database",
                      "kisisel bilgi", "bilgilerim", "bilgileri", "bilgiler$",
                      "personal data", "personal info", "my details", "card details",
                      "my info", "sifre", "password"),
    "app": ("uygulama", "app$", "apps$", "application"),
    "kids": ("cocu", "kid$", "kids$", "child", "bebe", "baby", "toddler", "minik",
             "little one"),
    "snack": ("atistirmal", "snack", "biskuvi", "biscuit", "cookie", "kurabiye",
              "gofret", "kraker", "cracker"),
    "ingredient": ("icerik", "icindekiler", "ingredient", "etiket", "label"),
    "certificate": ("sertifika", "certif", "cert$", "belge", "licens", "lisans",
                    "ruhsat", "permit$", "akredit", "accredit"),
    "farm": ("ciftli", "ciftci", "farm", "inek", "inegi", "cow$", "cows$", "hayvan", "animal",
             "cattle", "sigir"),
    "delivery": ("teslimat", "teslim", "kargo", "kurye", "dagitim",
                 "delivery", "deliver", "courier", "driver", "shipping", "shipment",
                 "siparis", "order$", "orders$"),
    "store": ("magaza", "sube", "store$", "stores$", "branch", "shop", "market",
              "bakkal"),
    "hours": ("saat", "kacta", "kaca kadar", "acik$", "aciliyo", "acilis", "open$",
              "opens$", "opening", "hours", "mesai"),
    "promo": ("kampanya", "campaign", "promo", "indirim", "discount", "kupon", "coupon"),
    "ceo": ("ceo", "genel mudur", "mudur", "patron", "yonetici", "boss", "chairman",
            "baskan", "founder", "kurucu"),
    "payment": ("odeme", "payment", "pay$", "paid$", "alacakli", "creditor", "tedarikci",
                "supplier", "vendor", "fatura", "invoice"),
    "sensory": ("koku", "smell", "tadi$", "tat$", "taste", "gorunus",
                "appearance", "looks$"),
    "lab": ("laboratuvar", "laboratory", "lab$", "labs$", "analiz", "analysis", "tested",
            "testing", "test$", "testi", "testler", "kalinti", "residue", "numune",
            "sample"),
    "statement": ("aciklama", "resmi", "statement", "official", "press release"),
    # other sectors (see `ELSEWHERE`)
    "transport": ("metro", "otobus", "bus$", "buses$", "tren$", "train$", "trains$",
                  "ucak", "ucag", "flight", "airline", "hava yollari", "havalimani",
                  "airport", "taksi$", "taksiy", "taksid", "taksic", "taxi", "vapur", "ferry",
                  "marmaray", "trafik", "traffic"),
    "energy": ("elektri", "electricity", "cereyan", "dogalgaz", "dogal gaz", "benzin", "mazot",
               "motorin", "akaryakit", "fuel", "petrol", "gasoline", "power cut"),
    "housing": ("kira$", "kiras", "kiray", "kirad", "kiral", "rent$", "rents$", "landlord",
                "ev sahib", "apartman", "apartment", "emlak", "real estate"),
    "vehicle": ("araba", "arabam", "otomobil", "car$", "cars$", "vehicle"),
    "device": ("telefon", "phone", "batarya", "battery", "sarj", "charger", "laptop",
               "bilgisayar", "computer", "wifi", "modem"),
}
# fmt: on

CONTEXT: FrozenSet[str] = frozenset(
    """milk yogurt cheese factory staff card app kids snack ingredient certificate farm
    delivery store hours personal_data promo payment sensory lab ceo statement
    transport energy housing vehicle device""".split()
)
# Context concepts of other sectors: a message naming one that no published text
# mentions is about that sector ("metro grevi", "rent up 40%"), not about the brand.
ELSEWHERE: FrozenSet[str] = frozenset("transport energy housing vehicle device".split())

# Places, as the stems of `PLACES` match words: a message about one place is not
# about a fact that names another ("a factory in China" is not "our Bursa factory").
# fmt: off
PLACES: Tuple[str, ...] = (
    "istanbul", "ankara", "izmir", "bursa", "antalya", "adana", "konya", "gaziantep",
    "antep", "kocaeli", "izmit", "mersin", "kayseri", "eskisehir", "diyarbakir",
    "samsun", "trabzon", "sakarya", "manisa", "denizli", "hatay", "malatya", "erzurum",
    "tekirdag", "balikesir", "aydin$", "mugla", "canakkale", "edirne", "sanliurfa",
    "urfa$", "turkiye", "turkey", "cin$", "cinde", "cinden", "cinli", "china",
    "chinese", "amerika", "abd$", "usa$", "america", "almanya", "germany", "rusya",
    "russia", "iran$", "ukrayna", "ukraine", "fransa", "france", "ingiltere",
    "england", "britain", "avrupa", "europe", "hindistan", "india", "japonya", "japan",
    "italya", "italy", "ispanya", "spain", "hollanda", "netherlands", "suriye", "syria",
    "irak$", "iraq", "yunanistan", "greece", "bulgaristan", "bulgaria", "azerbaycan",
    "azerbaijan", "londra", "london", "paris$", "berlin", "moskova",
    "moscow", "dubai",
)
# Districts of the big cities, with their city: a customer names their own
# district ("Kadıköy'de kurye yok"), a statement the city ("İstanbul'daki
# grev"). Left out: districts that are everyday words or first names too
# ("Konak", "Kartal", "Fatih", "Levent", "Yıldırım"; "Şişli" is also "foggy").
DISTRICTS: Dict[str, str] = {
    **dict.fromkeys(
        ("kadikoy", "besiktas", "uskudar", "bakirkoy", "beyoglu", "esenyurt", "atasehir",
         "maltepe", "pendik", "umraniye", "sariyer", "beylikduzu", "bagcilar",
         "kucukcekmece", "zeytinburnu", "eminonu", "taksim", "mecidiyekoy"),
        "istanbul",
    ),
    **dict.fromkeys(("cankaya", "kecioren", "yenimahalle", "etimesgut", "kizilay"), "ankara"),
    **dict.fromkeys(("bornova", "karsiyaka", "alsancak", "bayrakli", "cigli"), "izmir"),
    **dict.fromkeys(("osmangazi", "mudanya"), "bursa"),
    **dict.fromkeys(("muratpasa", "konyaalti", "manavgat", "alanya"), "antalya"),
}
# fmt: on


def is_place(word: str) -> bool:
    """Whether a folded lower-case word names a place of `PLACES` or `DISTRICTS`."""
    return any(
        word == stem[:-1] if stem.endswith("$") else word.startswith(stem) for stem in PLACES
    ) or any(word.startswith(district) for district in DISTRICTS)


# (words of the stem, whole last word only?, concept); longest stems first.
_Stem = Tuple[Tuple[str, ...], bool, str]


def _build() -> Dict[str, List[_Stem]]:
    by_start: Dict[str, List[Tuple[int, _Stem]]] = {}
    for concept, stems in CONCEPTS.items():
        for stem in stems:
            parts = tuple(words(stem.rstrip("$")))
            entry = (parts, stem.endswith("$"), concept)
            by_start.setdefault(parts[0][:2], []).append((len(stem.rstrip("$")), entry))
    return {key: [e for _, e in sorted(v, key=lambda x: -x[0])] for key, v in by_start.items()}


_BY_START: Dict[str, List[_Stem]] = _build()


_PARTICLES = frozenset({"mi", "mu", "de", "da", "bile", "bir", "bi"})


def _fit(tokens: Sequence[str], start: int, stem: _Stem) -> int:
    """The end of the stem's match at `start` (particles inside skipped), or 0."""
    parts, whole, _ = stem
    position = start
    for number, part in enumerate(parts):
        prefix = number == len(parts) - 1 and not whole
        while True:
            if position >= len(tokens):
                return 0
            token = tokens[position]
            if token.startswith(part) if prefix else token == part:
                break
            if not number or token not in _PARTICLES:
                return 0
            position += 1
        position += 1
    return position


def concept_spans(tokens: Sequence[str]) -> List[Tuple[int, int, str]]:
    """Concept mentions in folded lower-case word tokens, as (start, end, concept).

    Left to right; at each position the longest matching stem wins and its words
    are not matched again.
    """
    spans: List[Tuple[int, int, str]] = []
    position = 0
    while position < len(tokens):
        for stem in _BY_START.get(tokens[position][:2], ()):
            end = _fit(tokens, position, stem)
            if end:
                spans.append((position, end, stem[2]))
                position = end
                break
        else:
            position += 1
    return spans


def concept_hits(normalized_text: str) -> Dict[str, str]:
    """Concepts mentioned in folded lower-case text, each with the words that hit first."""
    tokens = words(normalized_text)
    found: Dict[str, str] = {}
    for start, end, concept in concept_spans(tokens):
        found.setdefault(concept, " ".join(tokens[start:end]))
    return found


def concepts(normalized_text: str) -> List[str]:
    """Concepts mentioned in folded lower-case text (see `concept_spans`)."""
    return list(concept_hits(normalized_text))
