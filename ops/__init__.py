"""Operating Encore on a workstation: the local services people start (`make airflow`,
`make docs`, `make stop`), the Airflow executor they run and the transform tasks'
`pre_execute` hook (dbt_tasks). The top layer, beside `dags` and `api`: only the DAG
files import it."""
