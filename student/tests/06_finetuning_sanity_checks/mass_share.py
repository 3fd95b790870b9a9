OK_FORMAT = True

test = {   'name': 'mass_share',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': '>>> _maps = torch.tensor([[[1.0, 3.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])\n'
                                               '>>> _regions = torch.tensor([[[True, False], [False, False]], [[True, True], [True, True]]])\n'
                                               '>>> _out = mass_share(_maps, _regions)\n'
                                               '>>> assert isinstance(_out, torch.Tensor) and _out.shape == (2,), f"mass_share should return one share per map (shape (2,) here), not {getattr(_out, '
                                               '\'shape\', type(_out).__name__)}"\n'
                                               ">>> assert torch.allclose(_out, torch.tensor([0.25, 0.0])), f'map 1 has 1 of its 4 units inside (0.25); map 2 is all zero (0, not NaN); yours: "
                                               "{_out.tolist()}'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
