"""The Questura reviewers' web app: triage queue, evidence beside every value, decisions, audit.

`web.app.create_app` builds the FastAPI application (server-rendered pages + `/api`);
`plico serve` runs it under uvicorn, `plico users add` creates accounts (web/cli.py).
"""
