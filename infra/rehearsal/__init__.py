"""The deploy rehearsal, offline: ``python -m infra.rehearsal`` (``bash scripts/rehearse.sh``) synthesises the
app with the default context, as ``cdk deploy`` would, and checks what would be deployed (run.py, checks.py)."""
