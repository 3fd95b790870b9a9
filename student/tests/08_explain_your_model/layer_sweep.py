OK_FORMAT = True

test = {   'name': 'layer_sweep',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert isinstance(layercam_energy, dict) and set(layercam_energy) == set(layers), 'layercam_energy should have one entry per name in layers'\n"
                                               ">>> assert all((isinstance(v, float) and 0 <= v <= 1 for v in layercam_energy.values())), 'each value is a mean share of energy: a float between 0 and "
                                               "1'\n"
                                               ">>> assert all((layercam_energy[layercam_best] >= v for v in layercam_energy.values())), 'layercam_best is the layer with the highest'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
