"""Copy onnx_task.py into the templates of this folder (their embeddedFiles `data: |` blocks).

python farm/openjd/sync_embedded.py        # after editing onnx_task.py; tests/farm checks the copies
"""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
BLOCK = re.compile(
    r"(?P<head>\n(?P<indent> *)filename: onnx_task\.py\n(?P=indent)data: \|\n)(?P<body>(?:(?:(?P=indent)  .*)?\n)*)"
)


def embedded(text: str) -> list[str]:
    """Every onnx_task.py embedded in a template's text."""
    copies = []
    for match in BLOCK.finditer(text):
        cut = len(match.group("indent")) + 2
        copies.append("".join(line[cut:] + "\n" for line in match.group("body").rstrip("\n").split("\n")))
    return copies


def with_task(text: str, code: str) -> str:
    def replace(match: re.Match) -> str:
        pad = match.group("indent") + "  "
        body = "".join((pad + line if line.strip() else "") + "\n" for line in code.rstrip("\n").split("\n"))
        return match.group("head") + body

    new, count = BLOCK.subn(replace, text)
    if not count:
        raise ValueError("no embedded onnx_task.py")
    return new


def main() -> None:
    code = (HERE / "onnx_task.py").read_text()
    for template in sorted(HERE.glob("*.yaml")):
        text = template.read_text()
        new = with_task(text, code)
        if new != text:
            template.write_text(new)
            print(f"updated {template.name}")


if __name__ == "__main__":
    main()
