OK_FORMAT = True

test = {   'name': 'gradient_rollout_drop',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(drop_grad, float) and -1 <= drop_grad <= 1, 'drop_grad should be a number (a float: use .item())'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> _top = ex.gradient_rollout(targets=pred).raw.flatten(1).topk(8, 1).indices\n'
                                               ">>> assert abs(drop_grad - (base - confidence(blank(xs, _top), pred)).mean().item()) < 0.0001, f'{drop_grad:.3f}: blank the top 8 patches of gradient "
                                               "rollout (raw, flattened) and average base - confidence'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
