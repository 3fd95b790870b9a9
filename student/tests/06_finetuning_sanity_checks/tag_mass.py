OK_FORMAT = True

test = {   'name': 'tag_mass',
    'points': 1,
    'suites': [   {   'cases': [   {   'code': '>>> assert isinstance(on_tag, dict) and all((isinstance(on_tag.get(k), float) for k in (\'biased\', \'fixed\'))), \'on_tag should be {"biased": share, '
                                               '"fixed": share}\'\n',
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> _share = tags_test[y_test == CIRCLE].float().mean().item()\n'
                                               ">>> assert on_tag['biased'] > 3 * on_tag['fixed'] and on_tag['biased'] > 2 * _share, f'{on_tag}: explain class CIRCLE on the circles of the test split "
                                               "(x_test, tags_test), for each model, and average the shares'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
