OK_FORMAT = True

test = {   'name': 'object_removed',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(still_right, dict) and all((isinstance(still_right.get(k), float) for k in ('biased', 'fixed'))), 'still_right should be "
                                               '{"biased": share, "fixed": share}, two floats\'\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
