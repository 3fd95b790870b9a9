OK_FORMAT = True

test = {   'name': 'batch_mates',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert all((isinstance(v, float) for v in (change_same, change_mixed))), 'change_same and change_mixed should be two numbers (floats: use "
                                               ".item())'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': ">>> assert change_same > 0.001 and change_mixed > 0.001, f'{change_same:.1e} and {change_mixed:.1e}: compare train mode (True) with eval mode (False); "
                                               "both batches use batch statistics in train mode'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
