OK_FORMAT = True

test = {   'name': 'element_wise',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': '>>> _A = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).expand(1, 2, 2, 2)\n'
                                               '>>> _g = torch.stack([torch.tensor([[1.0, -1.0], [1.0, -1.0]]), torch.full((2, 2), -1.0)])[None]\n'
                                               '>>> _out = element_wise_rule(_A, _g)\n'
                                               '>>> assert isinstance(_out, torch.Tensor) and _out.shape == (1, 2, 2), f"element_wise_rule should return a (1, 2, 2) tensor here, not {getattr(_out, '
                                               '\'shape\', type(_out).__name__)}"\n'
                                               ">>> assert torch.allclose(_out, torch.tensor([[[1.0, 0.0], [3.0, 0.0]]])), f'the first channel keeps g*A where it is positive ([[1, 0], [3, 0]]), the "
                                               "second adds nothing; yours: {_out.tolist()}'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
