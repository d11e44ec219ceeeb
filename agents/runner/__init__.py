"""The agent runner: claims ready step runs under each workspace's ``desired`` and runs the CLIs.

``queue`` (claims and state changes, all compare-and-set), ``launching`` (argv, env, cwd),
``process`` (one CLI in its own process group), ``logs`` (stored + live output), ``worker`` (one
step from start to finish), ``loop`` (the runner), ``recovery`` (dead runners and restarts),
``host`` (the runner inside ``serve``).
"""
