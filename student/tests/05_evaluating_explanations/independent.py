OK_FORMAT = True

test = {   'name': 'independent',
    'points': 1,
    'suites': [   {   'cases': [{'code': ">>> assert worst_layer in layers, f'worst_layer should be one of the layer names {layers}, not {worst_layer!r}'\n", 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
