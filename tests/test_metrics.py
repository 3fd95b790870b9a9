"""Localisation checks with known answers."""
import pytest
import torch

from cam_helpers.metrics import dilate, mass_in_mask, peak_in_mask


def _mask(h=10, w=10, box=(2, 2, 5, 5)):
    m = torch.zeros(1, h, w, dtype=torch.bool)
    x0, y0, x1, y1 = box
    m[0, y0:y1 + 1, x0:x1 + 1] = True
    return m


def test_map_equal_to_mask_hits_with_full_energy():
    m = _mask()
    assert peak_in_mask(m.float(), m).item()
    assert mass_in_mask(m.float(), m).item() == 1.0


def test_constant_map_energy_is_mask_area_and_zero_map_scores_nothing():
    m = _mask()
    assert mass_in_mask(torch.ones(1, 10, 10), m).item() == pytest.approx(16 / 100)
    zero = torch.zeros(1, 10, 10)
    assert not peak_in_mask(zero, m).item() and mass_in_mask(zero, m).item() == 0


def test_tolerance_counts_near_misses_by_euclidean_distance():
    m = _mask()
    heat = torch.zeros(1, 10, 10)
    heat[0, 5, 8] = 1  # 3 px right of the mask's edge (x=5)
    assert not peak_in_mask(heat, m, tolerance=2).item()
    assert peak_in_mask(heat, m, tolerance=3).item()
    diag = torch.zeros(1, 10, 10)
    diag[0, 8, 8] = 1  # (3, 3) from the corner: distance 4.24
    assert not peak_in_mask(diag, m, tolerance=4).item() and peak_in_mask(diag, m, tolerance=5).item()
    assert dilate(m, 0).equal(m)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="result.map"):
        peak_in_mask(torch.zeros(1, 8, 8), _mask())


def test_spearman_known_values_and_ties():
    from cam_helpers.metrics import spearman
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert spearman(a, a * 10 + 3).item() == pytest.approx(1.0)
    assert spearman(a, -a).item() == pytest.approx(-1.0)
    # ties: scipy.stats.spearmanr([0, 0, 1, 2], [0, 1, 1, 2]) = 5/6
    assert spearman(torch.tensor([[0.0, 0, 1, 2]]), torch.tensor([[0.0, 1, 1, 2]])).item() == pytest.approx(5 / 6)
    assert spearman(torch.zeros(1, 4), a).item() == 0.0
