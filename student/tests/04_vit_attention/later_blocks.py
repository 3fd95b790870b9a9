OK_FORMAT = True

test = {   'name': 'later_blocks',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(later, tuple) and len(later) == 2 and all((0 <= v <= 1 for v in later)), 'later should be what score() returns: (pointing game, "
                                               "mass in object)'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': ">>> assert later != score(ex.rollout().map), 'later should score the rollout of the later blocks only, not of all blocks'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
