OK_FORMAT = True

test = {   'name': 'density_ratio',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': '>>> _maps = torch.tensor([[[1.0, 1.0], [1.0, 1.0]], [[3.0, 1.0], [1.0, 1.0]]])\n'
                                               '>>> _masks = torch.tensor([[[True, False], [False, False]], [[True, False], [False, False]]])\n'
                                               '>>> _out = density_ratio(_maps, _masks)\n'
                                               '>>> assert isinstance(_out, torch.Tensor) and _out.shape == (2,), f"density_ratio should return one ratio per map (shape (2,) here), not '
                                               '{getattr(_out, \'shape\', type(_out).__name__)}"\n'
                                               ">>> assert torch.allclose(_out, torch.tensor([1.0, 3.0])), f'a flat map scores 1; a map of 3 on the object and 1 elsewhere scores 3; yours: "
                                               "{_out.tolist()}'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
