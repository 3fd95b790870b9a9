OK_FORMAT = True

test = {   'name': 'insertion_gap',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(insertion_gap, stats.Interval), 'insertion_gap should be what stats.paired_difference returns'\n"
                                               '>>> assert insertion_gap.low <= insertion_gap.mean <= insertion_gap.high\n'
                                               '>>> assert insertion_gap.mean > 0, "Grad-CAM\'s pixels first should raise the class faster than a random order: check the order"\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
