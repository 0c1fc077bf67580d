import pytest

from nnsweep.study.redact import redact_text, redact_url


@pytest.mark.parametrize(
    "url, expected",
    [
        # user info: the password goes, the user name stays
        ("http://user:s3cret@host:5000", "http://user:***@host:5000"),
        ("https://u:p@mlflow.example.com/path?x=1", "https://u:***@mlflow.example.com/path?x=1"),
        ("postgresql://optuna:pw@db:5432/optuna", "postgresql://optuna:***@db:5432/optuna"),
        ("postgresql+psycopg2://a:b@h/db", "postgresql+psycopg2://a:***@h/db"),
        (
            "mysql+pymysql://root:r00t@localhost/optuna",
            "mysql+pymysql://root:***@localhost/optuna",
        ),
        ("redis://:onlypassword@cache:6379/0", "redis://:***@cache:6379/0"),
        ("http://u:p%40ss@h/", "http://u:***@h/"),  # percent-encoded "@" in the password
        ("http://u:p@ss@h/", "http://u:***@h/"),  # raw "@" in the password
        ("https://ghp_0123456789abcdefghijKLMN@github.com/x", "https://***@github.com/x"),
        # token-like query parameters
        ("https://h/api?token=abc&x=1", "https://h/api?token=***&x=1"),
        (
            "https://h/?api_key=k1&password=p&secret=s",
            "https://h/?api_key=***&password=***&secret=***",
        ),
        (
            "postgresql://h/db?sslmode=require&sslpassword=x",
            "postgresql://h/db?sslmode=require&sslpassword=***",
        ),
        (
            "s3://bucket/k?X-Amz-Signature=abc&X-Amz-Date=1",
            "s3://bucket/k?X-Amz-Signature=***&X-Amz-Date=1",
        ),
        ("https://h/?access_token=t#frag", "https://h/?access_token=***#frag"),
        # nothing to hide: unchanged, byte for byte
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://user@host:5000", "http://user@host:5000"),
        ("sqlite:///mlruns/mlflow.db", "sqlite:///mlruns/mlflow.db"),
        ("sqlite:////abs/path/mlflow.db", "sqlite:////abs/path/mlflow.db"),
        ("file:///tmp/mlruns", "file:///tmp/mlruns"),
        ("mlruns/optuna/quick.log", "mlruns/optuna/quick.log"),
        ("https://h/?tokens_per_page=10&monkey=1", "https://h/?tokens_per_page=10&monkey=1"),
        ("databricks", "databricks"),
        ("", ""),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_redact_url_never_leaks_the_password():
    for url in ["http://me:hunter2@h", "postgresql://me:hunter2@h/db", "x://me:hunter2@[::1]:1/"]:
        assert "hunter2" not in redact_url(url)


def test_redact_text_masks_every_url_in_a_message():
    text = (
        'tracking uri = "http://me:pw1@host:5000"\n'
        "storage: postgresql://o:pw2@db/optuna failed (see https://docs/x?token=pw3)."
    )
    out = redact_text(text)
    assert not any(secret in out for secret in ("pw1", "pw2", "pw3"))
    assert '"http://me:***@host:5000"' in out and "postgresql://o:***@db/optuna" in out
    assert redact_text("no url here: a:b@c") == "no url here: a:b@c"
