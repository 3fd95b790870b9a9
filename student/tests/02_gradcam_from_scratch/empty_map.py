OK_FORMAT = True

test = {   'name': 'empty_map',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(empty, tuple) and len(empty) == 2 and all((isinstance(v, int) for v in empty)), 'empty should be a pair of ints: (scene index, "
                                               "class index)'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': ">>> _r = ch.grad_cam(cnn, x[empty[0]:empty[0] + 1], 'features.3', targets=empty[1])\n"
                                               ">>> assert _r.map.max() == 0 and (not torch.isnan(_r.map).any()), f'Grad-CAM of {data.CLASSES[empty[1]]} on scene {empty[0]} peaks at "
                                               "{_r.map.max():.2f}: try the classes the model gives the lowest scores'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
