"""Operating Encore: the local services people start (`make airflow`, `make docs`), progress
display for long commands, and the structured, secret-free logging every CLI shares."""
