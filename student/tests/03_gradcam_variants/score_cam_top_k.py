OK_FORMAT = True

test = {   'name': 'score_cam_top_k',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(rho_by_k, dict) and sorted(rho_by_k) == [4, 8, 16, 32, 64], 'rho_by_k should map each top_k (4, 8, 16, 32, 64) to a mean "
                                               "Spearman correlation'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': ">>> assert all((-1 <= r <= 1 for r in rho_by_k.values())) and rho_by_k[64] >= rho_by_k[4] > 0.5, f'{rho_by_k}: correlate each top_k map with `exact`, "
                                               "per scene, and average (metrics.spearman)'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
