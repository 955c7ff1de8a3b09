"""Print the README's config reference table from the config model (the source of truth).

python -m offline.config_reference
"""

from __future__ import annotations

from components.config import PROJECT, describe_keys


def table() -> str:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, type_name, default, description in describe_keys():
        lines.append(f"| `{key}` | {type_name} | `{default}` | {description} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(f"All keys live under `{PROJECT}:`; dotted paths are fields of the structured keys.\n")
    print(table())
