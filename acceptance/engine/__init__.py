"""The engine: judges one delivery against an acceptance spec and writes the signed report.

Spec, sources and checkout, dependency planning and prepared environments, the pipeline
that runs the checks in the sandbox, the report and its signature. It knows nothing of
users, the database or the web: the service (``acceptance.service``) calls it.
"""
