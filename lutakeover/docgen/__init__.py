"""Generators of the docs: docs/diagrams/, the documented outputs, the backup walkthrough."""
