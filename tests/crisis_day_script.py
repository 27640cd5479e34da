"""The scripted crisis day: who writes what, and when, on the simulated clock.

Kuzey Süt (the demo dairy brand) has a quiet morning, then reports of glass
pieces in its ayran (a yoghurt drink) spread. Some customers asked about it the
day before, so they are outside WhatsApp's 24-hour window by the time the
answer exists; one of them opted out. Everything here is written for this
simulation; the bot was never trained or tuned on these lines.

Times are minutes from the simulated day's start (08:00); negative minutes are
the day before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List


@dataclass(frozen=True)
class Line:
    """One customer message of the day."""

    minute: float
    phone: str
    text: str


def phone(n: int) -> str:
    """A fictional Turkish mobile number per simulated customer."""
    return f"+90555{7000000 + n:07d}"


# The morning before (about 21 hours before the day starts): the first rumours, so
# that by the time the answer exists these askers are outside the 24-hour window.
YESTERDAY: List[Line] = [
    Line(-1300, phone(1), "Kuzey Süt ayranında cam parçası çıkmış diyorlar doğru mu?"),
    Line(-1296, phone(2), "is it true there is broken glass in Kuzey Süt ayran?"),
    Line(-1290, phone(3), "ayranınızdan cam kırığı çıkmış, doğru mu bu?"),
    Line(-1284, phone(4), "I heard people found glass pieces in your ayran bottles, true?"),
    Line(-1280, phone(5), "kuzey ayranında cam varmış doğru mu"),
]
# The fifth customer of the day before opts out before any answer exists.
OPTED_OUT = phone(5)
OPT_OUT_WORD = "DUR"

# A quiet morning: the usual questions and complaints, a few an hour.
MORNING: List[Line] = [
    Line(5, phone(20), "merhaba"),
    Line(18, phone(21), "siparişim 3 gündür gelmedi, sipariş numaram 55123"),
    Line(31, phone(22), "what are your customer service hours?"),
    Line(47, phone(23), "süt fiyatlarına zam mı geldi?"),
    Line(62, phone(24), "my delivery was late again this week, not happy"),
    Line(80, phone(25), "teşekkürler"),
    Line(96, phone(26), "hello, is Kuzey Süt going bankrupt?"),
    Line(113, phone(27), "iade nasıl yapabilirim?"),
    Line(130, phone(28), "yoğurdun son kullanma tarihi geçmiş geldi"),
    Line(151, phone(29), "do you deliver to Izmir?"),
    Line(170, phone(30), "Kuzey Süt fabrikası yanıyor mu?"),
    Line(192, phone(31), "good morning"),
    Line(214, phone(32), "peynir paketim patlak geldi, çok kötü"),
    Line(233, phone(33), "is your milk halal?"),
]

# Noon: the spike. Many people ask about the glass within a few minutes.
SPIKE_START = 240.0
SPIKE: List[Line] = [
    Line(SPIKE_START + 0.0, phone(40), "ayranınızda cam parçası varmış, doğru mu?"),
    Line(SPIKE_START + 0.4, phone(41), "is there glass in Kuzey Süt ayran??"),
    Line(SPIKE_START + 0.8, phone(42), "ayrandan cam çıkmış diye bir video var, gerçek mi"),
    Line(SPIKE_START + 1.2, phone(43), "people are saying your ayran has broken glass in it"),
    Line(SPIKE_START + 1.6, phone(44), "ayranda cam kırığı haberi doğru mu"),
    Line(SPIKE_START + 2.0, phone(45), "glass found in kuzey ayran, is that real?"),
    Line(SPIKE_START + 2.4, phone(46), "ayranlarınızda cam parçası olduğu söyleniyor"),
    Line(SPIKE_START + 2.8, phone(47), "is it safe to drink your ayran? i read about glass"),
    Line(SPIKE_START + 3.2, phone(48), "kuzey süt ayran cam parçası doğru mu"),
    Line(SPIKE_START + 3.6, phone(49), "did someone really find glass in Kuzey Süt ayran"),
    Line(SPIKE_START + 4.0, phone(50), "ayranın içinden cam çıkmış diyorlar"),
    Line(SPIKE_START + 4.4, phone(51), "heard about glass shards in your ayran, true?"),
    Line(SPIKE_START + 4.8, phone(52), "ayranınızdan cam çıktığı doğru mu acaba"),
    Line(SPIKE_START + 5.2, phone(53), "is the glass in ayran story true"),
    Line(SPIKE_START + 5.6, phone(54), "Kuzey ayranında cam kırıkları varmış"),
    Line(SPIKE_START + 6.0, phone(55), "your ayran has glass pieces, people say"),
]

# While the statement is a draft (written, not approved), more people ask: they
# must not see it.
BEFORE_APPROVAL: List[Line] = [
    Line(262, phone(60), "ayranınızda cam var mı gerçekten?"),
    Line(263, phone(61), "any news about the glass in ayran?"),
]
# After the second person approved it: on-topic messages get the statement first.
AFTER_APPROVAL: List[Line] = [
    Line(275, phone(62), "ayranda cam parçası meselesi ne oldu?"),
    Line(276, phone(63), "what is going on with the ayran glass reports?"),
]

# The verified fact an editor publishes once the lab result is in.
FACT_CSV = (
    "id,topic,claim_tr,claim_en,verdict,answer_tr,answer_en,source_url\n"
    "ayran-glass,ayran glass,"
    "Kuzey Süt ayranlarında cam parçası var.,"
    "There are glass pieces in Kuzey Süt ayran.,"
    "misleading,"
    '"Tek bir partide (L-0412, 250 ml) şişe ağzında cam kırığı bulundu ve bu parti '
    "toplatılıyor. Diğer tüm ayranlarımız laboratuvar kontrolünden geçti ve güvenle "
    'tüketilebilir. Elinizde L-0412 varsa tüketmeyin, satın aldığınız yere iade edin.",'
    '"Glass was found at the neck of bottles from one batch (L-0412, 250 ml), which is '
    "being recalled. All our other ayran passed the laboratory checks and is safe to "
    'drink. If you have batch L-0412, do not drink it and return it where you bought it.",'
    "https://kuzeysut.example/duyurular/ayran-l0412\n"
)

INCIDENT = {
    "name": "Ayran glass reports",
    "severity": "high",
    "keywords": ["ayran", "cam", "glass"],
    "examples_tr": ["ayranınızda cam parçası var mı", "ayrandan cam çıkmış"],
    "examples_en": ["is there glass in your ayran", "glass found in ayran"],
    "statement_tr": (
        "Ayranlarımızda cam bulunduğu yönündeki bildirimleri inceliyoruz. Sonuç "
        "çıkana kadar şüpheli bir şişe varsa lütfen tüketmeyin ve bize parti numarasını yazın."
    ),
    "statement_en": (
        "We are investigating reports of glass in our ayran. Until we know more, "
        "please do not drink a bottle you have doubts about and send us its batch number."
    ),
}

# Those who asked about the glass before the answer existed (the correction's askers).
ASKERS = [line.phone for line in YESTERDAY + SPIKE + BEFORE_APPROVAL + AFTER_APPROVAL]
