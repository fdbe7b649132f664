from __future__ import annotations

import base64
import stat

from backend.push.vapid import application_server_key, load_or_create_vapid_key


def test_vapid_key_is_generated_private_and_reused(tmp_path):
    path = tmp_path / "data" / "vapid_private_key.pem"
    key, created = load_or_create_vapid_key(path)
    assert created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    public = base64.urlsafe_b64decode(application_server_key(key) + "==")
    assert len(public) == 65 and public[0] == 4  # an uncompressed P-256 point
    again, created_again = load_or_create_vapid_key(path)
    assert not created_again
    assert application_server_key(again) == application_server_key(key)
    replaced, forced = load_or_create_vapid_key(path, force=True)
    assert forced and application_server_key(replaced) != application_server_key(key)
