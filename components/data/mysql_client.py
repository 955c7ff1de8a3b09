"""How MySQL clients in the stack log in: an option file in the server's Secret, mounted as a file.

The server component writes it (root's credentials) and mounts it for its probes; the backup
job mounts only this key. Credentials never reach a command line or an environment variable.
"""

from __future__ import annotations

CLIENT_CONFIG_DIR = "/etc/mysql/secrets"
CLIENT_CONFIG_KEY = "client.cnf"
CLIENT_CONFIG = f"{CLIENT_CONFIG_DIR}/{CLIENT_CONFIG_KEY}"


def client_option_file(password: str, user: str = "root") -> str:
    """A MySQL client option file: clients read credentials from it instead of their argv."""
    escaped = password.replace("\\", "\\\\").replace('"', '\\"')
    return f'[client]\nuser = {user}\npassword = "{escaped}"\n'
