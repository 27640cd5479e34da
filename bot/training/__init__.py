"""The trainers' workflow: new intents from real conversations, without breaking old ones.

- `intents`: adding an intent (training data, domain, rule), its checks and its
  held-out share; every accepted change recorded, and committed when the project
  is a git work tree;
- `models`: candidate models trained, evaluated against the live one on the
  held-out sets, promoted through Rasa's model API behind a gate, rolled back;
- `inbox`: the review inbox of customer messages the bot was unsure about,
  scrubbed of personal data, assigned to intents one by one or in groups.
"""
