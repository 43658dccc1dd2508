"""Aligned piano performances (Vienna 4x22, Batik plays Mozart, emotion performances), read
with partitura, turned into per-note score features and performance targets.

The work is in three modules; this one gathers their public names, so callers write
``from explorer.data.performances import …``:

- :mod:`explorer.data.performance_io`: the records on disk and the split by piece; scores
  (MusicXML, MIDI, match) and alignments read through partitura; performance MIDI in and out.
- :mod:`explorer.data.performance_features`: per-note score features (:data:`SCORE_FEATURES`),
  partitura's performance codec both ways (:data:`TARGETS`), aligning an uploaded performance.
- :mod:`explorer.data.performance_cache`: a record read, aligned and encoded once, then loaded
  from the disk cache.
"""
from explorer.data.performance_cache import load_example, load_examples
from explorer.data.performance_features import (SCORE_FEATURES, TARGETS, PerformanceExample, ScoreNotes,
                                                decode_targets, encode_targets, match_targets, score_notes,
                                                targets_from_midi)
from explorer.data.performance_io import (ACCEPTED_SCORES, DATA_ENV, EMOTIONS, TEST_PIECES, PerformanceDataError,
                                          PerformanceRecord, default_data_root, ensure_partitura, label_of,
                                          list_performances, load_aligned, load_performance_midi, load_score,
                                          performed_to_midi, piece_score, split_records)

__all__ = ["ACCEPTED_SCORES", "DATA_ENV", "EMOTIONS", "SCORE_FEATURES", "TARGETS", "TEST_PIECES",
           "PerformanceDataError", "PerformanceExample", "PerformanceRecord", "ScoreNotes", "decode_targets",
           "default_data_root", "encode_targets", "ensure_partitura", "label_of", "list_performances",
           "load_aligned", "load_example", "load_examples", "load_performance_midi", "load_score",
           "match_targets", "performed_to_midi", "piece_score", "score_notes", "split_records",
           "targets_from_midi"]
