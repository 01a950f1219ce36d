"""`python -m bench` (`make bench`): how fast Encore's pipeline runs and how fast it serves.

For each scale (a target number of synthetic plays) the harness creates a database of its
own on the warehouse's server (`encore_bench_<scale>`), runs every stage of the pipeline in
a subprocess of its own (generate, load, dbt, train, score, publish), measures each one's
time, rows and peak memory, sets the loader beside a bare `COPY` and scoring beside
LightGBM's own `predict`, then measures top-20 lookups with pgbench at 1, 16 and 64 clients
beside `pgbench -S` on the same server. It prints one table and writes the same as Markdown
(docs/benchmarks.md by default). Speed goals live here, never in timed tests.
"""
