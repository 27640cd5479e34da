"""crisisdesk's rasa-sdk actions, one module per area.

Run with `rasa run actions --actions actions`: the executor registers every
Action subclass in this package. The logic they need lives in `bot/`.
"""

import threading


def _warm_up() -> None:
    """Loads the sentence encoder (about a second) before the first customer needs it."""
    from bot import encoder

    encoder.encode(["merhaba"])


# The executor imports this package when the action server starts: load the model
# in the background then, not inside the first rumour's reply.
threading.Thread(target=_warm_up, name="encoder-warm-up", daemon=True).start()
