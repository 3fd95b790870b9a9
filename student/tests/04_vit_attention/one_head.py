OK_FORMAT = True

test = {   'name': 'one_head',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(one_head, tuple) and len(one_head) == 2 and all((0 <= v <= 1 for v in one_head)), 'one_head should be what score() returns: "
                                               "(pointing game, mass in object)'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> _m = vit.rollout_matrix([a[:, [best[1]]] for a in attn])[:, 0, 1:].reshape(-1, gh, gw)\n'
                                               ">>> assert all((abs(a - b) < 0.0001 for a, b in zip(one_head, score(ch.upsample(_m, xs.shape[-2:]))))), f'{one_head}: keep head best[1] = {best[1]} of "
                                               "every block (a[:, [h]]), roll out all blocks, then score'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
