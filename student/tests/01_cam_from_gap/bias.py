OK_FORMAT = True

test = {   'name': 'bias',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(cam_means, torch.Tensor) and cam_means.numel() == 6, f'cam_means should be a tensor of 6 numbers (one per class), not "
                                               "{type(cam_means).__name__}'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> _expected = (logits[0] - model.head.bias).detach()\n'
                                               '>>> _off = (cam_means.detach().flatten().to(_expected) - _expected).abs().max().item()\n'
                                               '>>> assert _off < 0.001, f"each class\'s mean should equal its score minus its bias; yours is off by up to {_off:.3f} (use raw, not map: map is '
                                               'clipped and rescaled)"\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
