"""Report generation jobs: submit, run, cancel, recover; executed locally or by Celery.

    queued ──claim──▶ processing ──▶ completed
      │                  │  ╲────▶ failed
      └──cancel──▶ cancelled ◀──cancel

A job is claimed with a conditional update (queued → processing), so a task delivered twice
runs once. A processing job whose heartbeat stops was lost with its process: recovery puts it
back to queued (or fails it after the last attempt).
"""
