OK_FORMAT = True

test = {   'name': 'one_head',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(one_head, tuple) and len(one_head) == 2 and all((0 <= v <= 1 for v in one_head)), 'one_head should be what score() returns: "
                                               "(pointing game, mass in object)'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> assert one_head != score(ex.rollout().map), "one_head should score one head\'s rollout, not the rollout of all heads"\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
