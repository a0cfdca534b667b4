"""Formats a run is written in: ITF traces, and the text and JSON reports of check and simulate."""
