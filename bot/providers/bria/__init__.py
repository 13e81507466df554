"""Bria "Tailored Generation" training: models, parameter rules, HTTP client and simulator."""
