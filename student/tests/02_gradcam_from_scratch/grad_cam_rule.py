OK_FORMAT = True

test = {   'name': 'grad_cam_rule',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': '>>> _A = torch.arange(8.0).reshape(1, 2, 2, 2)\n'
                                               '>>> _dA = torch.stack([torch.full((2, 2), 1.0), torch.tensor([[0.0, -2.0], [0.0, -2.0]])])[None]\n'
                                               '>>> _out = grad_cam_rule(_A, _dA)\n'
                                               ">>> assert isinstance(_out, torch.Tensor), f'grad_cam_rule should return a tensor, not {type(_out).__name__}'\n"
                                               ">>> assert _out.shape == (1, 2, 2), f'one image of 2x2 maps should give shape (1, 2, 2), not {tuple(_out.shape)}'\n"
                                               ">>> assert torch.allclose(_out, torch.full((1, 2, 2), -4.0)), f'weights 1 and -1 give 1*A0 - 1*A1 = -4 everywhere; yours: {_out.flatten().tolist()} "
                                               "(average the gradient per channel; no ReLU yet)'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
