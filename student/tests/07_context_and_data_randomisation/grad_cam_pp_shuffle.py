OK_FORMAT = True

test = {   'name': 'grad_cam_pp_shuffle',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': '>>> assert isinstance(pp, dict) and all((isinstance(pp.get(k), float) for k in (\'control\', \'shuffled\'))), \'pp should be {"control": correlation, '
                                               '"shuffled": correlation}, two floats\'\n'
                                               '>>> assert isinstance(pp_survives, float) and abs(pp_survives - pp[\'shuffled\'] / pp[\'control\']) < 1e-06, "pp_survives is pp[\'shuffled\'] / '
                                               'pp[\'control\']"\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
