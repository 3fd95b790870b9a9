OK_FORMAT = True

test = {   'name': 'bias',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(cam_means, torch.Tensor) and cam_means.numel() == 6, f'cam_means should be a tensor of 6 numbers (one per class), not "
                                               "{type(cam_means).__name__}'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> _expected = (logits[0] - model.head.bias).detach()\n'
                                               '>>> assert torch.allclose(cam_means.detach().flatten().to(_expected), _expected, atol=0.001), f"each class\'s mean should equal its score minus its '
                                               'bias, {_expected.cpu().numpy().round(2)}; yours: {cam_means.detach().flatten().cpu().numpy().round(2)} (raw, not map: map is clipped and rescaled)"\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
