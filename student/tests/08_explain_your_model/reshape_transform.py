OK_FORMAT = True

test = {   'name': 'reshape_transform',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': '>>> _t = torch.arange(2 * 11 * 3, dtype=torch.float32).reshape(2, 11, 3)\n'
                                               ">>> assert tokens_to_maps(_t, 2).shape == (2, 3, 3, 3), 'the result is (B, C, h, w)'\n"
                                               ">>> assert torch.equal(tokens_to_maps(_t, 2)[0, :, 0, 0], _t[0, 2]), 'the first patch token goes to (0, 0)'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
