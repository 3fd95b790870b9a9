OK_FORMAT = True

test = {   'name': 'step_size',
    'points': 1,
    'suites': [   {   'cases': [   {'code': ">>> assert isinstance(fine, float) and 0 <= fine <= 1, 'fine should be a mean AUC (a float in [0, 1]: use .item())'\n", 'hidden': False, 'locked': False},
                                   {   'code': '>>> assert abs(fine - rows[\'grad_cam\'][\'deletion\']) < 0.05 and fine != rows[\'grad_cam\'][\'deletion\'], f"{fine:.3f}: the deletion AUC (not '
                                               'insertion) of maps[\'grad_cam\'] with step=64 (not 256), averaged over the scenes"\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
