OK_FORMAT = True

test = {   'name': 'area_under_curve',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': '>>> _out = area(torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.0]]))\n'
                                               '>>> assert isinstance(_out, torch.Tensor) and _out.shape == (3,), f"area should return one number per curve (shape (3,) here), not {getattr(_out, '
                                               '\'shape\', type(_out).__name__)}"\n'
                                               ">>> assert torch.allclose(_out, torch.tensor([1.0, 0.5, 0.25])), f'a constant 1 has area 1, a line from 0 to 1 has 0.5, and 1, 0, 0 has 0.25; yours: "
                                               "{_out.tolist()} (the points are 1/n apart on [0, 1])'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
