"""Custom Rasa NLU components for Turkish/English, built on local spaCy pipelines."""
