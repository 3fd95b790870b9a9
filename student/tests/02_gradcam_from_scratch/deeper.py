OK_FORMAT = True

test = {   'name': 'deeper',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(rates, dict) and all((isinstance(rates.get(k), float) for k in ('features.3', 'features.4'))), 'rates should be "
                                               '{"features.3": fraction, "features.4": fraction}\'\n',
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> _untolerant = {name: rate for name, _, rate, _ in rows}\n'
                                               '>>> assert all((rates[k] >= _untolerant[k] for k in _untolerant if k in rates)), f"{rates}: a tolerance only forgives misses, so no rate can fall '
                                               'below section 6\'s (did you pass TOL?)"\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
