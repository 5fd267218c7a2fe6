# The example suite is run by test_plugin.py in a pytest of its own, as a user's suite would be: not collected here.
collect_ignore = ["example_suite"]
