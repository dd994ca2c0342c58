"""Settings: bad values name the variable, and no secret is ever echoed."""

from __future__ import annotations

import pytest

from service.settings import Settings, SettingsError, load_settings, mask_url


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql+psycopg://app:s3cret-pw@db:5432/pc", "postgresql+psycopg://app:***@db:5432/pc"),
    ("postgresql+psycopg://app:p@ss/w:rd@db/pc", "postgresql+psycopg://app:***@db/pc"),  # unescaped @ / :
    ("redis://:s3cret-pw@cache:6379/0", "redis://:***@cache:6379/0"),
    ("redis://user@cache:6379/0", "redis://user@cache:6379/0"),
    ("postgresql+psycopg://app@db/pc?password=s3cret-pw&sslmode=require",
     "postgresql+psycopg://app@db/pc?password=***&sslmode=require"),
    ("sqlite:////var/lib/pricecast/pricecast.db", "sqlite:////var/lib/pricecast/pricecast.db"),
])
def test_mask_url(url, masked):
    assert mask_url(url) == masked


@pytest.mark.parametrize(("overrides", "variable"), [
    ({"database_url": "mysql://app:s3cret-pw@db/pc"}, "PRICECAST_DATABASE_URL"),
    ({"queue_url": "amqp://app:s3cret-pw@mq//"}, "PRICECAST_QUEUE_URL"),
    ({"bootstrap_key": "s3cret-pw-but-short"}, "PRICECAST_BOOTSTRAP_KEY"),
])
def test_a_bad_secret_setting_is_named_but_never_echoed(overrides, variable):
    with pytest.raises(SettingsError) as caught:
        load_settings(**overrides)
    assert variable in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_redact_masks_every_form_of_a_password():
    settings = Settings(database_url="postgresql+psycopg://app:p%40ss-w0rd@db/pc",
                        queue_url="redis://:q-s3cret@cache/0", bootstrap_key="k" * 40)
    text = settings.redact("to postgresql+psycopg://app:p%40ss-w0rd@db/pc: p@ss-w0rd p%40ss-w0rd q-s3cret " + "k" * 40)
    assert "ss-w0rd" not in text and "q-s3cret" not in text and "k" * 40 not in text
    assert "postgresql+psycopg://app:***@db/pc" in text
