OK_FORMAT = True

test = {   'name': 'against',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(rate, float) and 0 <= rate <= 1, f'rate should be a fraction (a float in [0, 1]), not {rate!r}'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': ">>> assert rate > 0.5, f'rate is {rate:.2f}: upsample -raw of the least likely class (raw keeps the sign; map is clipped at 0) and score it with "
                                               "metrics.pointing_game(..., masks, TOL)'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
