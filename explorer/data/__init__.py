"""Real-data pipeline: sources → tunes on the grid → segment datasets."""
from explorer.data.dataset import (  # noqa: F401
    SPLITS,
    DatasetError,
    SegmentDataset,
    augment_transpositions,
    concat,
    segment_tunes,
    split_of,
)
from explorer.data.tune import SkipTune, Tune  # noqa: F401
