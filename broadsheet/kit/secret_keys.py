"""What a production deployment's secret keys must be.

The secret key encrypts stored credentials and signs links and CSRF tokens: anyone who knows it
can read the one and forge the other. Development makes one on first start (kept in data_dir);
production must be given its own, long enough and not one printed in a document or a sample.
"""

from __future__ import annotations

MIN_LENGTH = 32
# Values found in samples, tutorials and this project's own tests and benchmarks: whoever has
# read them knows the key. Compared case-insensitively.
KNOWN_EXAMPLES = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "secret-key",
        "secret_key",
        "secretkey",
        "mysecret",
        "your-secret-key",
        "your_secret_key",
        "replace-me",
        "password",
        "broadsheet",
        "bench",
        "test-secret-key-for-broadsheet",
    }
)


def problem(key: str) -> str | None:
    """Why ``key`` may not protect a production deployment, or None."""
    if key.strip().lower() in KNOWN_EXAMPLES:
        return "is a well-known example value; generate one, e.g. openssl rand -base64 48"
    if len(key) < MIN_LENGTH:
        return f"is {len(key)} characters long; use at least {MIN_LENGTH} random characters"
    if len(set(key)) < 8:
        return "repeats a few characters; use random ones, e.g. openssl rand -base64 48"
    return None


def check_production(secret_key: str, secret_keys: str) -> None:
    """Raise ValueError naming the setting unless every configured key is fit for production
    (an older key still opens what it signed, so a weak one is as bad as a weak newest)."""
    if secret_keys.split():
        for position, key in enumerate(secret_keys.split(), start=1):
            trouble = problem(key)
            if trouble:
                raise ValueError(
                    f"BROADSHEET_SECRET_KEYS: key {position} {trouble} (BROADSHEET_ENV=production)"
                )
        return
    if not secret_key:
        raise ValueError(
            "BROADSHEET_SECRET_KEY must be set when BROADSHEET_ENV=production "
            f"(at least {MIN_LENGTH} random characters, shared by every process), "
            "e.g. openssl rand -base64 48"
        )
    trouble = problem(secret_key)
    if trouble:
        raise ValueError(f"BROADSHEET_SECRET_KEY {trouble} (BROADSHEET_ENV=production)")
