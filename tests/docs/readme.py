"""Run a Markdown file's shell blocks like a reader would, and check their documented outputs.

Every ```bash block runs, in order, in one bash session (variables carry over, as in a terminal),
from the repository root, with the venv's bin/ first on PATH (as after `source .venv/bin/activate`).
A block is left out only when the line before its fence says why:
`<!-- readme-test: skip: REASON -->`.

A block is split into commands (a line ending in `\\` or `|` continues). A comment `# => TEXT`,
at the end of a command or on the lines right after it (more lines: `#` and two or more spaces),
is that command's documented output: TEXT must appear in what it prints, where `...` stands for
anything and whitespace does not count. A command fails when it exits non-zero, prints a server
error body (`"error":{`) its expectation does not mention, or misses its expectation.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"<!--\s*readme-test:\s*skip:\s*(\S.*?)\s*-->")
TRAILING = re.compile(r"\s#\s*=>\s*(.*)$")
SERVER = "http://127.0.0.1:8000"


@dataclass
class Command:
    line: int  # 1-based line in the Markdown file
    text: str
    expect: list[str] = field(default_factory=list)
    output: str = ""
    status: int | None = None

    def problems(self) -> list[str]:
        where = f"README line {self.line}: {self.text.splitlines()[0].strip()}"
        found = []
        if self.status != 0:
            found.append(f"{where}\n  exited {self.status}:\n{indent(self.output)}")
        flat = squash(self.output)
        for want in self.expect:
            if not re.search(".*?".join(re.escape(part) for part in squash(want).split("...")), flat, re.S):
                found.append(f"{where}\n  expected: {want}\n  got:\n{indent(self.output)}")
        if '"error":{' in flat and not any("error" in w for w in self.expect):
            found.append(f"{where}\n  answered an error nobody documented:\n{indent(self.output)}")
        return found


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def indent(text: str) -> str:
    lines = text.strip().splitlines() or ["(nothing)"]
    return "\n".join("    " + ln for ln in lines[:30])


def bash_blocks(markdown: str) -> tuple[list[list[Command]], list[str]]:
    """The runnable blocks as commands, and the reasons given for the blocks left out."""
    lines = markdown.splitlines()
    blocks, skipped, i = [], [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group(1):
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        if m.group(1) in ("bash", "sh", "shell"):
            reason = SKIP.search(lines[i - 1]) if i else None
            if reason:
                skipped.append(reason.group(1))
            else:
                blocks.append(commands(lines[i + 1:end], first_line=i + 2))
        i = end + 1
    return blocks, skipped


def commands(lines: list[str], *, first_line: int) -> list[Command]:
    out: list[Command] = []
    continuing = expecting = False
    for n, line in enumerate(lines, first_line):
        stripped = line.strip()
        if continuing:
            out[-1].text += "\n" + line
        elif stripped.startswith("#"):
            m = re.match(r"#\s*=>\s*(.*)", stripped)
            if m and out:
                out[-1].expect.append(m.group(1))
                expecting = True
            elif expecting and re.match(r"#\s{2,}\S", stripped):
                out[-1].expect[-1] += " " + stripped[1:].strip()
            else:
                expecting = False
            continue
        elif not stripped:
            expecting = False
            continue
        else:
            out.append(Command(n, line))
            expecting = False
        m = TRAILING.search(line)
        if m:
            out[-1].expect.append(m.group(1))
            expecting = True
        continuing = line.rstrip().endswith(("\\", "|"))
    return out


def run(blocks: list[list[Command]], *, url: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> list[str]:
    """Run every command in one bash session; fill in outputs and statuses; return the problems."""
    todo = [c for block in blocks for c in block]
    script = ["exec 2>&1", "set -o pipefail"]
    for i, c in enumerate(todo):
        script += [f"printf '\\n@@begin {i}\\n'", c.text.replace(SERVER, url), f"printf '\\n@@end {i} %s\\n' $?"]
    result = subprocess.run(["bash", "--noprofile", "--norc"], input="\n".join(script) + "\n", capture_output=True,
                            text=True, cwd=cwd, env=env, timeout=timeout)
    for m in re.finditer(r"@@begin (\d+)\n(.*?)\n@@end \1 (\d+)\n", result.stdout, re.S):
        c = todo[int(m.group(1))]
        c.output, c.status = m.group(2), int(m.group(3))
    return [p for c in todo for p in c.problems()]
