"""Searching a latent map (title, source, attribute range) and ordering a box/lasso selection."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.latent.map_search import playing_order, search_mask
from test_projection import tiny_dataset


def test_search_by_title_source_and_attribute_range():
    ds = tiny_dataset(12)  # 3 tunes "Tune 0".."Tune 2" (ids t0..t2), segment i in tune i % 3
    ds.tune_title = np.array(["Tune 0", "The Drowsy Maggie", "Tune 2"])
    ds.tune_source = np.array(["test", "test", "oneills"])
    rows = np.array([0, 1, 2, 4, 5, 7, 10])
    assert search_mask(ds, rows).all()
    assert search_mask(ds, rows, title="  drowsy ").tolist() == [False, True, False, True, False, True, True]
    assert search_mask(ds, rows, title="t2").tolist() == [False, False, True, False, True, False, False]
    assert search_mask(ds, rows, sources=["oneills"]).tolist() == search_mask(ds, rows, title="t2").tolist()
    attrs = {"note_density": np.arange(12) / 10.0}
    np.testing.assert_array_equal(search_mask(ds, rows, ranges={"note_density": (0.2, 0.5)}, attrs=attrs),
                                  [False, False, True, True, True, False, False])
    both = search_mask(ds, rows, title="drowsy", ranges={"note_density": (0.2, 0.5)}, attrs=attrs)
    assert both.tolist() == [False, False, False, True, False, False, False]
    with pytest.raises(KeyError, match="no attribute 'pitch_range'; there are \\['note_density'\\]"):
        search_mask(ds, rows, ranges={"pitch_range": (0, 1)}, attrs=attrs)


def test_a_selection_plays_left_to_right_once_each_and_only_points_on_the_map():
    rows = np.array([3, 5, 8, 9])
    coords = np.array([[2.0, 0], [-1, 5], [2, -3], [0, 0]])
    # 9 twice, 4 is not on the map
    assert playing_order([9, 3, 4, 8, 5, 9], rows, coords) == [5, 9, 8, 3]
    assert playing_order([], rows, coords) == []
