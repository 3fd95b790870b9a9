OK_FORMAT = True

test = {   'name': 'later_blocks',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(later, tuple) and len(later) == 2 and all((0 <= v <= 1 for v in later)), 'later should be what score() returns: (pointing game, "
                                               "mass in object)'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> _m = ch.upsample(vit.rollout_matrix(attn[2:])[:, 0, 1:].reshape(-1, gh, gw), xs.shape[-2:])\n'
                                               ">>> assert all((abs(a - b) < 0.0001 for a, b in zip(later, score(_m)))), f'{later}: roll out attn[2:], keep row 0 without its first entry, reshape to "
                                               "(gh, gw), upsample, score'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
