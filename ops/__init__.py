"""Operating Encore on a workstation: the local services people start (`make airflow`,
`make docs`, `make stop`) and the Airflow executor they run. The top layer, beside `dags`
and `api`: nothing imports it."""
