"""Every change to templates, steps, edges, executions and step runs goes through these modules.

``templates``: the template editor. ``executions``: creating, updating and cancelling
executions and step runs. ``launch``: preview and launch of a template on a node.
``builtin_templates``: creating or updating the built-in templates from their files, through ``templates``.
"""
