OK_FORMAT = True

test = {   'name': 'pretrained_shortcut',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': ">>> assert all((isinstance(v, float) for v in (pre_swapped, pre_on_object))), 'pre_swapped and pre_on_object should be two fractions (floats)'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> assert pre_swapped >= 0.85 and pre_on_object >= 0.9, f"swapped accuracy {pre_swapped:.2f}, on object {pre_on_object:.2f}: fine-tune '
                                               'models.load_course_model(\'shapes_cnn\', device), not a fresh ShapesCNN, and measure that model"\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
