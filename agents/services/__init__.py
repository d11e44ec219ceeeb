"""Every change to templates, steps, edges, executions, step runs and DAG runs goes through these modules.

``lifecycle``: every status change of executions, step runs and DAG runs (create, claim, finish,
settle, cancel, update, advance), each a compare-and-set. ``templates``: the template editor.
``executions``: POST /executions (and the names the views call for PATCH and cancel).
``launch``: preview and launch of a template on a node. ``dag_runs``: starting a whole-DAG run.
``builtin_templates``: creating or updating the built-in templates from their files, through ``templates``.
"""
