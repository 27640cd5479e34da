"""All settings, read once from the environment (and `.env`, when present).

`.env.example` documents every variable. Nothing else in the project reads
`os.environ` for crisisdesk settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Tuple

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def read_env_file(path: Path) -> Dict[str, str]:
    """KEY=VALUE lines of a dotenv file; comments, blanks and malformed lines skipped."""
    values: Dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key:
            values[key] = value
    return values


@dataclass(frozen=True)
class Settings:
    """crisisdesk's settings; see `.env.example` for what each one means."""

    db_path: Path
    rasa_url: str
    rasa_token: str
    rasa_port: int
    actions_port: int
    spacy_dir: Path
    match_threshold: float  # the answer threshold (CRISISDESK_MATCH_ANSWER_THRESHOLD)
    match_margin: float
    match_suggest_threshold: float
    log_level: str
    # WhatsApp through Twilio (bot/channels/whatsapp.py): off until all four are set.
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_whatsapp_number: str = ""
    twilio_api_base_url: str = "https://api.twilio.com"
    public_base_url: str = ""
    # The outbox (bot/outbox.py): how long a message to a customer is retried.
    outbox_max_attempts: int = 20
    outbox_retry_base_seconds: float = 2.0
    outbox_retry_max_seconds: float = 600.0
    # Proactive messages per second per sender (0: unpaced); reasons in .env.example.
    outbox_whatsapp_per_second: float = 10.0
    outbox_telegram_per_second: float = 25.0
    # Telegram (bot/channels/telegram.py): off while the token is empty.
    telegram_bot_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_mode: str = "webhook"
    # Our brand (bot/brands.py): answers are only about it; other brands are declined.
    brand_name: str = "Kuzey Süt"
    brand_aliases: Tuple[str, ...] = ("Kuzey", "Kuzey Gıda", "Kuzey Sut", "kuzeysut")
    # Open rumours at least this close (sentence-vector cosine) may form one group.
    rumour_cluster_threshold: float = 0.45
    # A message is on an active incident's topic from this sentence-vector cosine
    # with one of its example messages up (or with one of its keywords).
    incident_topic_threshold: float = 0.50
    # A fact is flagged to editors for poor helpfulness from this many answers to
    # "was this helpful?" up, when fewer than this share of them were "yes".
    feedback_min_answers: int = 5
    feedback_helpful_share: float = 0.5
    # The desk (bot/desk/): its port, session lifetime and login throttling.
    desk_port: int = 8000
    desk_host: str = "127.0.0.1"
    desk_session_hours: float = 12.0
    desk_session_idle_minutes: float = 120.0
    desk_login_window_minutes: float = 60.0
    desk_login_free_attempts: int = 5
    desk_login_address_free_attempts: int = 20
    desk_login_delay_seconds: float = 2.0
    desk_login_max_delay_seconds: float = 900.0
    # The web chat (bot/channels/webchat.py): empty means derived from RASA_TOKEN.
    webchat_secret: str = ""
    # Waiting customers (bot/waiting.py): an update after this many unclaimed
    # minutes (0: none), staffed hours ("" : always staffed) in this time zone,
    # and the staff Telegram chat told of new high-priority handoffs ("" : off).
    desk_reminder_minutes: float = 10.0
    desk_staffed_hours: str = ""
    desk_timezone: str = "Europe/Istanbul"
    staff_telegram_chat_id: str = ""
    # Privacy (bot/privacy_ops.py): message texts older than this many days are
    # blanked in the store and in Rasa's databases (0: never).
    retention_days: float = 30.0
    # Early warning (bot/alerts.py): a topic and intent spikes when its messages in
    # the last window reach FACTOR x its usual count per window (the average over
    # the baseline hours before, at least the floor) and MIN_COUNT; messages on no
    # known topic this close in meaning (sentence-vector cosine) form an emerging
    # topic once EMERGING_MIN_COUNT of them arrive within one window.
    alert_window_minutes: float = 15.0
    alert_baseline_hours: float = 24.0
    alert_factor: float = 3.0
    alert_min_count: int = 10
    alert_baseline_floor: float = 1.0
    alert_emerging_threshold: float = 0.45
    alert_emerging_min_count: int = 10

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `environ` (default: `.env` overlaid by the process environment)."""
        if environ is None:
            env = read_env_file(PROJECT_ROOT / ".env")
            env.update(os.environ)
        else:
            env = dict(environ)

        def path(name: str, default: str) -> Path:
            value = Path(env.get(name) or default)
            return value if value.is_absolute() else PROJECT_ROOT / value

        rasa_port = int(env.get("RASA_PORT") or 5005)
        return cls(
            db_path=path("CRISISDESK_DB", "var/crisisdesk.db"),
            rasa_url=(env.get("RASA_URL") or f"http://localhost:{rasa_port}").rstrip("/"),
            rasa_token=env.get("RASA_TOKEN") or "",
            rasa_port=rasa_port,
            actions_port=int(env.get("ACTIONS_PORT") or 5055),
            spacy_dir=path("CRISISDESK_SPACY_DIR", "var/spacy"),
            # Fact matching tiers: reasons in .env.example. The old
            # CRISISDESK_MATCH_THRESHOLD is not read: it was on the words-only score.
            match_threshold=float(env.get("CRISISDESK_MATCH_ANSWER_THRESHOLD") or 0.45),
            match_margin=float(env.get("CRISISDESK_MATCH_MARGIN") or 0.15),
            match_suggest_threshold=float(env.get("CRISISDESK_MATCH_SUGGEST_THRESHOLD") or 0.30),
            log_level=env.get("LOG_LEVEL") or "INFO",
            twilio_account_sid=(env.get("TWILIO_ACCOUNT_SID") or "").strip(),
            twilio_auth_token=(env.get("TWILIO_AUTH_TOKEN") or "").strip(),
            twilio_whatsapp_number=(env.get("TWILIO_WHATSAPP_NUMBER") or "").strip(),
            twilio_api_base_url=(env.get("TWILIO_API_BASE_URL") or "https://api.twilio.com")
            .strip()
            .rstrip("/"),
            public_base_url=(env.get("PUBLIC_BASE_URL") or "").strip().rstrip("/"),
            outbox_max_attempts=int(env.get("OUTBOX_MAX_ATTEMPTS") or 20),
            outbox_retry_base_seconds=float(env.get("OUTBOX_RETRY_BASE_SECONDS") or 2.0),
            outbox_retry_max_seconds=float(env.get("OUTBOX_RETRY_MAX_SECONDS") or 600.0),
            outbox_whatsapp_per_second=float(env.get("OUTBOX_WHATSAPP_PER_SECOND") or 10.0),
            outbox_telegram_per_second=float(env.get("OUTBOX_TELEGRAM_PER_SECOND") or 25.0),
            telegram_bot_token=(env.get("TELEGRAM_BOT_TOKEN") or "").strip(),
            telegram_webhook_secret=(env.get("TELEGRAM_WEBHOOK_SECRET") or "").strip(),
            telegram_api_base_url=(
                env.get("TELEGRAM_API_BASE_URL") or "https://api.telegram.org/bot"
            ).strip(),
            telegram_mode=(env.get("TELEGRAM_MODE") or "webhook").strip().lower(),
            brand_name=(env.get("BRAND_NAME") or "Kuzey Süt").strip(),
            brand_aliases=tuple(
                alias.strip()
                for alias in (
                    env.get("BRAND_ALIASES")
                    if env.get("BRAND_ALIASES") is not None
                    else "Kuzey,Kuzey Gıda,Kuzey Sut,kuzeysut"
                ).split(",")
                if alias.strip()
            ),
            rumour_cluster_threshold=float(env.get("CRISISDESK_RUMOUR_CLUSTER_THRESHOLD") or 0.45),
            incident_topic_threshold=float(env.get("CRISISDESK_INCIDENT_TOPIC_THRESHOLD") or 0.50),
            feedback_min_answers=int(env.get("FEEDBACK_MIN_ANSWERS") or 5),
            feedback_helpful_share=float(env.get("FEEDBACK_HELPFUL_SHARE") or 0.5),
            desk_port=int(env.get("DESK_PORT") or 8000),
            desk_host=(env.get("DESK_HOST") or "127.0.0.1").strip(),
            desk_session_hours=float(env.get("DESK_SESSION_HOURS") or 12),
            desk_session_idle_minutes=float(env.get("DESK_SESSION_IDLE_MINUTES") or 120),
            desk_login_window_minutes=float(env.get("DESK_LOGIN_WINDOW_MINUTES") or 60),
            desk_login_free_attempts=int(env.get("DESK_LOGIN_FREE_ATTEMPTS") or 5),
            desk_login_address_free_attempts=int(env.get("DESK_LOGIN_ADDRESS_FREE_ATTEMPTS") or 20),
            desk_login_delay_seconds=float(env.get("DESK_LOGIN_DELAY_SECONDS") or 2),
            desk_login_max_delay_seconds=float(env.get("DESK_LOGIN_MAX_DELAY_SECONDS") or 900),
            webchat_secret=(env.get("WEBCHAT_SECRET") or "").strip(),
            desk_reminder_minutes=float(env.get("DESK_REMINDER_MINUTES") or 10),
            desk_staffed_hours=(env.get("DESK_STAFFED_HOURS") or "").strip(),
            desk_timezone=(env.get("DESK_TIMEZONE") or "Europe/Istanbul").strip(),
            staff_telegram_chat_id=(env.get("STAFF_TELEGRAM_CHAT_ID") or "").strip(),
            retention_days=float(env.get("CRISISDESK_RETENTION_DAYS") or 30),
            alert_window_minutes=float(env.get("ALERT_WINDOW_MINUTES") or 15),
            alert_baseline_hours=float(env.get("ALERT_BASELINE_HOURS") or 24),
            alert_factor=float(env.get("ALERT_FACTOR") or 3),
            alert_min_count=int(env.get("ALERT_MIN_COUNT") or 10),
            alert_baseline_floor=float(env.get("ALERT_BASELINE_FLOOR") or 1),
            alert_emerging_threshold=float(env.get("ALERT_EMERGING_THRESHOLD") or 0.45),
            alert_emerging_min_count=int(env.get("ALERT_EMERGING_MIN_COUNT") or 10),
        )

    def outbox_rates(self) -> Dict[str, float]:
        """Channel -> proactive messages per second per sender, for `bot.outbox.Outbox`."""
        return {
            "whatsapp": self.outbox_whatsapp_per_second,
            "telegram": self.outbox_telegram_per_second,
        }

    def whatsapp_missing(self) -> List[str]:
        """The settings the WhatsApp channel still needs (empty: the channel is on)."""
        needed = {
            "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "TWILIO_WHATSAPP_NUMBER": self.twilio_whatsapp_number,
            "PUBLIC_BASE_URL": self.public_base_url,
        }
        return [name for name, value in needed.items() if not value]


_settings: Settings | None = None


def settings() -> Settings:
    """The process-wide settings, read on first use."""
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings
