OK_FORMAT = True

test = {   'name': 'gradient_rollout_drop',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(drop_grad, float) and -1 <= drop_grad <= 1, 'drop_grad should be a number (a float: use .item())'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> assert abs(drop_grad - drops[8][0]) > 1e-06, "drop_grad should come from gradient rollout\'s top patches, not rollout\'s"\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
