"""Versioned prompts: a Phoenix-compatible prompt registry, and jobs that run a version.

``schema`` checks a version as Phoenix's REST API spells it; ``render`` fills a template
exactly as Phoenix's own formatters do; ``store`` is the port both job stores implement;
``registry`` holds the use cases the API serves; ``rows`` turns a job's
``{prompt_id, variables}`` lines into prompts; ``providers`` maps a version onto a job.
"""
