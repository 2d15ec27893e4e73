"""Building blocks of the ETL DAG files beside this package (``hybrid_sites.py`` and
``hybrid_sites_problems.py``): reading the sites manifest and building one site's DAGs.

Not a DAG file itself (``.airflowignore`` lists it). Airflow puts the DAG folder on
``sys.path``, which is how the DAG files import it, on MWAA as anywhere else.
"""
