"""Nightly sync from a tenant's previous platform (SPEC 4.2), over the API clients of
`pipelines/platforms/<name>/api.py` (their interface: `pipelines.platforms.client`):

- `config`: tenant sources from a TOML file (tenant, platform, name, credentials reference, options);
- `run`: plan (read watermarks), pull (no store access), load (the one ingest path, which writes
  the new watermark in the load transaction), and `sync_source`/`sync_tenant` doing all three;
- `state`: where each source stands (watermark, last run, last error): `suppress sources`, the
  trends report.
"""
