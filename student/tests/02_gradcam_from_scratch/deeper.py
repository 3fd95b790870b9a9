OK_FORMAT = True

test = {   'name': 'deeper',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(rates, dict) and all((isinstance(rates.get(k), float) for k in ('features.3', 'features.4'))), 'rates should be "
                                               '{"features.3": fraction, "features.4": fraction}\'\n',
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': ">>> assert rates['features.4'] < rates['features.3'], f'{rates}: at features.4 the 4x4 map should localise worse (explain vgg, the predicted class)'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
