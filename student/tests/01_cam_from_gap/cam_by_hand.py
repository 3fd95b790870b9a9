OK_FORMAT = True

test = {   'name': 'cam_by_hand',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': '>>> _out = cam_by_hand(torch.ones(2, 3, 2, 2), torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, -1.0]]))\n'
                                               ">>> assert isinstance(_out, torch.Tensor), f'cam_by_hand should return a tensor, not {type(_out).__name__}'\n"
                                               ">>> assert _out.shape == (2, 2, 2), f'2 images of 3 channels of 2x2 should give shape (2, 2, 2), not {tuple(_out.shape)}'\n"
                                               '>>> assert torch.allclose(_out[0], torch.full((2, 2), 6.0)) and torch.allclose(_out[1], torch.full((2, 2), -1.0)), f"with all-ones maps each CAM is '
                                               'the sum of its image\'s weights (6 and -1); yours: {_out[:, 0, 0].tolist()}"\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
