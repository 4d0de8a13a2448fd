"""Spec files to jobs: YAML with lines, ``jobs_from`` rows, templates, expansion, validation.

Nothing here sends anything: a spec is read (``load``), expanded into jobs
(``expand``) and checked completely (``validate``), every problem located at
its file and line (``problems``), before a run may spend a cent.
"""
