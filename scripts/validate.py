"""`make validate`: `rasa data validate`, failing on any warning but one known kind.

Rasa's validator reports every response that no story or rule names as "not used
in any story or rule", including the responses our custom actions send. That one
kind is checked properly by tests/test_data.py (every response is used by an
action or the data, and everything used exists); every other warning fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KNOWN = re.compile(r"The utterance 'utter_[a-z_]+' is not used in any story or rule\.")
# Intents nobody types, so they have no NLU examples (which Rasa warns about): the
# desk triggers the external one through the API, and only the rating buttons the
# bot offers send the other. Any other intent without examples still fails.
NO_NLU_INTENTS = ("EXTERNAL_handoff_closed", "rate_handoff")
NO_NLU = re.compile(
    "The intent '(" + "|".join(NO_NLU_INTENTS) + ")' is listed in the domain file, "
    r"but is not found in the NLU training data\."
)
# Data problems come as UserWarnings or as warnings logged by rasa's validator;
# library deprecation notices are not about our data.
WARNING = re.compile(r"(UserWarning: |WARNING\s+rasa\.\S+\s+-\s+)(?P<text>.*)")


def main() -> int:
    """Runs the validator; prints unexpected warnings; returns the exit status."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "rasa"),
            "data",
            "validate",
            "--domain",
            "domain.yml",
            "--data",
            "data",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    warnings = [m.group("text") for m in WARNING.finditer(output)]
    unexpected = [w for w in warnings if not KNOWN.search(w) and not NO_NLU.search(w)]
    known = len(warnings) - len(unexpected)
    if result.returncode != 0 or unexpected:
        print(output[-5000:])
        print(f"rasa data validate: exit {result.returncode}, unexpected warnings:")
        for warning in unexpected:
            print(f"  - {warning}")
        return 1
    print(
        f"rasa data validate: clean ({known} responses sent only by custom actions, "
        "checked by tests/test_data.py)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
