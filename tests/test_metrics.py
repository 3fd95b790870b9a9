"""Localisation checks with known answers."""
import pytest
import torch

from cam_helpers.metrics import dilate, energy_pointing_game, pointing_game


def _mask(h=10, w=10, box=(2, 2, 5, 5)):
    m = torch.zeros(1, h, w, dtype=torch.bool)
    x0, y0, x1, y1 = box
    m[0, y0:y1 + 1, x0:x1 + 1] = True
    return m


def test_map_equal_to_mask_hits_with_full_energy():
    m = _mask()
    assert pointing_game(m.float(), m).item()
    assert energy_pointing_game(m.float(), m).item() == 1.0


def test_constant_map_energy_is_mask_area_and_zero_map_scores_nothing():
    m = _mask()
    assert energy_pointing_game(torch.ones(1, 10, 10), m).item() == pytest.approx(16 / 100)
    zero = torch.zeros(1, 10, 10)
    assert not pointing_game(zero, m).item() and energy_pointing_game(zero, m).item() == 0


def test_tolerance_counts_near_misses_by_euclidean_distance():
    m = _mask()
    heat = torch.zeros(1, 10, 10)
    heat[0, 5, 8] = 1  # 3 px right of the mask's edge (x=5)
    assert not pointing_game(heat, m, tolerance=2).item()
    assert pointing_game(heat, m, tolerance=3).item()
    diag = torch.zeros(1, 10, 10)
    diag[0, 8, 8] = 1  # (3, 3) from the corner: distance 4.24
    assert not pointing_game(diag, m, tolerance=4).item() and pointing_game(diag, m, tolerance=5).item()
    assert dilate(m, 0).equal(m)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="result.map"):
        pointing_game(torch.zeros(1, 8, 8), _mask())


def test_spearman_known_values_and_ties():
    from cam_helpers.metrics import spearman
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert spearman(a, a * 10 + 3).item() == pytest.approx(1.0)
    assert spearman(a, -a).item() == pytest.approx(-1.0)
    # ties: scipy.stats.spearmanr([0, 0, 1, 2], [0, 1, 1, 2]) = 5/6
    assert spearman(torch.tensor([[0.0, 0, 1, 2]]), torch.tensor([[0.0, 1, 1, 2]])).item() == pytest.approx(5 / 6)
    assert spearman(torch.zeros(1, 4), a).item() == 0.0


def test_spearman_is_batched_and_matches_scipy_row_by_row():
    from scipy.stats import spearmanr

    from cam_helpers.metrics import spearman
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (6, 50), generator=g).float()          # many ties, as ReLU'd maps have
    b = a + torch.randint(0, 3, (6, 50), generator=g).float()
    ours = spearman(a, b)
    theirs = torch.tensor([spearmanr(x, y).statistic for x, y in zip(a.numpy(), b.numpy())])
    assert ours.shape == (6,) and torch.allclose(ours, theirs.float(), atol=1e-6)
