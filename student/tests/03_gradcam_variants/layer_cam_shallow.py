OK_FORMAT = True

test = {   'name': 'layer_cam_shallow',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': '>>> assert isinstance(rates, dict) and all((isinstance(rates.get(m), float) for m in (\'grad_cam\', \'layer_cam\'))), \'rates should be {"grad_cam": '
                                               'fraction, "layer_cam": fraction}\'\n',
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': ">>> assert rates['layer_cam'] > rates['grad_cam'] + 0.2, f'{rates}: explain vgg at features.1 (not the default layer) and score with tolerance 4'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
