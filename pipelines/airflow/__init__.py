"""Everything the DAG files in `dags/` call.

- `common`: what the three DAGs share (the asset the loads publish, the writer pool, the start
  date, default args) and the failure policy: a refusal fails a task at once, an outage retries.
- `resources`: what a task gets from Airflow: its `Settings`, built once per task, with the store
  from the Airflow connection `suppression_store` (else `$SUPPRESSION_STORE`, never a default
  file) and `airflow:` credentials from Airflow connections.
- `migration`, `nightly_sync`, `quality_report`: one module of plain functions per DAG, each
  task one call, testable without a scheduler.

Airflow itself is imported only in this package and in `dags/`, and at module level only by
`common`; heavy libraries only inside the functions that need them, so parsing stays fast.
"""
