"""Every change to templates, steps, edges, executions and step runs goes through these modules.

``templates``: the template editor (§2.7-§2.9). ``executions``: creating, updating and cancelling
executions and step runs (§2.10-§2.11). ``launch``: preview and launch of a template on a node (§2.12).
``builtin_templates``: creating or updating the built-in templates from their files, through ``templates``.
"""
