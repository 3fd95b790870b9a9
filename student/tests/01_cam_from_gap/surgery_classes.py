OK_FORMAT = True

test = {   'name': 'surgery_classes',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert all((isinstance(v, float) for v in (own_s, other_s))), 'own_s and other_s should be two fractions (floats)'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': ">>> assert own_s > 0.7 and other_s < 0.1, f'own {own_s:.2f}, other {other_s:.2f}: explain `surgery` (not `model`) on the two-object scenes `two`'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
