"""crisisdesk's rasa-sdk actions, one module per area.

Run with `rasa run actions --actions actions`: the executor registers every
Action subclass in this package. The logic they need lives in `bot/`.
"""
