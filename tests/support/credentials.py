"""The one secret of the test servers, and masking it in what a failing test shows.

The PostgreSQL role of tests/support/postgres.py logs in as `USER` with `PASSWORD`, and the
tracking URI of tests/support/mlflow_server.py carries both as user info. The password must never
appear in any output, MLflow param, tag or artifact: the tests check that, and `masked` keeps it
out of their own failure messages.
"""

USER = "nnsweep"
PASSWORD = "s3cret-pw"


def masked(text):
    """``text`` with the password replaced by ``***``."""
    return text.replace(PASSWORD, "***")
