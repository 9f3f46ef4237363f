"""Persistent results: every computed score, keyed by everything that changes it."""

from gradsign.storage.exports import read_score_export
from gradsign.storage.store import SCHEMA_VERSION, ImportSummary, ResultsStore, ScoreKey, ScoreRecord

__all__ = ["SCHEMA_VERSION", "ImportSummary", "ResultsStore", "ScoreKey", "ScoreRecord", "read_score_export"]
